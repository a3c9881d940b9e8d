//go:build !purego

package sgemm

// axpyNEON is kernel.axpy with NEON.
func axpyNEON(alpha float32, x, y []float32) {
	if len(y) == 0 {
		return
	}
	_ = x[len(y)-1]
	axpyNEONAsm(len(y), alpha, &x[0], &y[0])
}

// axpyNEONAsm is axpyGo on raw pointers for n values: 16 per iteration in four vector
// registers, then 4, then one.
//
//go:noescape
func axpyNEONAsm(n int, alpha float32, x, y *float32)
