//go:build cgo && opencl

package opencl

import (
	_ "embed"
	"encoding/binary"
	"fmt"
	"math"
	"time"
	"unsafe"

	"github.com/jgillich/go-opencl/cl"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/quant"
)

//go:embed kernels.cl
var kernelSource string

// Tiling of the convolution kernels (kernels.cl explains the layout): each work-item
// computes tilePixels pixels × tileChannels output channels, and a work-group is at least
// groupPixels such work-items along the pixels of one channel group, so that a group's
// weights stay in cache while its pixels stream by.
const (
	tileChannels = 16
	tilePixels   = 4
	groupPixels  = 8
	// groupFlat is the work-group size of the other kernels (pools, im2col, global sum).
	groupFlat = 64
)

// runtime is a context, an in-order queue and the built program on one device.
type runtime struct {
	ctx   *cl.Context
	queue *cl.CommandQueue
	prog  *cl.Program
}

func (d *Device) open(options string) (*runtime, error) {
	ctx, err := cl.CreateContext([]*cl.Device{d.dev})
	if err != nil {
		return nil, fmt.Errorf("creating a context: %w", err)
	}
	r := &runtime{ctx: ctx}
	if r.queue, err = ctx.CreateCommandQueue(d.dev, 0); err != nil {
		r.release()
		return nil, fmt.Errorf("creating a command queue: %w", err)
	}
	if r.prog, err = ctx.CreateProgramWithSource([]string{kernelSource}); err != nil {
		r.release()
		return nil, fmt.Errorf("creating the program: %w", err)
	}
	opts := fmt.Sprintf("-cl-std=CL1.2 -DCW=%d -DTP=%d %s", tileChannels, tilePixels, options)
	if err := r.prog.BuildProgram([]*cl.Device{d.dev}, opts); err != nil {
		r.release()
		return nil, fmt.Errorf("building the kernels: %w", err)
	}
	return r, nil
}

func (r *runtime) release() {
	if r.prog != nil {
		r.prog.Release()
	}
	if r.queue != nil {
		r.queue.Release()
	}
	r.ctx.Release()
}

// Plan is a graph prepared on one OpenCL device.
type Plan struct {
	g      *quant.Graph
	batch  int
	rt     *runtime
	input  *cl.MemObject
	steps  []step // one per node
	sums   *cl.MemObject
	bufs   []*cl.MemObject // every buffer, for Close
	closed bool
}

// step is one node: its output buffer (the sums for the global pool) and the kernels that
// compute it, in order.
type step struct {
	out      *cl.MemObject
	launches []launch
}

// launch is one kernel with its arguments already set. A run of n images enqueues
// ceil(n·perImage / perItem) work-items along dimension 0, rounded up to whole work-groups;
// global[1], where present, is fixed.
type launch struct {
	kernel            *cl.Kernel
	perImage, perItem int
	global, local     []int
}

// fewChannels is the input depth below which a k×k convolution goes through im2col: its
// per-position runs of channels are too short for the direct kernel's paired loads.
const fewChannels = 8

func (d *Device) Prepare(g *quant.Graph, batch int) (backends.Plan, error) {
	return d.prepare(g, batch, "")
}

// prepare is Prepare with extra kernel build options (the tests force the portable code).
func (d *Device) prepare(g *quant.Graph, batch int, options string) (backends.Plan, error) {
	if err := backends.CheckPrepare(g, batch); err != nil {
		return nil, fmt.Errorf("opencl: %w", err)
	}
	for i := range g.Nodes {
		if n := &g.Nodes[i]; n.Op == quant.OpConv && n.Float {
			return nil, fmt.Errorf("opencl: %w", backends.Unsupported(n.Name, "layer %s is kept in float; use the cpu backend"))
		}
	}
	if err := checkIndexes(g, batch); err != nil {
		return nil, fmt.Errorf("opencl: %w", err)
	}
	if !d.little {
		// Weights and parameters are uploaded little-endian, and the kernels widen pairs of
		// bytes into 16-bit halves of a word in that order.
		return nil, fmt.Errorf("opencl: %s is a big-endian device, which the kernels do not support", d.info.Name)
	}
	rt, err := d.open(options)
	if err != nil {
		return nil, fmt.Errorf("opencl: %s: %w", d.info.Name, err)
	}
	p := &Plan{g: g, batch: batch, rt: rt, steps: make([]step, len(g.Nodes))}
	if err := p.prepareNodes(d); err != nil {
		p.Close()
		return nil, fmt.Errorf("opencl: %s: %w", d.info.Name, err)
	}
	// One run now: some failures (work-group sizes, resources, memory a driver allocates
	// lazily) only show when kernels are enqueued, and here they still let the caller fall
	// back to the CPU instead of failing the first frame.
	if err := p.Run(make([]uint8, batch*g.Spec.Input.Size()), batch, make([]int32, batch*len(g.Classes))); err != nil {
		p.Close()
		return nil, fmt.Errorf("opencl: %s: trial run: %w", d.info.Name, err)
	}
	return p, nil
}

