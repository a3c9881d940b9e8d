package sgemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// ninShapes are the per-image (m, n, k) of the Network-In-Network layers: output pixels, out
// channels, in channels × kernel.
var ninShapes = [][3]int{
	{1024, 192, 75}, {1024, 160, 192}, {1024, 96, 160},
	{256, 192, 2400}, {256, 192, 192},
	{64, 192, 1728}, {64, 192, 192}, {64, 10, 192},
}

// guard fills what Gemm must not touch: C's guard zone and row tails.
const guard = 777

// problem is one Gemm call with operands padded to catch stray reads (NaN in the padding of A
// and B) and writes (guard values around and inside the rows of C).
type problem struct {
	transA, transB bool
	m, n, k        int
	a, b           []float32
	lda, ldb       int
	beta           float32
	buf            []float32 // C with guard zones of cGuard elements on both sides
	c              []float32
	ldc            int
}

const cGuard = 64

// operand returns a rows×cols matrix with row stride ld, exactly as long as checkArgs
// requires, with values in [-1, 1) and NaN in the padding.
func operand(rng *rand.Rand, rows, cols, ld int) []float32 {
	s := make([]float32, max((rows-1)*ld+cols, 0))
	for i := range s {
		if i%ld < cols {
			s[i] = 2*rng.Float32() - 1
		} else {
			s[i] = float32(math.NaN())
		}
	}
	return s
}

func newProblem(rng *rand.Rand, transA, transB bool, m, n, k, pad int, beta float32) *problem {
	p := &problem{transA: transA, transB: transB, m: m, n: n, k: k, beta: beta}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	p.lda, p.ldb, p.ldc = ac+pad, bc+pad, n+pad
	p.a = operand(rng, ar, ac, p.lda)
	p.b = operand(rng, br, bc, p.ldb)
	size := max((m-1)*p.ldc+n, 0)
	p.buf = make([]float32, size+2*cGuard)
	p.c = p.buf[cGuard : cGuard+size : cGuard+size]
	for i := range p.buf {
		p.buf[i] = guard
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			if beta == 0 {
				p.c[i*p.ldc+j] = float32(math.NaN()) // must be overwritten, not scaled
			} else {
				p.c[i*p.ldc+j] = 2*rng.Float32() - 1
			}
		}
	}
	return p
}

// check runs GemmRef from c0, C as it was before the call under test, and compares with the
// C that call left in p.buf, guard values included. Summation orders differ, so each element
// may be off by the float32 rounding bound, (2k+4)·u·(Σ|a·b| + |beta·c|) with u = 2⁻²⁴, and
// no more.
func (p *problem) check(t *testing.T, name string, c0 []float32) {
	t.Helper()
	want := append([]float32(nil), c0...)
	GemmRef(p.transA, p.transB, p.m, p.n, p.k, p.a, p.lda, p.b, p.ldb, p.beta, want, p.ldc)
	at := func(i, q int) float32 {
		if p.transA {
			return p.a[q*p.lda+i]
		}
		return p.a[i*p.lda+q]
	}
	bt := func(q, j int) float32 {
		if p.transB {
			return p.b[j*p.ldb+q]
		}
		return p.b[q*p.ldb+j]
	}
	const u = 1.0 / (1 << 24)
	bad := 0
	for i := range p.buf {
		o := i - cGuard
		inside := o >= 0 && o < len(p.c) && o%p.ldc < p.n
		if !inside {
			if p.buf[i] != guard {
				t.Fatalf("%s: element %d outside C changed to %v", name, o, p.buf[i])
			}
			continue
		}
		r, col := o/p.ldc, o%p.ldc
		got, w := float64(p.c[o]), float64(want[o])
		mag := 0.0
		if p.beta != 0 {
			mag = math.Abs(float64(p.beta * c0[o]))
		}
		for q := 0; q < p.k; q++ {
			mag += math.Abs(float64(at(r, q)) * float64(bt(q, col)))
		}
		if !(math.Abs(got-w) <= float64(2*p.k+4)*u*mag) {
			if bad++; bad <= 5 {
				t.Errorf("%s: C[%d,%d] = %v, want %v (tolerance %.3g)", name, r, col, got, w, float64(2*p.k+4)*u*mag)
			}
		}
	}
	if bad > 0 {
		t.FailNow()
	}
}

