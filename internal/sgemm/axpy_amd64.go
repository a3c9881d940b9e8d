//go:build !purego

package sgemm

// axpyAVX2 is kernel.axpy with AVX2 and FMA.
func axpyAVX2(alpha float32, x, y []float32) {
	if len(y) == 0 {
		return
	}
	_ = x[len(y)-1]
	axpyAVX2Asm(len(y), alpha, &x[0], &y[0])
}

// axpyAVX2Asm is axpyGo on raw pointers for n values: 32 per iteration in four ymm registers
// (the FMAs are independent, so the unrolling only saves loop overhead), then 8, then one.
//
//go:noescape
func axpyAVX2Asm(n int, alpha float32, x, y *float32)
