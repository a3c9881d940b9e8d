//go:build !purego

package sgemm

import "golang.org/x/sys/cpu"

// The blockings keep a kc×nr micro-panel of B (16 KiB) in half of a 32 KiB L1 and an mc×kc
// block of A (144 KiB, 120 KiB) in well under half of L2 (512 KiB on Zen 3).
var (
	avx2 = kernel{
		name: "avx2-6x16",
		mr:   6, nr: 16,
		mc: 144, kc: 256, nc: 4080,
		micro: func(k int, a []float32, rsA, csA int, b, c []float32, ldc int, beta float32) {
			_, _, _ = a[5*rsA+(k-1)*csA], b[16*k-1], c[5*ldc+15]
			micro6x16AVX2(k, &a[0], rsA, csA, &b[0], &c[0], ldc, beta)
		},
		strided: true,
		axpy:    axpyAVX2,
	}
	avx512 = kernel{
		name: "avx512-12x32",
		mr:   12, nr: 32,
		mc: 240, kc: 128, nc: 3072,
		micro: func(k int, a []float32, rsA, csA int, b, c []float32, ldc int, beta float32) {
			_, _, _ = a[11*rsA+(k-1)*csA], b[32*k-1], c[11*ldc+31]
			micro12x32AVX512(k, &a[0], rsA, csA, &b[0], &c[0], ldc, beta)
		},
		strided: true,
		axpy:    axpyAVX2, // every CPU with AVX-512 has AVX2 and FMA
	}
)

// kernels lists the kernels this CPU can run, fastest first; Gemm uses the first.
var kernels = func() []kernel {
	var ks []kernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, avx512)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, avx2)
	}
	return append(ks, generic)
}()

// micro6x16AVX2 is kernel.micro for a 6×16 tile, k ≥ 1, with strides in elements:
//
//	for i := 0; i < 6; i++ {
//		for j := 0; j < 16; j++ {
//			var s float32
//			for p := 0; p < k; p++ {
//				s += a[i*rsA+p*csA] * b[p*16+j]
//			}
//			if beta == 0 {
//				c[i*ldc+j] = s
//			} else {
//				c[i*ldc+j] = s + beta*c[i*ldc+j]
//			}
//		}
//	}
//
// Twelve ymm registers hold the tile; each p loads two vectors of B, broadcasts six values
// of A and issues twelve FMAs, enough independent ones to keep both FMA pipes busy. A is only
// read by broadcasts of single values, so any strides cost the same.
//
//go:noescape
func micro6x16AVX2(k int, a *float32, rsA, csA int, b, c *float32, ldc int, beta float32)

// micro12x32AVX512 is micro6x16AVX2 for a 12×32 tile in 24 zmm registers (i < 12, b[p*32+j]).
//
//go:noescape
func micro12x32AVX512(k int, a *float32, rsA, csA int, b, c *float32, ldc int, beta float32)
