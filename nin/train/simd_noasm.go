//go:build !amd64 || purego

package train

// The complement of simd_amd64.go (amd64 && !purego): only amd64 has these in assembly,
// so arm64 is on this side of the tree's (amd64 || arm64) && !purego split.

// reluMaskRows is reluMaskRowsGo: where Go's loops are all there is.
func reluMaskRows(y, g []float32, rows, c int, p []float64) {
	reluMaskRowsGo(y, g, rows, c, p)
}

// maxArg is maxArgGo: where Go's loops are all there is.
func maxArg(dst []float32, idx []int32, src []float32, base int32) {
	maxArgGo(dst, idx, src, base)
}
