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

// transpose4 sets d[p*w+r] = src[r*ld+p] for r < 4 and p < kb: four columns of a micro-panel
// from four rows of a transposed source (B when transB, A for a packing kernel). The
// assembly turns blocks of 4×4 values around in registers, where Go moves one value at a time.
func transpose4(d []float32, w int, src []float32, ld, kb int) {
	kb4 := kb &^ 3
	if kb4 > 0 {
		_, _ = d[(kb4-1)*w+3], src[3*ld+kb4-1]
		transpose4Asm(&d[0], w, &src[0], ld, kb4)
	}
	for p := kb4; p < kb; p++ {
		d[p*w], d[p*w+1], d[p*w+2], d[p*w+3] = src[p], src[ld+p], src[2*ld+p], src[3*ld+p]
	}
}

// transpose4Asm is transpose4 on raw pointers, for kb a multiple of 4:
//
//	for p := 0; p < kb; p++ {
//		for r := 0; r < 4; r++ {
//			d[p*w+r] = src[r*ld+p]
//		}
//	}
//
//go:noescape
func transpose4Asm(d *float32, w int, src *float32, ld, kb int)
