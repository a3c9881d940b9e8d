//go:build (!amd64 && !arm64) || purego

package sgemm

func copyRowsFull(d []float32, ldd int, src []float32, lds, w, rows int) {
	copyRowsGo(d, ldd, src, lds, w, rows)
}

func transpose4(d []float32, w int, src []float32, ld, kb int) { transpose4Go(d, w, src, ld, kb) }
