//go:build (amd64 || arm64) && !purego

package sgemm

// copyRowsFull copies rows of w values from src (rows lds apart) to d (rows ldd
// apart): the packing of B and of transposed A, where each row of the source is cut into
// micro-panel rows. The Go compiler turns such loops into memmove calls or spills their
// counters; the assembly moves 16 bytes at a time.
func copyRowsFull(d []float32, ldd int, src []float32, lds, w, rows int) {
	if rows == 0 {
		return
	}
	_, _ = d[(rows-1)*ldd+w-1], src[(rows-1)*lds+w-1]
	copyRowsAsm(&d[0], ldd, &src[0], lds, w, rows)
}

// copyRowsAsm is copyRowsFull on raw pointers:
//
//	for p := 0; p < rows; p++ {
//		copy(d[p*ldd:p*ldd+w], src[p*lds:p*lds+w])
//	}
//
//go:noescape
func copyRowsAsm(d *float32, ldd int, src *float32, lds, w, rows int)
