//go:build !purego

package sgemm

import "golang.org/x/sys/cpu"

// biasReLU is biasReLUGo with AVX where the CPU has it (Go's scalar max alone costs several
// instructions a value).
func biasReLU(c []float32, ldc, rows, cols int, bias []float32, relu bool) {
	if !cpu.X86.HasAVX {
		biasReLUGo(c, ldc, rows, cols, bias, relu)
		return
	}
	_ = c[(rows-1)*ldc+cols-1]
	var b *float32
	if bias != nil {
		b = &bias[:cols][0]
	}
	biasReLUAVX(&c[0], ldc, rows, cols, b, relu)
}

// biasReLUAVX is biasReLUGo on raw pointers, rows and cols ≥ 1; b nil means no bias.
//
//go:noescape
func biasReLUAVX(c *float32, ldc, rows, cols int, b *float32, relu bool)
