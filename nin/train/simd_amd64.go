//go:build !purego

package train

import "golang.org/x/sys/cpu"

// reluMaskRows is reluMaskRowsGo with AVX2, where the CPU has it.
func reluMaskRows(y, g []float32, rows, c int, p []float64) {
	if !cpu.X86.HasAVX2 || rows == 0 || c == 0 {
		reluMaskRowsGo(y, g, rows, c, p)
		return
	}
	_, _, _ = y[rows*c-1], g[rows*c-1], p[c-1]
	reluMaskRowsAVX2(&y[0], &g[0], rows, c, &p[0])
}

// reluMaskRowsAVX2 is reluMaskRowsGo on raw pointers, rows and c ≥ 1.
//
//go:noescape
func reluMaskRowsAVX2(y, dy *float32, rows, c int, p *float64)

// maxArg is maxArgGo with AVX2 for whole groups of eight channels, where the CPU has it.
func maxArg(dst []float32, idx []int32, src []float32, base int32) {
	n8 := len(dst) &^ 7
	if !cpu.X86.HasAVX2 || n8 == 0 {
		maxArgGo(dst, idx, src, base)
		return
	}
	_, _ = idx[n8-1], src[n8-1]
	maxArgAVX2(&dst[0], &idx[0], &src[0], n8, base)
	maxArgGo(dst[n8:], idx[n8:], src[n8:], base+int32(n8))
}

// maxArgAVX2 is maxArgGo on raw pointers for n values, n a positive multiple of 8.
//
//go:noescape
func maxArgAVX2(dst *float32, idx *int32, src *float32, n int, base int32)
