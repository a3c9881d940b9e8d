//go:build !purego

package qgemm

import "golang.org/x/sys/cpu"

var (
	vnniKernel = kernel{name: "avx512vnni", mr: 12, nr: 32, kstep: 4, layout: dot4, qorder: 16, hiShift: true, probe: peakVNNI, probeMACs: 12 * 64}
	avx2Kernel = kernel{name: "avx2", mr: 6, nr: 16, kstep: 4, layout: pairs16, qorder: 8, hiShift: true, probe: peakAVX2, probeMACs: 12 * 16}
	// avx2MaddubsKernel needs weights in [-64, 64]: VPMADDUBSW adds two u8×s8 products in a
	// saturating int16, exact while 255·(|b0|+|b1|) ≤ 32767. It does 32 products per
	// multiply instruction pair where avx2Kernel does 16 per VPMADDWD plus the shuffling to
	// widen activations, and reads half the weight bytes.
	avx2MaddubsKernel = kernel{name: "avx2-maddubs", mr: 6, nr: 16, kstep: 4, layout: dot4, qorder: 8, maxAbsB: 64, hiShift: true,
		probe: peakAVX2Maddubs, probeMACs: 12 * 32}
)

// kernels lists the kernels this CPU runs, fastest first; tests try each.
var kernels = amd64Kernels()

func amd64Kernels() []*kernel {
	var ks []*kernel
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VNNI {
		ks = append(ks, &vnniKernel)
	}
	if cpu.X86.HasAVX2 {
		ks = append(ks, &avx2MaddubsKernel, &avx2Kernel)
	}
	return append(ks, &goKernel)
}

func (kn *kernel) gemm(a []uint8, lda int, w []byte, kk int, t []int32, accum bool) {
	switch kn {
	case &vnniKernel:
		gemmVNNI(&a[0], lda, &w[0], kk, &t[0], accum)
	case &avx2Kernel:
		gemmAVX2(&a[0], lda, &w[0], kk, &t[0], accum)
	case &avx2MaddubsKernel:
		gemmAVX2Maddubs(&a[0], lda, &w[0], kk, &t[0], accum)
	default:
		kn.gemmGo(a, lda, w, kk, t, accum)
	}
}

func (kn *kernel) requant(t []int32, rows int, p *Packed, j0 int, c []uint8, ldc int) {
	switch kn {
	case &vnniKernel:
		if p.hi[j0/kn.nr] {
			requantAVX512Hi(&t[0], rows, kn.nr, &p.bias[j0], &p.mult[j0], &p.hrnd[j0], &p.hshift[j0], &c[0], ldc)
			return
		}
		requantAVX512(&t[0], rows, kn.nr, &p.bias[j0], &p.mult[j0], &p.qrnd[j0], &p.qshift[j0], &c[0], ldc)
	case &avx2Kernel, &avx2MaddubsKernel:
		if p.hi[j0/kn.nr] {
			requantAVX2Hi(&t[0], rows, kn.nr, &p.bias[j0], &p.mult[j0], &p.hrnd[j0], &p.hshift[j0], &c[0], ldc)
			return
		}
		requantAVX2(&t[0], rows, kn.nr, &p.bias[j0], &p.mult[j0], &p.qrnd[j0], &p.qshift[j0], &c[0], ldc)
	default:
		requantGo(t, rows, kn.nr, p, j0, c, ldc)
	}
}

// gemmVNNI is gemmGo for vnniKernel (12×32 tile, dot4 layout): per group of 4 k, each row's
// 4 activations are broadcast as one dword and VPDPBUSD adds the four u8×s8 products into
// each column's int32, with no intermediate saturation.
//
//	for r < 12, j < 32: t[r*32+j] = (accum ? t[r*32+j] : 0) + Σ_{k<kk} a[r*lda+k]·B[k][j]
//
//go:noescape
func gemmVNNI(a *uint8, lda int, w *byte, kk int, t *int32, accum bool)

// gemmAVX2 is gemmGo for avx2Kernel (6×16 tile, pairs16 layout). VPMADDUBSW would saturate
// (255·127·2 > 32767), so the activations are widened to int16 and VPMADDWD sums exact pairs
// into int32.
//
//	for r < 6, j < 16: t[r*16+j] = (accum ? t[r*16+j] : 0) + Σ_{k<kk} a[r*lda+k]·B[k][j]
//
//go:noescape
func gemmAVX2(a *uint8, lda int, w *byte, kk int, t *int32, accum bool)

// gemmAVX2Maddubs is gemmGo for avx2MaddubsKernel (6×16 tile, dot4 layout, weights in
// [-64, 64]): per group of 4 k, VPMADDUBSW makes int16 pair sums of each row's broadcast
// activations times each column's dword, and VPMADDWD by ones adds the pairs into int32.
//
//	for r < 6, j < 16: t[r*16+j] = (accum ? t[r*16+j] : 0) + Σ_{k<kk} a[r*lda+k]·B[k][j]
//
//go:noescape
func gemmAVX2Maddubs(a *uint8, lda int, w *byte, kk int, t *int32, accum bool)

// requantAVX512 is requantGo with 16 lanes; nr is a multiple of 16 and rnd, shift are in
// qorder 16.
//
//	for r < rows, j < nr: c[r*ldc+j] = Requantize(t[r*nr+j]+bias[j], mult[j], shift[j])
//
//go:noescape
func requantAVX512(t *int32, rows, nr int, bias, mult *int32, rnd, shift *int64, c *uint8, ldc int)

// requantAVX512Hi is requantGo with 16 lanes for a panel whose shifts are all at least 33
// (Packed.hi); nr is a multiple of 16, rnd holds 2^(shift−33) and shift holds shift−32, in
// natural order.
//
//	for r < rows, j < nr: c[r*ldc+j] = Requantize(t[r*nr+j]+bias[j], mult[j], shift[j])
//
//go:noescape
func requantAVX512Hi(t *int32, rows, nr int, bias, mult, rnd, shift *int32, c *uint8, ldc int)

// requantAVX2Hi is requantAVX512Hi with 8 lanes.
//
//	for r < rows, j < nr: c[r*ldc+j] = Requantize(t[r*nr+j]+bias[j], mult[j], shift[j])
//
//go:noescape
func requantAVX2Hi(t *int32, rows, nr int, bias, mult, rnd, shift *int32, c *uint8, ldc int)

// requantAVX2 is requantGo with 8 lanes; nr is a multiple of 8 and rnd, shift are in
// qorder 8.
//
//	for r < rows, j < nr: c[r*ldc+j] = Requantize(t[r*nr+j]+bias[j], mult[j], shift[j])
//
//go:noescape
func requantAVX2(t *int32, rows, nr int, bias, mult *int32, rnd, shift *int64, c *uint8, ldc int)

// The peak probes, each the inner multiply-accumulate of a kernel on registers only (see
// kernel.probe).
func peakAVX2(n int)
func peakAVX2Maddubs(n int)
func peakVNNI(n int)