// checkIndexes refuses a graph and batch whose buffers or work counts exceed the kernels'
// 32-bit int indexes, which would wrap and compute garbage instead of failing.
func checkIndexes(g *quant.Graph, batch int) error {
	b := int64(batch)
	largest := b * int64(g.Spec.Input.Size())
	for i := range g.Nodes {
		n := &g.Nodes[i]
		sizes := []int64{int64(n.In.Size()), int64(n.Out.Size())}
		if n.Op == quant.OpConv {
			sizes = append(sizes, int64(n.Out.H*n.Out.W)*int64(n.K())) // im2col
		}
		for _, s := range sizes {
			largest = max(largest, b*s)
		}
	}
	if largest > math.MaxInt32 {
		return fmt.Errorf("batch %d needs %d-element buffers, past the kernels' 32-bit indexes: prepare a smaller batch", batch, largest)
	}
	return nil
}

func (p *Plan) prepareNodes(d *Device) error {
	var err error
	if p.input, err = p.buffer(cl.MemReadOnly, p.batch*p.g.Spec.Input.Size(), nil); err != nil {
		return fmt.Errorf("input buffer: %w", err)
	}
	in := p.input
	for i := range p.g.Nodes {
		n := &p.g.Nodes[i]
		if err := p.prepareNode(d, &p.steps[i], n, in); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		in = p.steps[i].out
	}
	return nil
}

func (p *Plan) prepareNode(d *Device, s *step, n *quant.Node, in *cl.MemObject) error {
	var err error
	switch n.Op {
	case quant.OpGlobalAvg:
		if s.out, err = p.buffer(cl.MemReadWrite, p.batch*4*n.Out.C, nil); err != nil {
			return fmt.Errorf("output buffer: %w", err)
		}
		p.sums = s.out
		return p.add(d, s, "globalsum", n.In.C, 1, nil,
			in, s.out, int32(n.In.H*n.In.W), int32(n.In.C), int32(p.batch*n.In.C))
	case quant.OpMaxPool, quant.OpAvgPool:
		if s.out, err = p.buffer(cl.MemReadWrite, p.batch*n.Out.Size(), nil); err != nil {
			return fmt.Errorf("output buffer: %w", err)
		}
		runs := ceilDiv(n.Out.C, 16) // the kernel's work-items take runs of 16 channels
		return p.add(d, s, "pool", n.Out.H*n.Out.W*runs, 1, nil,
			in, s.out, int32(n.In.H), int32(n.In.W), int32(n.In.C), int32(n.Out.H), int32(n.Out.W),
			int32(n.Kernel), int32(n.Stride), b2i(n.Op == quant.OpAvgPool), int32(p.batch*n.Out.H*n.Out.W*runs))
	}
	if s.out, err = p.buffer(cl.MemReadWrite, p.batch*n.Out.Size(), nil); err != nil {
		return fmt.Errorf("output buffer: %w", err)
	}
	return p.prepareConv(d, s, n, in)
}

