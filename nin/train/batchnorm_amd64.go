//go:build !purego

package train

import "golang.org/x/sys/cpu"

// The batch-norm passes over rows×c values (row stride c): AVX2 for the first c&^7 channels
// where the CPU has it (and, for the three that mask, where a ReLU follows), their Go
// contracts for the rest.

func bnStats(z []float32, rows, c int, s, sq []float64) {
	c8 := vectorChannels(rows, c)
	if c8 > 0 {
		_, _, _ = z[rows*c-1], s[c8-1], sq[c8-1]
		bnStatsAVX2(&z[0], rows, c8, c, &s[0], &sq[0])
	}
	if c8 < c {
		bnStatsGo(z[c8:], rows, c-c8, c, s[c8:], sq[c8:])
	}
}

func bnApply(z, y []float32, rows, c int, scale, shift []float32, relu bool) {
	c8 := 0
	if relu { // the kernels mask unconditionally
		c8 = vectorChannels(rows, c)
	}
	if c8 > 0 {
		_, _, _, _ = z[rows*c-1], y[rows*c-1], scale[c8-1], shift[c8-1]
		bnApplyReLUAVX2(&z[0], &y[0], rows, c8, c, &scale[0], &shift[0])
	}
	if c8 < c {
		bnApplyGo(z[c8:], y[c8:], rows, c-c8, c, scale[c8:], shift[c8:], relu)
	}
}

func bnGradStats(z, dy []float32, rows, c int, bn *batchNorm, relu bool, sg, sgx []float64) {
	scale, shift, mean, invStd := bn.scale[:c], bn.shift[:c], bn.mean[:c], bn.invStd[:c]
	c8 := 0
	if relu { // the kernels mask unconditionally
		c8 = vectorChannels(rows, c)
	}
	if c8 > 0 {
		_, _, _, _ = z[rows*c-1], dy[rows*c-1], sg[c8-1], sgx[c8-1]
		bnGradStatsReLUAVX2(&z[0], &dy[0], rows, c8, c, &scale[0], &shift[0], &mean[0], &invStd[0], &sg[0], &sgx[0])
	}
	if c8 < c {
		bnGradStatsGo(z[c8:], dy[c8:], rows, c-c8, c, scale[c8:], shift[c8:], mean[c8:], invStd[c8:], relu, sg[c8:], sgx[c8:])
	}
}

func bnGradApply(z, dy []float32, rows, c int, bn *batchNorm, relu bool) {
	scale, shift, a, k, m := bn.scale[:c], bn.shift[:c], bn.coef[:c], bn.coef[c:2*c], bn.coef[2*c:3*c]
	c8 := 0
	if relu { // the kernels mask unconditionally
		c8 = vectorChannels(rows, c)
	}
	if c8 > 0 {
		_, _ = z[rows*c-1], dy[rows*c-1]
		bnGradApplyReLUAVX2(&z[0], &dy[0], rows, c8, c, &scale[0], &shift[0], &a[0], &k[0], &m[0])
	}
	if c8 < c {
		bnGradApplyGo(z[c8:], dy[c8:], rows, c-c8, c, scale[c8:], shift[c8:], a[c8:], k[c8:], m[c8:], relu)
	}
}

// vectorChannels is how many leading channels the AVX2 kernels take: whole groups of eight,
// none without AVX2 or rows.
func vectorChannels(rows, c int) int {
	if !cpu.X86.HasAVX2 || rows == 0 {
		return 0
	}
	return c &^ 7
}

// bnStatsAVX2 is bnStatsGo for c8 channels, a positive multiple of 8, and rows ≥ 1.
//
//go:noescape
func bnStatsAVX2(z *float32, rows, c8, stride int, s, sq *float64)

// bnApplyReLUAVX2 is bnApplyGo with relu for c8 channels, a positive multiple of 8, and rows ≥ 1.
//
//go:noescape
func bnApplyReLUAVX2(z, y *float32, rows, c8, stride int, scale, shift *float32)

// bnGradStatsReLUAVX2 is bnGradStatsGo with relu for c8 channels, a positive multiple of 8, and rows ≥ 1.
//
//go:noescape
func bnGradStatsReLUAVX2(z, dy *float32, rows, c8, stride int, scale, shift, mean, invStd *float32, sg, sgx *float64)

// bnGradApplyReLUAVX2 is bnGradApplyGo with relu for c8 channels, a positive multiple of 8, and rows ≥ 1.
//
//go:noescape
func bnGradApplyReLUAVX2(z, dy *float32, rows, c8, stride int, scale, shift, a, k, m *float32)
