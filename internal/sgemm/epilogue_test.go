package sgemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBiasReLU checks biasReLU against its Go contract bit for bit, NaN and signed zeros
// included, for every tail of the vector loop, with and without bias and max.
func TestBiasReLU(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(-1)), 1e-40, -1e-40}
	for cols := 1; cols <= 35; cols++ {
		for _, rows := range []int{1, 3} {
			ldc := cols + 3
			c := make([]float32, (rows-1)*ldc+cols)
			for i := range c {
				c[i] = 2*rng.Float32() - 1
				if i%5 == 0 {
					c[i] = special[i/5%len(special)]
				}
			}
			bias := make([]float32, cols)
			for j := range bias {
				bias[j] = 2*rng.Float32() - 1
				if j%4 == 1 {
					bias[j] = special[j%len(special)]
				}
			}
			for _, b := range [][]float32{nil, bias} {
				for _, relu := range []bool{false, true} {
					got, want := slices.Clone(c), slices.Clone(c)
					biasReLU(got, ldc, rows, cols, b, relu)
					biasReLUGo(want, ldc, rows, cols, b, relu)
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("rows %d cols %d bias %v relu %v: c[%d] = %v, want %v", rows, cols, b != nil, relu, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestGemmBiasReLU checks that the epilogue, applied block by block inside the product, gives
// bit for bit what it gives applied to the finished product: every block of C gets it once,
// after its last k block, with the bias of its own columns, however C is split.
func TestGemmBiasReLU(t *testing.T) {
	defer func(w int) { minWork = w }(minWork)
	minWork = 1
	rng := rand.New(rand.NewPCG(23, 24))
	shapes := [][3]int{{1, 5, 7}, {3, 37, 9}, {17, 33, 13}, {37, 17, 300}, {50, 40, 33}}
	for _, kern := range testKernels(t) {
		for s, sh := range shapes {
			m, n, k := sh[0], sh[1], sh[2]
			tr := transposes[s%len(transposes)]
			bias := operand(rng, 1, n, n)
			for _, b := range [][]float32{nil, bias} {
				for _, relu := range []bool{false, true} {
					if b == nil && !relu {
						continue
					}
					for threads := 1; threads <= 3; threads++ {
						beta := betas[(s+threads)%len(betas)]
						p := newProblem(rng, tr[0], tr[1], m, n, k, 1, beta)
						want := slices.Clone(p.buf)
						gemm(&kern, threads, nil, p.transA, p.transB, m, n, k, p.a, p.lda, p.b, p.ldb, beta, want[cGuard:], p.ldc)
						biasReLUGo(want[cGuard:], p.ldc, m, n, b, relu)
						gemm(&kern, threads, &epilogue{bias: b, relu: relu}, p.transA, p.transB, m, n, k, p.a, p.lda, p.b, p.ldb, beta, p.c, p.ldc)
						name := fmt.Sprintf("%s %dx%dx%d threads %d bias %v relu %v", kern.name, m, n, k, threads, b != nil, relu)
						for i := range want {
							if math.Float32bits(p.buf[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s: element %d = %v, want %v", name, i-cGuard, p.buf[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}
