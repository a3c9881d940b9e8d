package sgemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// thinLengths are the row lengths the axpy kernels must get right: every tail of their 32-,
// 16-, 8- and 4-value steps, and the ZCA product's 3072.
var thinLengths = func() []int {
	var ns []int
	for n := 0; n <= 40; n++ {
		ns = append(ns, n)
	}
	return append(ns, 63, 64, 65, 3072)
}()

// TestAxpyCrossCheck holds each assembly axpy to axpyGo, on rows at every alignment, with
// guard values around y and NaN past the end of x.
func TestAxpyCrossCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	const pad = 8
	for _, kern := range kernels {
		if kern.name == generic.name {
			continue
		}
		t.Logf("checking the axpy of %s against axpyGo", kern.name)
		for _, n := range thinLengths {
			for off := range 4 {
				x := operand(rng, 1, off+n, off+n+pad)[off:] // NaN after the n values
				ybuf := make([]float32, off+n+2*pad)
				for i := range ybuf {
					ybuf[i] = guard
				}
				y := ybuf[off+pad : off+pad+n]
				for i := range y {
					y[i] = 2*rng.Float32() - 1
				}
				alpha := 2*rng.Float32() - 1
				want := append([]float32(nil), y...)
				axpyGo(alpha, x, want)
				y0 := append([]float32(nil), y...)
				kern.axpy(alpha, x, y)
				for i, v := range ybuf {
					j := i - off - pad
					if j < 0 || j >= n {
						if v != guard {
							t.Fatalf("%s n=%d offset %d: y[%d] outside the row changed to %v", kern.name, n, off, j, v)
						}
						continue
					}
					// Only FMA versus separate rounding differs: one rounding of each term.
					tol := 2.0 / (1 << 24) * (math.Abs(float64(y0[j])) + math.Abs(float64(alpha*x[j])))
					if !(math.Abs(float64(v-want[j])) <= tol) {
						t.Fatalf("%s n=%d offset %d: y[%d] = %v, want %v", kern.name, n, off, j, v, want[j])
					}
				}
			}
		}
	}
}

// TestGemmThin covers the products of thin: every kernel's axpy (the generic one included),
// every tail length, each m up to thinRows, A plain and transposed, beta 0 (C full of NaN) and
// not, all leading dimensions padded, on 1 and 3 goroutines, with L1-sized column blocks and
// with tiny ones that leave ragged last blocks.
func TestGemmThin(t *testing.T) {
	defer func(w, c int) { minWork, thinCols = w, c }(minWork, thinCols)
	minWork = 1 // split even these small products
	ks := []int{1, 2, 3, 5, 17, 300}
	rng := rand.New(rand.NewPCG(15, 16))
	iter := 0
	for _, kern := range kernels {
		for _, cols := range []int{thinCols, 48} {
			thinCols = cols
			for m := 1; m <= thinRows; m++ {
				for _, n := range thinLengths {
					for _, transA := range []bool{false, true} {
						for _, beta := range []float32{0, 0.5} {
							for _, threads := range []int{1, 3} {
								iter++
								k := ks[iter%len(ks)]
								p := newProblem(rng, transA, false, m, n, k, 1+iter%3, beta)
								c0 := append([]float32(nil), p.c...)
								gemm(&kern, threads, nil, transA, false, m, n, k, p.a, p.lda, p.b, p.ldb, beta, p.c, p.ldc)
								p.check(t, fmt.Sprintf("%s thinCols=%d threads=%d transA=%v m=%d n=%d k=%d beta=%v",
									kern.name, cols, threads, transA, m, n, k, beta), c0)
							}
						}
					}
				}
			}
		}
	}
}

// TestGemmThinZCA runs the product thin exists for, the ZCA whitening of one 32×32×3 image
// (k = n = 3072), on each kernel and on 1 and 3 goroutines.
func TestGemmThinZCA(t *testing.T) {
	if testing.Short() {
		t.Skip("a few seconds of reference product")
	}
	rng := rand.New(rand.NewPCG(17, 18))
	for _, kern := range kernels {
		for _, threads := range []int{1, 3} {
			p := newProblem(rng, false, false, 1, 3072, 3072, 0, 0)
			p.run(t, &kern, threads)
		}
	}
}

// TestGemmThinAllocs holds a matrix-vector product on one goroutine to no allocation.
func TestGemmThinAllocs(t *testing.T) {
	for m := 1; m <= thinRows; m++ {
		n, k := 100, 300
		a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
		allocs := testing.AllocsPerRun(20, func() { Gemm(1, false, false, m, n, k, a, k, b, n, 0.5, c, n) })
		if allocs > 0 {
			t.Errorf("m=%d: %v allocations per call, want 0", m, allocs)
		}
	}
}

// BenchmarkThin compares thin with the packed path (serial) on one goroutine, for m on both
// sides of thinRows: at n = k = 3072 (the ZCA product; B, 37.7 MB, comes from memory) and at
// n = k = 192 (B in L2). MB/s counts B read once per call. "read" copies each row of the big
// B into one row that stays in L1 (memmove's vector loads): the memory bandwidth one core
// gets, the limit for thin.
func BenchmarkThin(b *testing.B) {
	rng := rand.New(rand.NewPCG(19, 20))
	kern := &kernels[0]
	b.Run("read", func(b *testing.B) {
		src, row := operand(rng, 3072, 3072, 3072), make([]float32, 3072)
		b.SetBytes(4 * 3072 * 3072)
		b.ResetTimer()
		for range b.N {
			for p := 0; p < len(src); p += len(row) {
				copy(row, src[p:])
			}
		}
	})
	for _, nk := range []int{3072, 192} {
		for m := 1; m <= 8; m++ {
			p := newProblem(rng, false, false, m, nk, nk, 0, 0)
			for _, path := range []struct {
				name string
				run  func(*kernel, *epilogue, int, bool, bool, int, int, int, []float32, int, []float32, int, float32, []float32, int)
			}{{"packed", serial}, {"thin", thin}} {
				b.Run(fmt.Sprintf("%dx%dx%d/%s", m, nk, nk, path.name), func(b *testing.B) {
					b.SetBytes(int64(4 * nk * nk))
					for range b.N {
						path.run(kern, nil, 0, false, false, m, nk, nk, p.a, p.lda, p.b, p.ldb, 0, p.c, p.ldc)
					}
				})
			}
		}
	}
}

// TestAdd checks Add against the scalar loop bit for bit: a multiply-add by 1 rounds as the
// addition alone does.
func TestAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	for n := 0; n <= 70; n++ {
		x, y := operand(rng, 1, n+1, n+1), operand(rng, 1, n, n)
		want := append([]float32(nil), y...)
		for j := range want {
			want[j] += x[j]
		}
		Add(y, x)
		for j := range y {
			if math.Float32bits(y[j]) != math.Float32bits(want[j]) {
				t.Fatalf("n=%d: y[%d] = %v, want %v", n, j, y[j], want[j])
			}
		}
	}
}
