//go:build !purego

package qgemm

import "golang.org/x/sys/cpu"

var (
	sdotKernel = kernel{name: "sdot", mr: 8, nr: 8, kstep: 16, layout: dot4, signedA: true, qorder: -1, probe: peakSDOT, probeMACs: 16 * 16}
	neonKernel = kernel{name: "neon", mr: 8, nr: 8, kstep: 8, layout: rows16, qorder: -1, probe: peakNEON, probeMACs: 16 * 4}
)

// kernels lists the kernels this CPU runs, fastest first; tests try each. Advanced SIMD is
// part of every arm64 core; the dot product (Cortex-A76 and later: Pi 5, Jetson Orin) is not
// (Cortex-A72: Pi 4).
var kernels = arm64Kernels()

func arm64Kernels() []*kernel {
	var ks []*kernel
	if cpu.ARM64.HasASIMDDP {
		ks = append(ks, &sdotKernel)
	}
	return append(ks, &neonKernel, &goKernel)
}

func (kn *kernel) gemm(a []uint8, lda int, w []byte, kk int, t []int32, accum bool) {
	switch kn {
	case &sdotKernel:
		gemmSDOT(&a[0], lda, &w[0], kk, &t[0], accum)
	case &neonKernel:
		gemmNEON(&a[0], lda, &w[0], kk, &t[0], accum)
	default:
		kn.gemmGo(a, lda, w, kk, t, accum)
	}
}

func (kn *kernel) requant(t []int32, rows int, p *Packed, j0 int, c []uint8, ldc int) {
	if kn == &goKernel {
		requantGo(t, rows, kn.nr, p, j0, c, ldc)
		return
	}
	requantNEON(&t[0], rows, kn.nr, &p.bias[j0], &p.mult[j0], &p.qshift[j0], &c[0], ldc)
}

// gemmSDOT is gemmGo for sdotKernel (8×8 tile, dot4 layout, signedA). Per 16 k, each row's
// activations are loaded once and flipped to a−128 (an int8) with one EOR; SDOT by element
// then adds 4 products of a column's dword by one 4-byte lane into each column's int32.
//
//	for r < 8, j < 8: t[r*8+j] = (accum ? t[r*8+j] : 0) + Σ_{k<kk} (a[r*lda+k]−128)·B[k][j]
//
//go:noescape
func gemmSDOT(a *uint8, lda int, w *byte, kk int, t *int32, accum bool)

// gemmNEON is gemmGo for neonKernel (8×8 tile, rows16 layout). Per 8 k, each row's
// activations are widened to int16 once; SMLAL/SMLAL2 by element then add a row of 8 int16
// weights times one activation into the int32 sums (255·128 fits int16×int16 exactly).
//
//	for r < 8, j < 8: t[r*8+j] = (accum ? t[r*8+j] : 0) + Σ_{k<kk} a[r*lda+k]·B[k][j]
//
//go:noescape
func gemmNEON(a *uint8, lda int, w *byte, kk int, t *int32, accum bool)

// requantNEON is requantGo with 8 columns at a time; nr is a multiple of 8 and nshift holds
// −shift (qorder −1), for URSHL's rounding right shift, which adds 2^(s−1) exactly as
// Requantize does.
//
//	for r < rows, j < nr: c[r*ldc+j] = Requantize(t[r*nr+j]+bias[j], mult[j], −nshift[j])
//
//go:noescape
func requantNEON(t *int32, rows, nr int, bias, mult *int32, nshift *int64, c *uint8, ldc int)

// The peak probes, each the inner multiply-accumulate of a kernel on registers only (see
// kernel.probe).
func peakSDOT(n int)
func peakNEON(n int)