// prepareConv uploads a convolution's packed weights and requantization parameters and adds
// its kernels: conv1x1 for pointwise ones, conv for k×k ones over enough channels, and
// im2col then conv1x1 over the receptive fields for the others.
func (p *Plan) prepareConv(d *Device, s *step, n *quant.Node, in *cl.MemObject) error {
	pointwise := n.Kernel == 1 && n.Stride == 1 && n.Pad == 0
	direct := !pointwise && n.In.C >= fewChannels
	segments, depth := 1, n.K() // how packWeights sees the weights
	if direct {
		segments, depth = n.Kernel*n.Kernel, n.In.C
	}
	w, err := p.buffer(cl.MemReadOnly, 0, packWeights(n.Weights, segments, depth, n.Out.C))
	if err != nil {
		return fmt.Errorf("weights: %w", err)
	}
	// The padding channels get bias 0, multiplier 0 and shift 1, which requantize to 0 (their
	// outputs are never stored).
	groups := ceilDiv(n.Out.C, tileChannels)
	var params [3]*cl.MemObject
	for j, v := range [][]int32{n.Bias, n.Mult, n.Shift} {
		if params[j], err = p.buffer(cl.MemReadOnly, 0, padInt32(v, groups*tileChannels, int32(j/2))); err != nil {
			return fmt.Errorf("requantization parameters: %w", err)
		}
	}
	pixels := n.Out.H * n.Out.W
	total := int32(p.batch * pixels)
	tiles := []int{0, groups}
	switch {
	case direct:
		// What padding reads: the input's zero point, one value per input channel.
		padRow := make([]byte, n.In.C)
		for j := range padRow {
			padRow[j] = n.PadValue
		}
		pad, err := p.buffer(cl.MemReadOnly, 0, padRow)
		if err != nil {
			return fmt.Errorf("padding row: %w", err)
		}
		return p.add(d, s, "conv", pixels, tilePixels, tiles,
			in, w, params[0], params[1], params[2], s.out, pad,
			int32(n.In.H), int32(n.In.W), int32(n.In.C), int32(n.Out.H), int32(n.Out.W), int32(n.Out.C),
			int32(n.Kernel), int32(n.Stride), int32(n.Pad), total)
	case !pointwise:
		col, err := p.buffer(cl.MemReadWrite, p.batch*pixels*n.K(), nil)
		if err != nil {
			return fmt.Errorf("im2col buffer: %w", err)
		}
		if err := p.add(d, s, "im2col", pixels*n.Kernel, 1, nil,
			in, col, int32(n.In.H), int32(n.In.W), int32(n.In.C), int32(n.Out.H), int32(n.Out.W),
			int32(n.Kernel), int32(n.Stride), int32(n.Pad), n.PadValue, total); err != nil {
			return err
		}
		in = col
	}
	return p.add(d, s, "conv1x1", pixels, tilePixels, tiles,
		in, w, params[0], params[1], params[2], s.out, int32(depth), int32(n.Out.C), total)
}

// add appends a launch of the named kernel with its arguments to the step. tiles, when
// given, is a two-dimensional range: dimension 0 (sized per run) and a fixed dimension 1.
func (p *Plan) add(d *Device, s *step, name string, perImage, perItem int, tiles []int, args ...any) error {
	k, err := p.rt.prog.CreateKernel(name)
	if err != nil {
		return fmt.Errorf("kernel %s: %w", name, err)
	}
	s.launches = append(s.launches, launch{kernel: k, perImage: perImage, perItem: perItem, global: []int{0}, local: []int{groupFlat}})
	l := &s.launches[len(s.launches)-1]
	if err := k.SetArgs(args...); err != nil {
		return fmt.Errorf("kernel %s arguments: %w", name, err)
	}
	if tiles != nil {
		// A GPU runs a work-group in warps of its preferred multiple (32 or 64 lanes): fewer
		// work-items than that would leave lanes idle. PoCL on a CPU prefers 8.
		simd, err := k.PreferredWorkGroupSizeMultiple(d.dev)
		if err != nil {
			return fmt.Errorf("kernel %s preferred work-group multiple: %w", name, err)
		}
		l.global, l.local = tiles, []int{max(groupPixels, simd), 1}
	}
	// A device may allow fewer work-items per group than asked (small GPUs, heavy kernels).
	most, err := k.WorkGroupSize(d.dev)
	if err != nil {
		return fmt.Errorf("kernel %s work-group size: %w", name, err)
	}
	l.local[0] = max(1, min(l.local[0], most))
	return nil
}

// packWeights reorders a conv's K×N row-major weights (K = segments × c: one segment of c
// input channels per kernel position) for kernels.cl: per group of tileChannels output
// channels, a run of pair-steps, each holding two consecutive input channels of one segment
// (the second zero past an odd c) for tileChannels channels (zero past n), interleaved in
// chunks of 8 channels: byte 16·chunk + 2·lane + half.
func packWeights(w []int8, segments, c, n int) []byte {
	groups, steps := ceilDiv(n, tileChannels), segments*ceilDiv(c, 2)
	out := make([]byte, groups*steps*2*tileChannels)
	for g := 0; g < groups; g++ {
		for s := 0; s < steps; s++ {
			seg, ch := s/ceilDiv(c, 2), 2*(s%ceilDiv(c, 2))
			block := out[(g*steps+s)*2*tileChannels:]
			for half := 0; half < 2 && ch+half < c; half++ {
				row := w[(seg*c+ch+half)*n:]
				for j := 0; j < tileChannels && g*tileChannels+j < n; j++ {
					block[16*(j/8)+2*(j%8)+half] = byte(row[g*tileChannels+j])
				}
			}
		}
	}
	return out
}

// padInt32 returns v as little-endian bytes, padded with fill to n values.
func padInt32(v []int32, n int, fill int32) []byte {
	out := make([]byte, 4*n)
	for i := range n {
		x := fill
		if i < len(v) {
			x = v[i]
		}
		binary.LittleEndian.PutUint32(out[4*i:], uint32(x))
	}
	return out
}

