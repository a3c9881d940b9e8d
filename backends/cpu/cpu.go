// Package cpu is the pure-Go int8 backend: packed int8 GEMM (internal/qgemm, with assembly for
// amd64 and arm64) for every convolution, im2col for the k×k ones, the requantization fused in
// the GEMM's output stage, pools on byte vectors (internal/u8vec), and a fixed pool of
// goroutines over output rows. Everything a frame needs is allocated in Prepare; Run allocates
// nothing.
package cpu

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/internal/qgemm"
	"github.com/ninedge/ninedge/quant"
)

func init() { backends.Register(Backend{}) }

// Backend is the CPU backend: one device, all cores unless told otherwise.
type Backend struct{}

func (Backend) Name() string { return "cpu" }

func (Backend) Devices(opt backends.Options) ([]backends.Device, error) {
	return []backends.Device{NewDevice(opt.Threads)}, nil
}

// Device runs graphs on `threads` goroutines (0: all cores).
type Device struct{ threads int }

// NewDevice returns the CPU device with the given thread count (0: GOMAXPROCS).
func NewDevice(threads int) *Device {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	return &Device{threads: threads}
}

func (d *Device) Info() backends.DeviceInfo {
	return backends.DeviceInfo{Backend: "cpu", Name: cpuName(), Type: "cpu", Driver: "go " + runtime.Version() + ", kernel " + qgemm.Kernel(),
		Int8Storage: true, IntegerDot: qgemm.Kernel() != "go", Threads: d.threads, Features: cpuFeatures()}
}

// rowBlock is how many output rows one im2col block holds: the block of a 5×5×96 conv (2,400
// bytes a row) stays in L2 while the GEMM runs over it.
const rowBlock = 48

// Plan is a graph prepared for the CPU.
type Plan struct {
	g       *quant.Graph
	batch   int
	threads int
	packed  []*qgemm.Packed // per node; nil for pools and float convs
	acts    [][]uint8       // per node: batch × Out.Size(); nil for the global pool
	cols    [][]uint8       // per worker: one im2col block
	jobs    chan job
	wg      sync.WaitGroup
	closed  bool
}

// job is a contiguous range of one node's output rows (image-major: row = image·H·W + pixel
// for convolutions, image·H + y for pools).
type job struct {
	node   int
	in     []uint8
	r0, r1 int
}

func (d *Device) Prepare(g *quant.Graph, batch int) (backends.Plan, error) {
	if err := backends.CheckPrepare(g, batch); err != nil {
		return nil, fmt.Errorf("cpu: %w", err)
	}
	p := &Plan{g: g, batch: batch, threads: d.threads, packed: make([]*qgemm.Packed, len(g.Nodes)), acts: make([][]uint8, len(g.Nodes))}
	colLen := 0
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if n.Op == quant.OpGlobalAvg {
			continue
		}
		p.acts[i] = make([]uint8, batch*n.Out.Size())
		if n.Op != quant.OpConv || n.Float {
			continue
		}
		p.packed[i] = qgemm.Pack(n.K(), n.Out.C, n.Weights, n.Bias, n.Mult, n.Shift)
		if !pointwise(n) {
			colLen = max(colLen, rowBlock*n.K())
		}
	}
	p.cols = make([][]uint8, p.threads)
	for w := range p.cols {
		p.cols[w] = make([]uint8, colLen)
	}
	if p.threads > 1 {
		p.jobs = make(chan job, p.threads)
		for w := 0; w < p.threads; w++ {
			go p.worker(w)
		}
	}
	return p, nil
}

func pointwise(n *quant.Node) bool { return n.Kernel == 1 && n.Stride == 1 && n.Pad == 0 }

func (p *Plan) worker(w int) {
	for j := range p.jobs {
		p.do(w, j)
		p.wg.Done()
	}
}

// Run implements backends.Plan.
func (p *Plan) Run(in []uint8, n int, sums []int32) error { return p.run(in, n, sums, nil) }

// run runs the graph; with perNode it also adds each node's wall time there (Profile).
func (p *Plan) run(in []uint8, n int, sums []int32, perNode []time.Duration) error {
	if p.closed {
		return fmt.Errorf("cpu: %w", backends.ErrClosed)
	}
	g := p.g
	if err := backends.CheckRun(g, p.batch, in, n, sums); err != nil {
		return fmt.Errorf("cpu: %w", err)
	}
	cur := in
	for i := range g.Nodes {
		node := &g.Nodes[i]
		if node.Op == quant.OpGlobalAvg {
			size, c := node.In.Size(), node.In.C
			for img := 0; img < n; img++ {
				quant.GlobalSums(cur[img*size:(img+1)*size], node.In, sums[img*c:(img+1)*c])
			}
			break
		}
		rows := n * node.Out.H
		if node.Op == quant.OpConv {
			rows = n * node.Out.H * node.Out.W
		}
		var t0 time.Time
		if perNode != nil {
			t0 = time.Now()
		}
		p.parallel(i, cur, rows)
		if perNode != nil {
			perNode[i] += time.Since(t0)
		}
		cur = p.acts[i]
	}
	return nil
}

