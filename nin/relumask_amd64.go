//go:build !purego

package nin

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
