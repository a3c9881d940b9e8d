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
	packed  []*qgemm.Packed       // per node; nil for pools and float convs
	acts    [][]uint8             // per node: batch × Out.Size(); nil for the global pool
	cols    [][]uint8             // per goroutine: one im2col block, or a max pool's row
	floats  []*quant.FloatScratch // per goroutine, where a layer is kept in float
	team    *team                 // nil with one thread
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
		if n.Op == quant.OpMaxPool {
			colLen = max(colLen, n.In.W*n.In.C) // maxPoolRow's scratch
		}
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
		p.cols[w] = make([]uint8, colLen+16) // 16: im2col's short moves may overrun a row
	}
	var floats []*quant.Node
	for i := range g.Nodes {
		if g.Nodes[i].Float {
			floats = append(floats, &g.Nodes[i])
		}
	}
	if len(floats) > 0 {
		p.floats = make([]*quant.FloatScratch, p.threads)
		for w := range p.floats {
			p.floats[w] = quant.NewFloatScratch(floats...)
		}
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

// Splitting a node: handing a part over takes about 0.1 µs and moves a cache line or two,
// and the parts' outputs end up in different cores' caches, so a node is split only where
// each goroutine gets at least minSplitNS of estimated work; below that the caller runs it
// alone. The estimate takes a conv at macsPerNS multiply-adds per ns (a VNNI core peaks at
// about 360, an AVX2 one at a third of that: slower kernels split a little sooner than they
// could) and a pool at poolReadsPerNS window bytes per ns (nin-cifar10's 3×3 average pool,
// measured with BenchmarkSplit: 110,592 bytes in 7.5 µs; the max pool does twice that). Each goroutine gets about partsPerThread parts, so that one whose core is taken
// by another process holds up little, and a conv part is whole 12-row tiles (every kernel's
// tile height divides 12), so that no tile is computed twice.
const (
	minSplitNS     = 2000
	macsPerNS      = 200
	poolReadsPerNS = 14
	partsPerThread = 4
	tileRows       = 12
)

// split cuts node i's rows at batch n into the parts the goroutines take, or one part for
// the caller where a split would not pay.
func (p *Plan) split(i int, in []uint8, n int) job {
	node := &p.g.Nodes[i]
	perImage, ns := node.Out.H, int64(node.Out.Size()*node.Kernel*node.Kernel/poolReadsPerNS)
	if node.Op == quant.OpConv {
		perImage, ns = node.Out.H*node.Out.W, node.MACs()/macsPerNS
		if node.Float {
			ns *= 4 // float32 multiply-adds: a quarter of int8's per instruction
		}
	}
	if p.team == nil || ns*int64(n) < minSplitNS*int64(p.threads) {
		return job{node: i, in: in, rows: n * perImage, chunk: n * perImage, parts: 1}
	}
	return p.parts(i, in, n*perImage)
}

// parts cuts node i's rows into about partsPerThread parts per goroutine.
func (p *Plan) parts(i int, in []uint8, rows int) job {
	j := job{node: i, in: in, rows: rows}
	want := p.threads * partsPerThread
	switch {
	case p.g.Nodes[i].Op == quant.OpConv:
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
		n.FloatRows(in, out, r0, r1, p.floats[w])
	case n.Op == quant.OpConv && pointwise(n):
		c, k := n.Out.C, n.In.C
		p.packed[node].Run(r1-r0, in[r0*k:], k, out[r0*c:], c)
	case n.Op == quant.OpConv:
		p.conv(w, n, p.packed[node], in, out, r0, r1)
	default:
		poolRows(n, in, out, r0, r1, p.cols[w])
	}
}

// conv runs rows [r0, r1) of a k×k convolution block by block: im2col a block into this
// worker's buffer, then one GEMM over it.
func (p *Plan) conv(w int, n *quant.Node, pk *qgemm.Packed, in, out []uint8, r0, r1 int) {
	K, c := n.K(), n.Out.C
	col := p.cols[w]
	for b0 := r0; b0 < r1; b0 += rowBlock {
		b1 := min(b0+rowBlock, r1)
		im2col(n, in, b0, b1, col)
		pk.Run(b1-b0, col, K, out[b0*c:], c)
	}
}

// im2col writes the receptive fields of output rows [r0, r1) (image-major row index) to dst,
// K bytes a row, in HWIO order, padding with the input's zero point so that it reads as a
// real 0. dst has 16 bytes of slack past the last row.
func im2col(n *quant.Node, x []uint8, r0, r1 int, dst []uint8) {
	in, k, c := n.In, n.Kernel, n.In.C
	K, seg := n.K(), k*c
	pix := n.Out.H * n.Out.W
	img, p := r0/pix, r0%pix // the only divisions: rows advance pixel by pixel
	oy, ox := p/n.Out.W, p%n.Out.W
	for r := r0; r < r1; r++ {
		src := x[img*in.Size() : (img+1)*in.Size()]
		row := dst[(r-r0)*K:]
		x0, y0 := ox*n.Stride-n.Pad, oy*n.Stride-n.Pad
		lo, hi := max(0, -x0), min(k, in.W-x0)
		if short := seg <= 16 && len(row) >= (k-1)*seg+16; short && lo == 0 && hi == k && y0 >= 0 && y0+k <= in.H &&
			len(src) >= ((y0+k-1)*in.W+x0)*c+16 {
			// Inside the image, a first layer's segments are a few bytes (15 for 5×5×3):
			// one 16-byte move each instead of a call to memmove. The bytes past a segment
			// belong to the next segment or row, written after it, or to the slack.
			for ky := 0; ky < k; ky++ {
				*(*[16]byte)(row[ky*seg:]) = *(*[16]byte)(src[((y0+ky)*in.W+x0)*c:])
			}
		} else {
			im2colEdge(n, src, row, x0, y0, lo, hi)
		}
		if ox++; ox == n.Out.W {
			if ox, oy = 0, oy+1; oy == n.Out.H {
				oy, img = 0, img+1
			}
		}
	}
}

// im2colEdge writes one row of im2col whose window starts at (y0, x0) of the image src,
// columns [lo, hi) of it inside the image.
func im2colEdge(n *quant.Node, src, row []uint8, x0, y0, lo, hi int) {
	in, k, c := n.In, n.Kernel, n.In.C
	seg := k * c
	for ky := 0; ky < k; ky++ {
		iy := y0 + ky
		d := row[ky*seg:]
		if iy < 0 || iy >= in.H || hi <= lo {
			fill(d[:seg], n.PadValue)
			continue
		}
		if lo > 0 {
			fill(d[:lo*c], n.PadValue)
		}
		l := (hi - lo) * c
		copy(d[lo*c:lo*c+l], src[(iy*in.W+x0+lo)*c:])
		if hi < k {
			fill(d[hi*c:seg], n.PadValue)
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
