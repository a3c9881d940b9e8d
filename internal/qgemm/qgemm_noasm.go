//go:build (!amd64 && !arm64) || purego

package qgemm

// kernels lists the kernels this CPU runs, fastest first; tests try each.
var kernels = []*kernel{&goKernel}

func (kn *kernel) gemm(a []uint8, lda int, w []byte, kk int, t []int32, accum bool) {
	kn.gemmGo(a, lda, w, kk, t, accum)
}

func (kn *kernel) requant(t []int32, rows int, p *Packed, j0 int, c []uint8, ldc int) {
	requantGo(t, rows, kn.nr, p, j0, c, ldc)
}
