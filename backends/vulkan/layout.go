//go:build cgo && vulkan

package vulkan

import (
	"fmt"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"

	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
)

// layout creates the buffers and assigns each node its output range.
func (p *Plan) layout() error {
	g, batch := p.g, uint64(p.batch)
	align := max(p.dev.limits.storageAlign, p.dev.limits.texelAlign, 16)
	p.in = g.Spec.Input
	var actSize, readSize uint64
	p.stages = make([]stage, len(g.Nodes))
	for i := range g.Nodes {
		n := &g.Nodes[i]
		s := &p.stages[i]
		s.node, s.gpu, s.conv = n, *n, n.Op == quant.OpConv
		if i == 0 && hostIm2col(n) {
			// A k×k conv on a few input channels does one word of work per kernel tap, so
			// its per-tap cost dominates; as a 1×1 conv over im2col rows it runs like the
			// others, and the host, which copies the input anyway, lays the rows out.
			p.im2col = true
			p.in = nin.Shape{H: n.Out.H, W: n.Out.W, C: n.K()}
			s.gpu.In, s.gpu.Kernel, s.gpu.Stride, s.gpu.Pad = p.in, 1, 1, 0
		}
		if n.Op == quant.OpGlobalAvg {
			s.groups = [2]uint32{uint32(ceilDiv(words(n.In.C), groupSize)), 1}
			continue
		}
		s.outWords = words(n.Out.C)
		pixels := n.Out.H * n.Out.W
		img := uint64(pixels * s.outWords * 4)
		s.outOff, s.outSize = actSize, batch*img
		s.readOff = readSize
		actSize = alignUp(actSize+s.outSize, align)
		readSize += img
		if s.outSize > uint64(p.dev.limits.maxStorageRange) {
			return fmt.Errorf("node %s: %d bytes of activations for a batch of %d exceed the device's storage buffer range (%d)",
				n.Name, s.outSize, batch, p.dev.limits.maxStorageRange)
		}
		if s.conv {
			s.groups = [2]uint32{uint32(ceilDiv(pixels, groupSize*convPixels)), uint32(ceilDiv(s.outWords, convWords))}
		} else {
			s.groups = [2]uint32{uint32(ceilDiv(pixels*s.outWords, groupSize)), 1}
		}
		if s.groups[0] > p.dev.limits.maxGroupsX || s.groups[1] > p.dev.limits.maxGroupsYZ {
			return fmt.Errorf("node %s needs %v workgroups, more than the device allows", n.Name, s.groups)
		}
	}
	p.inWords = words(p.in.C)
	var err error
	if p.input, err = p.newBuffer(batch*uint64(p.in.H*p.in.W*p.inWords*4), vk.BufferUsageUniformTexelBufferBit, true); err != nil {
		return err
	}
	if p.acts, err = p.newBuffer(actSize, vk.BufferUsageStorageBufferBit|vk.BufferUsageUniformTexelBufferBit|vk.BufferUsageTransferSrcBit, false); err != nil {
		return err
	}
	if p.output, err = p.newBuffer(batch*uint64(len(g.Classes))*4, vk.BufferUsageStorageBufferBit, true); err != nil {
		return err
	}
	if p.indirect, err = p.newBuffer(uint64(len(g.Nodes))*12, vk.BufferUsageIndirectBufferBit, true); err != nil {
		return err
	}
	if p.readback, err = p.newBuffer(readSize, vk.BufferUsageTransferDstBit, true); err != nil {
		return err
	}
	args := unsafe.Slice((*uint32)(p.indirect.host), 3*len(g.Nodes))
	for i, s := range p.stages {
		args[3*i], args[3*i+1], args[3*i+2] = s.groups[0], s.groups[1], 1
	}
	p.lastN = 1
	return nil
}

// hostIm2col says whether the first node is a k×k conv whose input pixels fit one word.
func hostIm2col(n *quant.Node) bool {
	return n.Op == quant.OpConv && n.Kernel > 1 && words(n.In.C) == 1
}

func words(channels int) int { return (channels + 3) / 4 }

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func alignUp(v, a uint64) uint64 { return (v + a - 1) / a * a }
