//go:build !purego

package sgemm

// neon is the kernel of every arm64 CPU (NEON is part of the architecture). The blocking
// follows BLIS's for Cortex-A cores: a kc×nr micro-panel of B (16 KiB) fits L1, an mc×kc block
// of A (240 KiB) about half of L2. The kernel takes A packed: FMLA by element multiplies by a
// lane of a vector register, which a contiguous load of 12 values fills at once.
var neon = kernel{
	name: "neon-12x8",
	mr:   12, nr: 8,
	mc: 120, kc: 512, nc: 3072,
	micro: func(k int, a []float32, rsA, csA int, b, c []float32, ldc int, beta float32) {
		if rsA != 1 || csA != 12 {
			panic("sgemm: the NEON kernel reads packed A only")
		}
		_, _, _ = a[12*k-1], b[8*k-1], c[11*ldc+7]
		micro12x8NEON(k, &a[0], &b[0], &c[0], ldc, beta)
	},
	axpy: axpyNEON,
}

// kernels lists the kernels this CPU can run, fastest first; Gemm uses the first.
var kernels = []kernel{neon, generic}

// micro12x8NEON is kernel.micro for a 12×8 tile, k ≥ 1, with ldc in elements:
//
//	for i := 0; i < 12; i++ {
//		for j := 0; j < 8; j++ {
//			var s float32
//			for p := 0; p < k; p++ {
//				s += a[p*12+i] * b[p*8+j]
//			}
//			if beta == 0 {
//				c[i*ldc+j] = s
//			} else {
//				c[i*ldc+j] = s + beta*c[i*ldc+j]
//			}
//		}
//	}
//
// 24 of the 32 vector registers hold the tile; each p loads three vectors of A and two of B
// and issues 24 FMLAs by element, which multiply by one lane of A without a broadcast.
//
//go:noescape
func micro12x8NEON(k int, a, b, c *float32, ldc int, beta float32)
