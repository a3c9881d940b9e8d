package qgemm

import "github.com/ninedge/ninedge/quant/fixedpoint"

// goKernel is the portable kernel: its assembly is its twin.
var goKernel = kernel{name: "go", mr: 4, nr: 8, kstep: 4, layout: dot4}

// gemmGo is the Go twin of the kernel's assembly. For r < mr, j < nr:
//
//	t[r*nr+j] = (t[r*nr+j] if accum, else 0) + Σ_{k<kk} a'[r*lda+k]·B[k][j]
//
// where B is the panel in w and a' is a, or a−128 for a signedA kernel. kk is a multiple of
// kstep.
func (kn *kernel) gemmGo(a []uint8, lda int, w []byte, kk int, t []int32, accum bool) {
	mr, nr := kn.mr, kn.nr
	off := int32(0)
	if kn.signedA {
		off = 128
	}
	if !accum {
		clear(t[:mr*nr])
	}
	for r := range mr {
		row := a[r*lda : r*lda+kk]
		acc := t[r*nr : r*nr+nr]
		if kn.layout != dot4 {
			for k, av := range row {
				x := int32(av) - off
				for j := range acc {
					acc[j] += x * kn.layout.get(w, nr, k, j)
				}
			}
			continue
		}
		// dot4 is also the portable kernel's layout, so it gets a loop that reads each
		// column's dword once per 4 k rather than decoding element by element.
		for g := 0; g < kk; g += 4 {
			a0, a1, a2, a3 := int32(row[g])-off, int32(row[g+1])-off, int32(row[g+2])-off, int32(row[g+3])-off
			bw := w[g*nr : g*nr+4*nr]
			for j := range acc {
				b := bw[4*j : 4*j+4]
				acc[j] += a0*int32(int8(b[0])) + a1*int32(int8(b[1])) + a2*int32(int8(b[2])) + a3*int32(int8(b[3]))
			}
		}
	}
}

// requantGo is the Go twin of the kernels' vectorized requantization: for r < rows, j < nr,
// c[r*ldc+j] = Requantize(t[r*nr+j] + bias[j0+j], mult[j0+j], shift[j0+j]).
func requantGo(t []int32, rows, nr int, p *Packed, j0 int, c []uint8, ldc int) {
	for r := range rows {
		for j := range nr {
			c[r*ldc+j] = fixedpoint.Requantize(t[r*nr+j]+p.bias[j0+j], p.mult[j0+j], p.shift[j0+j])
		}
	}
}