// buffer creates a device buffer of size bytes, or one initialised with data, and records
// it for Close.
func (p *Plan) buffer(flags cl.MemFlag, size int, data []byte) (*cl.MemObject, error) {
	var b *cl.MemObject
	var err error
	if data != nil {
		b, err = p.rt.ctx.CreateBuffer(flags|cl.MemCopyHostPtr, data)
	} else {
		b, err = p.rt.ctx.CreateEmptyBuffer(flags, size)
	}
	if err != nil {
		return nil, err
	}
	p.bufs = append(p.bufs, b)
	return b, nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

func (p *Plan) check(in []uint8, n int, sums []int32) error {
	if p.closed {
		return fmt.Errorf("opencl: %w", backends.ErrClosed)
	}
	if err := backends.CheckRun(p.g, p.batch, in, n, sums); err != nil {
		return fmt.Errorf("opencl: %w", err)
	}
	return nil
}

// Run implements backends.Plan. The input is written and the sums read with blocking
// transfers (Go memory cannot stay pinned across an asynchronous one); the kernels in
// between run back to back on the in-order queue. Run's own code allocates nothing, but
// go-opencl allocates a few small objects in every enqueue: 4 per kernel and 2 per transfer.
func (p *Plan) Run(in []uint8, n int, sums []int32) error {
	return p.run(in, n, sums, nil)
}

// Profile implements backends.Profiler: it runs like Run but waits for each node's kernels,
// so that each node's wall time includes their launch. The input transfer counts towards the
// first node and the read of the sums towards the last.
func (p *Plan) Profile(in []uint8, n int, sums []int32, perNode []time.Duration) error {
	if err := backends.CheckTimings(p.g, perNode); err != nil {
		return fmt.Errorf("opencl: %w", err)
	}
	return p.run(in, n, sums, perNode)
}

func (p *Plan) run(in []uint8, n int, sums []int32, perNode []time.Duration) error {
	if err := p.check(in, n, sums); err != nil {
		return err
	}
	t0 := time.Now()
	ev, err := p.rt.queue.EnqueueWriteBuffer(p.input, true, 0, n*p.g.Spec.Input.Size(), unsafe.Pointer(&in[0]), nil)
	ev.Release() // the event is not needed; releasing it now spares the driver's bookkeeping
	if err != nil {
		return fmt.Errorf("opencl: writing the input: %w", err)
	}
	for i := range p.steps {
		for j := range p.steps[i].launches {
			l := &p.steps[i].launches[j]
			items := ceilDiv(n*l.perImage, l.perItem)
			l.global[0] = ceilDiv(items, l.local[0]) * l.local[0]
			ev, err := p.rt.queue.EnqueueNDRangeKernel(l.kernel, nil, l.global, l.local, nil)
			ev.Release()
			if err != nil {
				return fmt.Errorf("opencl: node %s: enqueueing a kernel: %w", p.g.Nodes[i].Name, err)
			}
		}
		if perNode != nil {
			if err := p.rt.queue.Finish(); err != nil {
				return fmt.Errorf("opencl: node %s: %w", p.g.Nodes[i].Name, err)
			}
			if i < len(p.steps)-1 {
				t1 := time.Now()
				perNode[i] += t1.Sub(t0)
				t0 = t1
			}
		}
	}
	ev, err = p.rt.queue.EnqueueReadBuffer(p.sums, true, 0, 4*n*len(p.g.Classes), unsafe.Pointer(&sums[0]), nil)
	ev.Release()
	if err != nil {
		return fmt.Errorf("opencl: reading the sums: %w", err)
	}
	if perNode != nil {
		perNode[len(p.steps)-1] += time.Since(t0)
	}
	return nil
}

// Trace implements backends.Plan: it runs one image and reads every node's buffer back.
func (p *Plan) Trace(in []uint8, acts [][]uint8, sums []int32) error {
	if err := backends.CheckTraceBuffers(p.g, acts); err != nil {
		return fmt.Errorf("opencl: %w", err)
	}
	if err := p.Run(in, 1, sums); err != nil {
		return err
	}
	for i, n := range p.g.Nodes {
		if n.Op == quant.OpGlobalAvg {
			continue
		}
		ev, err := p.rt.queue.EnqueueReadBuffer(p.steps[i].out, true, 0, n.Out.Size(), unsafe.Pointer(&acts[i][0]), nil)
		ev.Release()
		if err != nil {
			return fmt.Errorf("opencl: node %s: reading its output: %w", n.Name, err)
		}
	}
	return nil
}

// Close releases the plan's kernels, buffers, queue and context. The plan cannot run
// afterwards; closing twice is harmless.
func (p *Plan) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	for _, s := range p.steps {
		for _, l := range s.launches {
			l.kernel.Release()
		}
	}
	for _, b := range p.bufs {
		b.Release()
	}
	p.rt.release()
	return nil
}
