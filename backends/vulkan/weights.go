//go:build cgo && vulkan

package vulkan

import (
	"encoding/binary"

	vk "github.com/vulkan-go/vulkan"

	"github.com/ninedge/ninedge/quant"
)

// packWeights lays out a conv node's weights as the conv shader reads them (see conv.comp):
// output channels in groups of convWords words, each kernel word (ky, kx, 4 input channels)
// holding one int8 per byte, zeros in the channel padding; then per padded output channel
// its bias, multiplier and shift (0, 0, 1 in the padding, which requantizes to 0).
func packWeights(n *quant.Node) (wts, params []byte) {
	icw, ocw := words(n.In.C), words(n.Out.C)
	groups := ceilDiv(ocw, convWords)
	kw := n.Kernel * n.Kernel * icw
	nc := n.Out.C
	wts = make([]byte, groups*kw*convWords*4*4)
	for g := 0; g < groups; g++ {
		for k := 0; k < kw; k++ {
			tap, cw := k/icw, k%icw
			for j := 0; j < convWords*4; j++ {
				o := g*convWords*4 + j
				if o >= nc {
					continue
				}
				at := ((g*kw+k)*convWords*4 + j) * 4
				for b := 0; b < 4; b++ {
					if c := cw*4 + b; c < n.In.C {
						wts[at+b] = byte(n.Weights[(tap*n.In.C+c)*nc+o])
					}
				}
			}
		}
	}
	params = make([]byte, groups*convWords*4*16)
	for o := 0; o < groups*convWords*4; o++ {
		bias, m, s := int32(0), int32(0), int32(1)
		if o < nc {
			bias, m, s = n.Bias[o], n.Mult[o], n.Shift[o]
		}
		binary.LittleEndian.PutUint32(params[16*o:], uint32(bias))
		binary.LittleEndian.PutUint32(params[16*o+4:], uint32(m))
		binary.LittleEndian.PutUint32(params[16*o+8:], uint32(s))
	}
	return wts, params
}

// weightRanges are where each conv node's weights and parameters sit in the weight buffer.
type weightRanges struct{ wOff, wSize, pOff, pSize uint64 }

// uploadWeights packs every conv node's weights into one device-local buffer through a
// staging buffer, once, and records each node's ranges for its descriptor set.
func (p *Plan) uploadWeights() error {
	align := max(p.dev.limits.storageAlign, p.dev.limits.texelAlign, 16)
	var blobs [][]byte
	ranges := make([]weightRanges, len(p.stages))
	var size uint64
	for i := range p.stages {
		if !p.stages[i].conv {
			continue
		}
		w, prm := packWeights(&p.stages[i].gpu)
		r := &ranges[i]
		r.wOff, r.wSize = size, uint64(len(w))
		size = alignUp(size+r.wSize, align)
		r.pOff, r.pSize = size, uint64(len(prm))
		size = alignUp(size+r.pSize, align)
		blobs = append(blobs, w, prm)
	}
	p.weightRanges = ranges
	if size == 0 {
		return nil
	}
	wb, err := p.newBuffer(size, vk.BufferUsageStorageBufferBit|vk.BufferUsageUniformTexelBufferBit|vk.BufferUsageTransferDstBit, false)
	if err != nil {
		return err
	}
	p.weights = wb
	staging, err := p.newBuffer(size, vk.BufferUsageTransferSrcBit, true)
	if err != nil {
		return err
	}
	dst := staging.bytes()
	k := 0
	for i := range p.stages {
		if p.stages[i].conv {
			copy(dst[ranges[i].wOff:], blobs[k])
			copy(dst[ranges[i].pOff:], blobs[k+1])
			k += 2
		}
	}
	cb, err := p.commandBuffer()
	if err != nil {
		return err
	}
	if err := begin(cb); err != nil {
		return err
	}
	vk.CmdCopyBuffer(cb, staging.handle, wb.handle, 1, []vk.BufferCopy{{Size: vk.DeviceSize(size)}})
	barrier(cb, vk.PipelineStageTransferBit, vk.PipelineStageComputeShaderBit, vk.AccessTransferWriteBit, vk.AccessShaderReadBit)
	if res := vk.EndCommandBuffer(cb); res != vk.Success {
		return vkErr("vkEndCommandBuffer", res)
	}
	p.runner.setCommands(cb)
	if err := p.submit(1, waitLimit(0)); err != nil {
		return err // the copy may still run: Close frees the staging buffer, if it can
	}
	vk.FreeCommandBuffers(p.device, p.cmdPool, 1, []vk.CommandBuffer{cb})
	p.destroyBuffer(staging)
	return nil
}
