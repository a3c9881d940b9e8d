package sgemm

// generic is the portable kernel: the only one where there is no assembly (other
// architectures, the purego tag) or the CPU lacks the instructions it needs, and the twin the
// assembly kernels are checked against.
var generic = kernel{
	name: "go4x8",
	mr:   4, nr: 8,
	mc: 64, kc: 256, nc: 1024,
	micro: func(k int, a []float32, rsA, csA int, b, c []float32, ldc int, beta float32) {
		microGo(4, 8, k, a, rsA, csA, b, c, ldc, beta)
	},
	strided: true,
	axpy:    axpyGo,
}

// microGo is the micro-kernel contract (see kernel.micro) in plain Go for any even mr and any
// nr that is a multiple of 4. It walks the tile in 2×4 blocks: eight accumulators fit the
// registers of every architecture, and each multiply-add needs less than one load.
func microGo(mr, nr, k int, a []float32, rsA, csA int, b, c []float32, ldc int, beta float32) {
	b = b[:k*nr]
	for i := 0; i < mr; i += 2 {
		for j := 0; j < nr; j += 4 {
			var c00, c01, c02, c03, c10, c11, c12, c13 float32
			for ia, ib := i*rsA, j; ib < len(b); ia, ib = ia+csA, ib+nr {
				x0, x1 := a[ia], a[ia+rsA]
				y := b[ib : ib+4 : ib+4]
				c00 += x0 * y[0]
				c01 += x0 * y[1]
				c02 += x0 * y[2]
				c03 += x0 * y[3]
				c10 += x1 * y[0]
				c11 += x1 * y[1]
				c12 += x1 * y[2]
				c13 += x1 * y[3]
			}
			store4(c[i*ldc+j:], beta, c00, c01, c02, c03)
			store4(c[(i+1)*ldc+j:], beta, c10, c11, c12, c13)
		}
	}
}

// store4 sets c[:4] = v + beta·c[:4], or v when beta is 0 so that NaN in c is overwritten.
func store4(c []float32, beta, v0, v1, v2, v3 float32) {
	c = c[:4]
	if beta == 0 {
		c[0], c[1], c[2], c[3] = v0, v1, v2, v3
		return
	}
	c[0] = v0 + beta*c[0]
	c[1] = v1 + beta*c[1]
	c[2] = v2 + beta*c[2]
	c[3] = v3 + beta*c[3]
}
