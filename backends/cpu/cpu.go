// Package cpu is the pure-Go int8 backend: packed int8 GEMM (internal/qgemm, with assembly for
// amd64 and arm64) for every convolution, im2col for the k×k ones, the requantization fused in
// the GEMM's output stage, pools on byte vectors (internal/u8vec), and a fixed pool of
// goroutines over output rows. Everything a frame needs is allocated in Prepare; Run allocates
// nothing.
package cpu

import (
	"fmt"
	"runtime"
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
	cols    [][]uint8       // per goroutine: one im2col block
	team    *team           // nil with one thread
	closed  bool
}

// job is one node's output rows (image-major: row = image·H·W + pixel for convolutions,
// image·H + y for pools), in parts of chunk rows.
type job struct {
	node        int
	in          []uint8
	rows, chunk int
	parts       int
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
		p.team = newTeam(p.threads, p.doPart)
	}
	return p, nil
}

func pointwise(n *quant.Node) bool { return n.Kernel == 1 && n.Stride == 1 && n.Pad == 0 }

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
		var t0 time.Time
		if perNode != nil {
			t0 = time.Now()
		}
		j := p.split(i, cur, n)
		if j.parts == 1 {
			p.doPart(0, j, 0)
		} else {
			p.team.run(j)
		}
		if perNode != nil {
			perNode[i] += time.Since(t0)
		}
		cur = p.acts[i]
	}
	return nil
}

// Splitting a node: a part takes about 0.1 µs to hand over and a cache line or two to move,
// so a node is split only where each goroutine gets at least minSplitWork multiply-adds (or,
// for pools, window reads); below that the caller runs it alone (measured with
// BenchmarkSplit). Each goroutine gets about partsPerThread parts, so that one whose core is
// taken by another process holds up little, and a conv part is whole 12-row tiles (every
// kernel's tile height divides 12), so that no tile is computed twice.
const (
	minSplitWork   = 1 << 18
	partsPerThread = 4
	tileRows       = 12
)

// split cuts node i's rows at batch n into the parts the goroutines take, or one part for
// the caller where a split would not pay.
func (p *Plan) split(i int, in []uint8, n int) job {
	node := &p.g.Nodes[i]
	perImage, work := node.Out.H, int64(node.Out.Size()*node.Kernel*node.Kernel)
	if node.Op == quant.OpConv {
		perImage, work = node.Out.H*node.Out.W, node.MACs()
	}
	rows := n * perImage
	j := job{node: i, in: in, rows: rows, chunk: rows, parts: 1}
	if p.team == nil || work*int64(n) < minSplitWork*int64(p.threads) {
		return j
	}
	want := p.threads * partsPerThread
	switch {
	case node.Op == quant.OpConv && node.Float:
		j.chunk = perImage // FloatConv runs whole images
	case node.Op == quant.OpConv:
		j.chunk = max(1, rows/tileRows/want) * tileRows
	default:
		j.chunk = max(1, rows/want)
	}
	j.parts = max(1, rows/j.chunk)
	return j
}

// doPart runs part k of j on goroutine w (0: the caller); the last part takes the rows that
// do not fill a whole one.
func (p *Plan) doPart(w int, j job, k int) {
	r0, r1 := k*j.chunk, (k+1)*j.chunk
	if k == j.parts-1 {
		r1 = j.rows
	}
	p.do(w, j.node, j.in, r0, r1)
}

func (p *Plan) do(w, node int, in []uint8, r0, r1 int) {
	n := &p.g.Nodes[node]
	out := p.acts[node]
	switch {
	case n.Op == quant.OpConv && n.Float:
		p.floatConv(n, in, out, r0, r1)
	case n.Op == quant.OpConv && pointwise(n):
		c, k := n.Out.C, n.In.C
		p.packed[node].Run(r1-r0, in[r0*k:], k, out[r0*c:], c)
	case n.Op == quant.OpConv:
		p.conv(w, n, p.packed[node], in, out, r0, r1)
	default:
		poolRows(n, in, out, r0, r1)
	}
}

// conv runs rows [r0, r1) of a k×k convolution block by block: im2col a block into this
// worker's buffer, then one GEMM over it.
func (p *Plan) conv(w int, n *quant.Node, pk *qgemm.Packed, in, out []uint8, r0, r1 int) {
	K, c := n.K(), n.Out.C
	col := p.cols[w]
	for b0 := r0; b0 < r1; b0 += rowBlock {
		b1 := min(b0+rowBlock, r1)
		for r := b0; r < b1; r++ {
			im2colRow(n, in, r, col[(r-b0)*K:(r-b0+1)*K])
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
func (p *Plan) floatConv(n *quant.Node, in, out []uint8, r0, r1 int) {
	pix := n.Out.H * n.Out.W
	for img := r0 / pix; img*pix < r1; img++ {
		if img*pix < r0 {
			continue
		}
		n.FloatConv(in[img*n.In.Size():(img+1)*n.In.Size()], out[img*n.Out.Size():(img+1)*n.Out.Size()])
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
	if !p.closed && p.team != nil {
		p.team.close()
	}
	p.closed = true
	return nil
}