// parallel splits a node's rows into one contiguous range per worker and waits for them.
func (p *Plan) parallel(node int, in []uint8, rows int) {
	if p.threads == 1 || rows < 2 {
		p.do(0, job{node: node, in: in, r0: 0, r1: rows})
		return
	}
	parts := min(p.threads, rows)
	p.wg.Add(parts)
	for k := 0; k < parts; k++ {
		p.jobs <- job{node: node, in: in, r0: rows * k / parts, r1: rows * (k + 1) / parts}
	}
	p.wg.Wait()
}

func (p *Plan) do(w int, j job) {
	n := &p.g.Nodes[j.node]
	out := p.acts[j.node]
	switch {
	case n.Op == quant.OpConv && n.Float:
		p.floatConv(n, j, out)
	case n.Op == quant.OpConv && pointwise(n):
		c, k := n.Out.C, n.In.C
		p.packed[j.node].Run(j.r1-j.r0, j.in[j.r0*k:], k, out[j.r0*c:], c)
	case n.Op == quant.OpConv:
		p.conv(w, n, p.packed[j.node], j, out)
	default:
		poolRows(n, j.in, out, j.r0, j.r1)
	}
}

// conv runs rows [r0, r1) of a k×k convolution block by block: im2col a block into this
// worker's buffer, then one GEMM over it.
func (p *Plan) conv(w int, n *quant.Node, pk *qgemm.Packed, j job, out []uint8) {
	K, c := n.K(), n.Out.C
	col := p.cols[w]
	for b0 := j.r0; b0 < j.r1; b0 += rowBlock {
		b1 := min(b0+rowBlock, j.r1)
		for r := b0; r < b1; r++ {
			im2colRow(n, j.in, r, col[(r-b0)*K:(r-b0+1)*K])
		}
		pk.Run(b1-b0, col, K, out[b0*c:], c)
	}
}

// im2colRow writes output row r's receptive field (image-major row index) in HWIO order,
// padding with the input's zero point so that it reads as a real 0.
func im2colRow(n *quant.Node, x []uint8, r int, dst []uint8) {
	in, k := n.In, n.Kernel
	pix := n.Out.H * n.Out.W
	img, p := r/pix, r%pix
	oy, ox := p/n.Out.W, p%n.Out.W
	src := x[img*in.Size() : (img+1)*in.Size()]
	c := in.C
	for ky := 0; ky < k; ky++ {
		iy := oy*n.Stride - n.Pad + ky
		seg := dst[ky*k*c : (ky+1)*k*c]
		if iy < 0 || iy >= in.H {
			fill(seg, n.PadValue)
			continue
		}
		x0 := ox*n.Stride - n.Pad
		lo, hi := max(0, -x0), min(k, in.W-x0)
		if lo > 0 {
			fill(seg[:lo*c], n.PadValue)
		}
		if hi > lo {
			copy(seg[lo*c:hi*c], src[(iy*in.W+x0+lo)*c:(iy*in.W+x0+hi)*c])
		}
		if hi < k {
			fill(seg[max(hi, lo)*c:], n.PadValue)
		}
	}
}

func fill(b []uint8, v uint8) {
	if v == 0 {
		clear(b)
		return
	}
	for i := range b {
		b[i] = v
	}
}

// floatConv runs a layer the user kept in float, image by image, with quant's shared
// implementation (bit-identical to the reference by construction); rows are whole images here.
func (p *Plan) floatConv(n *quant.Node, j job, out []uint8) {
	pix := n.Out.H * n.Out.W
	for img := j.r0 / pix; img*pix < j.r1; img++ {
		if img*pix < j.r0 {
			continue
		}
		n.FloatConv(j.in[img*n.In.Size():(img+1)*n.In.Size()], out[img*n.Out.Size():(img+1)*n.Out.Size()])
	}
}

// Trace implements backends.Plan.
func (p *Plan) Trace(in []uint8, acts [][]uint8, sums []int32) error {
	if err := backends.CheckTraceBuffers(p.g, acts); err != nil {
		return fmt.Errorf("cpu: %w", err)
	}
	if err := p.Run(in, 1, sums); err != nil {
		return err
	}
	for i, n := range p.g.Nodes {
		if n.Op != quant.OpGlobalAvg {
			copy(acts[i], p.acts[i][:n.Out.Size()])
		}
	}
	return nil
}

// Close stops the workers. The plan cannot run afterwards.
func (p *Plan) Close() error {
	if !p.closed && p.jobs != nil {
		close(p.jobs)
	}
	p.closed = true
	return nil
}
