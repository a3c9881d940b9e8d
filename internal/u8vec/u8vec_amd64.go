//go:build !purego

package u8vec

import "golang.org/x/sys/cpu"

var avx2Kernel = kernel{name: "avx2"}

// kernels lists the kernels this CPU runs, fastest first; tests try each.
var kernels = amd64Kernels()

func amd64Kernels() []*kernel {
	if cpu.X86.HasAVX2 {
		return []*kernel{&avx2Kernel, &goKernel}
	}
	return []*kernel{&goKernel}
}

// The assembly takes whole 16-element blocks; the Go loop finishes the tail.

func (k *kernel) max(dst, src []uint8) {
	n := 0
	if k == &avx2Kernel {
		if n = len(dst) &^ 15; n > 0 {
			maxAVX2(&dst[0], &src[0], n)
		}
	}
	maxGo(dst[n:], src[n:])
}

func (k *kernel) addWiden(acc []uint16, src []uint8) {
	n := 0
	if k == &avx2Kernel {
		if n = len(acc) &^ 15; n > 0 {
			addWidenAVX2(&acc[0], &src[0], n)
		}
	}
	addWidenGo(acc[n:], src[n:])
}

func (k *kernel) divRound(dst []uint8, sum []uint16, count int) {
	n := 0
	if k == &avx2Kernel {
		if n = len(dst) &^ 15; n > 0 {
			divRoundAVX2(&dst[0], &sum[0], n, count)
		}
	}
	divRoundGo(dst[n:], sum[n:], count)
}

// maxAVX2 is maxGo with VPMAXUB, 64 bytes a step; n is a multiple of 16.
//
//	for i < n: dst[i] = max(dst[i], src[i])
//
//go:noescape
func maxAVX2(dst, src *uint8, n int)

// addWidenAVX2 is addWidenGo with VPMOVZXBW and VPADDW, 32 bytes a step; n is a multiple
// of 16.
//
//	for i < n: acc[i] += uint16(src[i])
//
//go:noescape
func addWidenAVX2(acc *uint16, src *uint8, n int)

// divRoundAVX2 is divRoundGo in 16-bit lanes, 32 sums a step: with a = sum + count/2 and
// m = min(65535, 65536/count), q0 = (a·m)>>16 (VPMULHUW) is floor(a/count) or one less,
// since a·(65536 − m·count) < 65536·count; one compare of a − q0·count with count fixes it.
// n is a multiple of 16 and count is in [1, 256].
//
//	for i < n: dst[i] = uint8((sum[i] + count/2) / count)
//
//go:noescape
func divRoundAVX2(dst *uint8, sum *uint16, n, count int)
