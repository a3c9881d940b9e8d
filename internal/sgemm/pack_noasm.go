//go:build (!amd64 && !arm64) || purego

package sgemm

// copyRowsFull copies rows of w values from src (rows lds apart) to d (rows ldd
// apart): the packing of B and of transposed A.
func copyRowsFull(d []float32, ldd int, src []float32, lds, w, rows int) {
	for p := 0; p < rows; p++ {
		copy(d[p*ldd:p*ldd+w], src[p*lds:p*lds+w])
	}
}
