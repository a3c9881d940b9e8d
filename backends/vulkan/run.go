//go:build cgo && vulkan

package vulkan

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/quant"
)

// Run implements backends.Plan: the input goes into the mapped input buffer as the first node
// reads it, the recorded command buffer runs once, and the sums come back from the mapped
// output buffer. Nothing is allocated.
func (p *Plan) Run(in []uint8, n int, sums []int32) error {
	if err := p.check(in, n, sums); err != nil {
		return err
	}
	p.load(in, n)
	if err := p.submit(1, waitLimit(n)); err != nil {
		return err
	}
	k := n * len(p.g.Classes)
	copy(sums[:k], unsafe.Slice((*int32)(p.output.host), k))
	return nil
}

func (p *Plan) check(in []uint8, n int, sums []int32) error {
	switch {
	case p.closed:
		return fmt.Errorf("vulkan: %w", backends.ErrClosed)
	case p.broken != nil:
		return fmt.Errorf("vulkan: plan unusable after an earlier failure: %w", p.broken)
	}
	if err := backends.CheckRun(p.g, p.batch, in, n, sums); err != nil {
		return fmt.Errorf("vulkan: %w", err)
	}
	return nil
}

// load writes n images into the input buffer, as the first node reads them, and the batch
// size into the dispatch sizes.
func (p *Plan) load(in []uint8, n int) {
	dst := p.input.bytes()
	in = in[:n*p.g.Spec.Input.Size()]
	c, stride := p.g.Spec.Input.C, 4*p.inWords
	switch {
	case p.im2col:
		im2col(&p.g.Nodes[0], in, n, dst, stride)
	case stride == c:
		copy(dst, in)
	default:
		// The padding bytes are never written: a conv multiplies them by zero weights, and
		// pools and sums pass them to channels nothing reads.
		for i := 0; i < len(in)/c; i++ {
			copy(dst[i*stride:i*stride+c], in[i*c:(i+1)*c])
		}
	}
	if uint32(n) != p.lastN {
		args := unsafe.Slice((*uint32)(p.indirect.host), 3*len(p.stages))
		for i := range p.stages {
			args[3*i+2] = uint32(n)
		}
		p.lastN = uint32(n)
	}
}

// im2col writes each output pixel's receptive field of conv node nd (HWC order, as its
// weight rows) into a row of stride bytes, with the input's zero point where the window
// leaves the image. A window row is contiguous in the input, so each takes one copy.
func im2col(nd *quant.Node, in []uint8, n int, dst []uint8, stride int) {
	src, out, k, c := nd.In, nd.Out, nd.Kernel, nd.In.C
	row := 0
	for img := 0; img < n; img++ {
		x := in[img*src.Size() : (img+1)*src.Size()]
		for oy := 0; oy < out.H; oy++ {
			for ox := 0; ox < out.W; ox++ {
				d := dst[row*stride : row*stride+k*k*c]
				row++
				x0 := ox*nd.Stride - nd.Pad
				lo, hi := max(0, -x0), min(k, src.W-x0) // taps inside the image
				for ky := 0; ky < k; ky++ {
					seg := d[ky*k*c : (ky+1)*k*c]
					iy := oy*nd.Stride - nd.Pad + ky
					if iy < 0 || iy >= src.H || hi <= lo {
						fill(seg, nd.PadValue)
						continue
					}
					fill(seg[:lo*c], nd.PadValue)
					copy(seg[lo*c:hi*c], x[(iy*src.W+x0+lo)*c:])
					fill(seg[hi*c:], nd.PadValue)
				}
			}
		}
	}
}

func fill(b []uint8, v uint8) {
	for i := range b {
		b[i] = v
	}
}

// waitLimit is how long a batch of n images may take before the device counts as hung:
// generous, since a Raspberry Pi's GPU may take a second per image.
func waitLimit(n int) uint64 { return uint64(time.Minute + time.Duration(n)*10*time.Second) }

// submit runs the first count of the runner's command buffers and waits for them. A
// timeout or a lost device leaves work in flight that nothing can reclaim, so the plan
// refuses to run again.
func (p *Plan) submit(count int, timeout uint64) error {
	res, call := p.runner.run(count, timeout)
	if res == vk.Success {
		return nil
	}
	err := vkErr(call, res)
	if res == vk.Timeout {
		err = fmt.Errorf("the device did not finish within %v: %w", time.Duration(timeout), err)
		p.timedOut = true
	}
	p.broken = err
	return fmt.Errorf("vulkan: %w", err)
}

// Trace implements backends.Plan: one image, then every node's output read back.
func (p *Plan) Trace(in []uint8, acts [][]uint8, sums []int32) error {
	if err := p.check(in, 1, sums); err != nil {
		return err
	}
	if err := backends.CheckTraceBuffers(p.g, acts); err != nil {
		return fmt.Errorf("vulkan: %w", err)
	}
	p.load(in, 1)
	if err := p.submit(2, waitLimit(1)); err != nil {
		return err
	}
	copy(sums[:len(p.g.Classes)], unsafe.Slice((*int32)(p.output.host), len(p.g.Classes)))
	rb := p.readback.bytes()
	for i, s := range p.stages {
		n := s.node
		if n.Op == quant.OpGlobalAvg {
			continue
		}
		c, stride := n.Out.C, 4*s.outWords
		src := rb[s.readOff:]
		for px := 0; px < n.Out.H*n.Out.W; px++ {
			copy(acts[i][px*c:(px+1)*c], src[px*stride:px*stride+c])
		}
	}
	return nil
}

// Profile implements backends.Profiler with the timestamps written after every node.
func (p *Plan) Profile(in []uint8, n int, sums []int32, perNode []time.Duration) error {
	if p.queries == vk.NullQueryPool {
		return errors.New("vulkan: the device's compute queue has no timestamp queries")
	}
	if err := backends.CheckTimings(p.g, perNode); err != nil {
		return fmt.Errorf("vulkan: %w", err)
	}
	if err := p.Run(in, n, sums); err != nil {
		return err
	}
	res := vk.GetQueryPoolResults(p.device, p.queries, 0, uint32(len(p.stamps)), uint(8*len(p.stamps)),
		unsafe.Pointer(&p.stamps[0]), 8, vk.QueryResultFlags(vk.QueryResult64Bit|vk.QueryResultWaitBit))
	if res != vk.Success {
		return fmt.Errorf("vulkan: %w", vkErr("vkGetQueryPoolResults", res))
	}
	period := float64(p.dev.limits.timestampPeriod)
	for i := range p.stages {
		ticks := (p.stamps[i+1] - p.stamps[i]) & p.tsMask
		perNode[i] += time.Duration(float64(ticks) * period)
	}
	return nil
}