// run multiplies with kern and checks the result.
func (p *problem) run(t *testing.T, kern *kernel, threads int) {
	t.Helper()
	c0 := append([]float32(nil), p.c...)
	gemm(kern, threads, nil, p.transA, p.transB, p.m, p.n, p.k, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc)
	p.check(t, fmt.Sprintf("%s threads=%d transA=%v transB=%v m=%d n=%d k=%d beta=%v",
		kern.name, threads, p.transA, p.transB, p.m, p.n, p.k, p.beta), c0)
}

var (
	transposes = [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}}
	betas      = []float32{0, 1, 0.5}
)

// testKernels returns each kernel this CPU runs twice: with its own blocking and with tiny
// blocks, which drive every loop of the blocked algorithm (several mc, kc and nc blocks, with
// ragged last ones) on small matrices.
func testKernels(t *testing.T) []kernel {
	var ks []kernel
	for _, k := range kernels {
		t.Logf("kernel %s", k.name)
		tiny := k
		tiny.name += "-tinyblocks"
		tiny.mc, tiny.kc, tiny.nc = 2*k.mr, 5, 2*k.nr
		ks = append(ks, k, tiny)
	}
	return ks
}

// TestGemmSmall covers every tail of every kernel: sizes below, at and above the micro-tile
// and the kernels' 4-step unrolling, all transposes and betas, 1 to 3 goroutines splitting
// rows or columns.
func TestGemmSmall(t *testing.T) {
	defer func(w int) { minWork = w }(minWork)
	minWork = 1 // split even these small products
	sizes := []int{1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 24, 32, 33, 37}
	if testing.Short() {
		sizes = []int{1, 3, 5, 8, 13, 17, 33, 37}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, kern := range testKernels(t) {
		iter := 0
		for _, m := range sizes {
			for _, n := range sizes {
				for _, k := range sizes {
					for _, tr := range transposes {
						iter++
						beta := betas[iter%len(betas)]
						p := newProblem(rng, tr[0], tr[1], m, n, k, iter%3, beta)
						p.run(t, &kern, 1+iter%3)
					}
				}
			}
		}
	}
}

// TestGemmNIN runs the network's shapes, which need several k blocks and split over
// goroutines for real. Each shape gets one transpose combination, each combination two shapes.
func TestGemmNIN(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for s, sh := range ninShapes {
		m, n, k := sh[0], sh[1], sh[2]
		if testing.Short() && m*n*k > 1<<22 {
			continue
		}
		tr := transposes[s%len(transposes)]
		p := newProblem(rng, tr[0], tr[1], m, n, k, 1+s%3, betas[s%len(betas)])
		p.run(t, &kernels[0], 1+(s/4+s/2)%2) // each combination on 1 and 2 goroutines
	}
}

// TestGemmDegenerate covers empty products: k = 0 leaves beta·C, and nothing is touched when
// m or n is 0.
func TestGemmDegenerate(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, sh := range [][3]int{{3, 4, 0}, {0, 4, 5}, {3, 0, 5}, {0, 0, 0}} {
		for _, beta := range betas {
			p := newProblem(rng, false, false, sh[0], sh[1], sh[2], 2, beta)
			c0 := append([]float32(nil), p.c...)
			Gemm(2, false, false, p.m, p.n, p.k, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc)
			p.check(t, fmt.Sprintf("m=%d n=%d k=%d beta=%v", p.m, p.n, p.k, beta), c0)
		}
	}
}

func TestGemmPanics(t *testing.T) {
	a, b, c := make([]float32, 6), make([]float32, 6), make([]float32, 4)
	for name, f := range map[string]func(){
		"short a":   func() { Gemm(1, false, false, 2, 2, 3, a[:5], 3, b, 2, 0, c, 2) },
		"short b":   func() { Gemm(1, false, true, 2, 2, 3, a, 3, b[:5], 3, 0, c, 2) },
		"short c":   func() { Gemm(1, false, false, 2, 2, 3, a, 3, b, 2, 0, c[:3], 2) },
		"small lda": func() { Gemm(1, true, false, 2, 2, 3, a, 1, b, 2, 0, c, 2) },
		"negative":  func() { GemmRef(false, false, -1, 2, 3, a, 3, b, 2, 0, c, 2) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// TestMicroCrossCheck holds each assembly kernel to its generic twin on the same micro-panels,
// for k around the unrolling, the three kinds of beta and, for strided kernels, A read in place
// as well as packed.
func TestMicroCrossCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, kern := range kernels {
		if kern.name == generic.name {
			continue
		}
		t.Logf("checking %s against microGo", kern.name)
		mr, nr, ldc := kern.mr, kern.nr, kern.nr+5
		for _, k := range []int{1, 2, 3, 4, 5, 7, 8, 9, 31, 64, 300} {
			// A as packed, in rows of a wider matrix, in columns of a wider matrix.
			layouts := [][2]int{{1, mr}}
			if kern.strided {
				layouts = append(layouts, [2]int{k + 3, 1}, [2]int{1, mr + 3})
			}
			for _, l := range layouts {
				rs, cs := l[0], l[1]
				for _, beta := range betas {
					a := operand(rng, 1, (mr-1)*rs+(k-1)*cs+1, (mr-1)*rs+(k-1)*cs+1)
					b := operand(rng, 1, nr*k, nr*k)
					c := operand(rng, mr, nr, ldc)
					if beta == 0 {
						for i := range c {
							if i%ldc < nr {
								c[i] = float32(math.NaN())
							}
						}
					}
					want := append([]float32(nil), c...)
					got := append([]float32(nil), c...)
					microGo(mr, nr, k, a, rs, cs, b, want, ldc, beta)
					kern.micro(k, a, rs, cs, b, got, ldc, beta)
					for i := range got {
						// Same order of summation; only FMA versus separate rounding differs.
						d := math.Abs(float64(got[i] - want[i]))
						if i%ldc >= nr && !math.IsNaN(float64(got[i])) || i%ldc < nr && !(d <= 1e-5*float64(k)) {
							t.Fatalf("%s k=%d rsA=%d csA=%d beta=%v: c[%d] = %v, want %v",
								kern.name, k, rs, cs, beta, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestGemmAllocs holds steady-state single-goroutine calls to no allocation: the packing
// buffers come from the pool.
func TestGemmAllocs(t *testing.T) {
	m, n, k := 64, 192, 192
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	allocs := testing.AllocsPerRun(20, func() { Gemm(1, false, false, m, n, k, a, k, b, n, 0, c, n) })
	if allocs > 0.1 {
		t.Errorf("%v allocations per call, want 0", allocs)
	}
}

// BenchmarkGemm reports GFLOP/s (2·m·n·k per call) for the network's shapes: the naive
// reference, then Gemm on 1 and 2 goroutines.
func BenchmarkGemm(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, sh := range ninShapes {
		m, n, k := sh[0], sh[1], sh[2]
		p := newProblem(rng, false, false, m, n, k, 0, 0)
		flops := 2 * float64(m) * float64(n) * float64(k)
		report := func(b *testing.B, start time.Time) {
			b.ReportMetric(flops*float64(b.N)/time.Since(start).Seconds()/1e9, "GFLOP/s")
		}
		b.Run(fmt.Sprintf("%dx%dx%d/ref", m, n, k), func(b *testing.B) {
			start := time.Now()
			for range b.N {
				GemmRef(false, false, m, n, k, p.a, p.lda, p.b, p.ldb, 0, p.c, p.ldc)
			}
			report(b, start)
		})
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%dx%dx%d/t%d", m, n, k, threads), func(b *testing.B) {
				start := time.Now()
				for range b.N {
					Gemm(threads, false, false, m, n, k, p.a, p.lda, p.b, p.ldb, 0, p.c, p.ldc)
				}
				report(b, start)
			})
		}
	}
}

// BenchmarkMicro times each kernel alone on L1-resident panels: the ceiling for Gemm.
func BenchmarkMicro(b *testing.B) {
	rng := rand.New(rand.NewPCG(11, 12))
	const k = 256
	for _, kern := range kernels {
		a, bb := operand(rng, 1, kern.mr*k, kern.mr*k), operand(rng, 1, kern.nr*k, kern.nr*k)
		c := make([]float32, kern.mr*kern.nr)
		b.Run(kern.name, func(b *testing.B) {
			start := time.Now()
			for range b.N {
				kern.micro(k, a, 1, kern.mr, bb, c, kern.nr, 1)
			}
			flops := 2 * float64(kern.mr*kern.nr*k)
			b.ReportMetric(flops*float64(b.N)/time.Since(start).Seconds()/1e9, "GFLOP/s")
		})
	}
}
