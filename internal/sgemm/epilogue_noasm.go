//go:build !amd64 || purego

package sgemm

// biasReLU is biasReLUGo: where Go's loops are all there is.
func biasReLU(c []float32, ldc, rows, cols int, bias []float32, relu bool) {
	biasReLUGo(c, ldc, rows, cols, bias, relu)
}
