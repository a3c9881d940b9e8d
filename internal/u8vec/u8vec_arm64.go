//go:build !purego

package u8vec

// neonKernel needs only Advanced SIMD, which every arm64 core has.
var neonKernel = kernel{name: "neon"}

// kernels lists the kernels this CPU runs, fastest first; tests try each.
var kernels = []*kernel{&neonKernel, &goKernel}

// The assembly takes whole 16-element blocks; the Go loop finishes the tail.

func (k *kernel) max(dst, src []uint8) {
	n := 0
	if k == &neonKernel {
		if n = len(dst) &^ 15; n > 0 {
			maxNEON(&dst[0], &src[0], n)
		}
	}
	maxGo(dst[n:], src[n:])
}

func (k *kernel) addWiden(acc []uint16, src []uint8) {
	n := 0
	if k == &neonKernel {
		if n = len(acc) &^ 15; n > 0 {
			addWidenNEON(&acc[0], &src[0], n)
		}
	}
	addWidenGo(acc[n:], src[n:])
}

func (k *kernel) divRound(dst []uint8, sum []uint16, count int) {
	n := 0
	if k == &neonKernel {
		if n = len(dst) &^ 15; n > 0 {
			divRoundNEON(&dst[0], &sum[0], n, count)
		}
	}
	divRoundGo(dst[n:], sum[n:], count)
}

// maxNEON is maxGo with UMAX, 64 bytes a step; n is a multiple of 16.
//
//	for i < n: dst[i] = max(dst[i], src[i])
//
//go:noescape
func maxNEON(dst, src *uint8, n int)

// addWidenNEON is addWidenGo with UADDW/UADDW2, 16 bytes a step; n is a multiple of 16.
//
//	for i < n: acc[i] += uint16(src[i])
//
//go:noescape
func addWidenNEON(acc *uint16, src *uint8, n int)

// divRoundNEON is divRoundGo in 16-bit lanes, 16 sums a step: with a = sum + count/2 and
// m = min(65535, 65536/count), q0 = (a·m)>>16 (UMULL, then UZP2 keeps the high halves) is
// floor(a/count) or one less, since a·(65536 − m·count) < 65536·count; one compare of
// a − q0·count with count fixes it. n is a multiple of 16 and count is in [1, 256].
//
//	for i < n: dst[i] = uint8((sum[i] + count/2) / count)
//
//go:noescape
func divRoundNEON(dst *uint8, sum *uint16, n, count int)
