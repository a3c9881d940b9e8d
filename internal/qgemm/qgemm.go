// Package qgemm multiplies uint8 activations by packed int8 weights and requantizes the int32
// sums to uint8 in the same pass: the inner loop of every NIN convolution on the CPU.
//
// The weights are packed once, in the layout of the fastest kernel this CPU runs (chosen at
// start-up from golang.org/x/sys/cpu), together with each column's output stage. Every kernel
// is exact: the result is fixedpoint.Requantize of the true int32 sum, bit for bit, whichever
// kernel runs. Build with the purego tag to force the portable Go kernel.
package qgemm

import (
	"fmt"

	"github.com/ninedge/ninedge/quant/fixedpoint"
)

// Packed holds an int8 weight matrix B (K×N) in the kernel's layout, with each column's
// output stage: int32 bias, fixed-point multiplier and right shift.
type Packed struct {
	k, n int
	kern *kernel
	kpad int // K rounded up to kern.kstep; B is zero in the padding

	// w holds B panel by panel: panel q (columns q·nr … q·nr+nr-1) takes nr·kpad elements of
	// kern.layout's element size, starting at q·nr·kpad elements.
	w []byte

	// Output stage, padded to whole panels. bias includes what the kernel's arithmetic needs
	// folded in (see kernel.signedA); qrnd and qshift are in the order the kernel's vector
	// requantization wants (see kernel.qorder).
	bias, mult, shift []int32
	qrnd, qshift      []int64
	// hi says, per panel, that all its shifts are at least 33, so that a kernel with hiShift
	// requantizes it from hrnd (2^(shift−33)) and hshift (shift−32), in natural order.
	hi           []bool
	hrnd, hshift []int32

	// The unpacked inputs, kept for RunRef so that the oracle shares no code with Pack.
	refB    []int8
	refBias []int32
}

// Pack packs B (k×n, row-major: B[k][j] = b[k*n+j]) and the per-column output stage for the
// fastest kernel this CPU runs on these weights. Any int8 weight is exact (NIN's quantizer
// emits [-127, 127], or [-63, 63] for 7-bit weights, which some kernels run faster). Each mult
// must be non-negative and each shift in [1, fixedpoint.MaxShift], as fixedpoint.Multiplier
// produces them.
func Pack(k, n int, b []int8, bias, mult, shift []int32) *Packed {
	return pack(kernelFor(b[:min(len(b), max(k*n, 0))]), k, n, b, bias, mult, shift)
}

// kernelFor returns the first (fastest) kernel this CPU runs that is exact on weights b.
func kernelFor(b []int8) *kernel {
	for _, kn := range kernels {
		if kn.accepts(b) {
			return kn
		}
	}
	panic("qgemm: no kernel accepts these weights") // goKernel, always last, accepts any
}

// Kernel names the kernel that Run uses on this CPU for weights of the full int8 range:
// "avx512vnni", "avx2", "sdot", "neon" or "go". Packed.Kernel says which one a matrix got.
func Kernel() string {
	for _, kn := range kernels {
		if kn.maxAbsB == 0 {
			return kn.name
		}
	}
	panic("qgemm: no general kernel") // goKernel is always last
}

// Kernel names the kernel this matrix was packed for.
func (p *Packed) Kernel() string { return p.kern.name }

// K returns the inner dimension: the number of activations per output row.
func (p *Packed) K() int { return p.k }

// N returns the number of output columns.
func (p *Packed) N() int { return p.n }

func pack(kn *kernel, k, n int, b []int8, bias, mult, shift []int32) *Packed {
	if k < 1 || n < 1 {
		panic(fmt.Sprintf("qgemm: Pack of a %d×%d matrix", k, n))
	}
	if len(b) < k*n || len(bias) < n || len(mult) < n || len(shift) < n {
		panic("qgemm: Pack: slice shorter than the matrix")
	}
	if !kn.accepts(b[:k*n]) {
		panic(fmt.Sprintf("qgemm: kernel %s cannot run weights beyond ±%d exactly", kn.name, kn.maxAbsB))
	}
	for j := range n {
		if mult[j] < 0 || shift[j] < 1 || shift[j] > fixedpoint.MaxShift {
			panic(fmt.Sprintf("qgemm: column %d: multiplier %d, shift %d out of range", j, mult[j], shift[j]))
		}
	}
	nr := kn.nr
	kpad := roundUp(k, kn.kstep)
	npad := roundUp(n, nr)
	p := &Packed{
		k: k, n: n, kern: kn, kpad: kpad,
		w:       make([]byte, npad*kpad*kn.layout.size()),
		bias:    make([]int32, npad),
		mult:    make([]int32, npad),
		shift:   make([]int32, npad),
		refB:    append([]int8(nil), b[:k*n]...),
		refBias: append([]int32(nil), bias[:n]...),
	}
	for j := range npad {
		p.shift[j] = 1 // padding columns requantize to 0 and are never stored
	}
	copy(p.mult, mult[:n])
	copy(p.shift, shift[:n])
	copy(p.bias, bias[:n])
	for j := range n {
		q, jj := j/nr, j%nr
		panel := p.w[q*nr*kpad*kn.layout.size():]
		var colSum int32
		for kk := range k {
			v := b[kk*n+j]
			colSum += int32(v)
			kn.layout.put(panel, nr, kk, jj, v)
		}
		if kn.signedA {
			// The kernel multiplies a−128 (an int8) by B, so Σ a·B = Σ (a−128)·B + 128·Σ B.
			p.bias[j] += 128 * colSum
		}
	}
	p.hi = make([]bool, npad/nr)
	if kn.hiShift {
		p.hrnd = make([]int32, npad)
		p.hshift = make([]int32, npad)
		for q := range p.hi {
			p.hi[q] = true
			for j := q * nr; j < (q+1)*nr; j++ {
				s := p.shift[j]
				if j < n && s < 33 {
					p.hi[q] = false
				}
				if s >= 33 {
					p.hrnd[j], p.hshift[j] = 1<<(s-33), s-32
				} else {
					p.hshift[j] = 31 // padding (shift 1, multiplier 0): requantizes to 0 either way
				}
			}
		}
	}
	if kn.qorder != 0 {
		p.qrnd = make([]int64, npad)
		p.qshift = make([]int64, npad)
		for j := range npad {
			s := int64(p.shift[j])
			pos := kn.qpos(j)
			p.qrnd[pos] = 1 << (s - 1)
			p.qshift[pos] = s
			if kn.qorder < 0 {
				p.qshift[pos] = -s
			}
		}
	}
	return p
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// checkArgs panics unless Run's operands cover m rows.
func (p *Packed) checkArgs(m int, a []uint8, lda int, c []uint8, ldc int) {
	if m < 0 || lda < p.k || ldc < p.n {
		panic(fmt.Sprintf("qgemm: Run(m=%d, lda=%d, ldc=%d) with K=%d, N=%d", m, lda, ldc, p.k, p.n))
	}
	if m > 0 && (len(a) < (m-1)*lda+p.k || len(c) < (m-1)*ldc+p.n) {
		panic(fmt.Sprintf("qgemm: Run: a (%d bytes) or c (%d bytes) too short for %d rows", len(a), len(c), m))
	}
}

// RunRef is the naive oracle for Run: the same result, computed one output at a time from the
// unpacked weights with int32 arithmetic.
func (p *Packed) RunRef(m int, a []uint8, lda int, c []uint8, ldc int) {
	p.checkArgs(m, a, lda, c, ldc)
	for i := range m {
		for j := range p.n {
			acc := p.refBias[j]
			for k := range p.k {
				acc += int32(a[i*lda+k]) * int32(p.refB[k*p.n+j])
			}
			c[i*ldc+j] = fixedpoint.Requantize(acc, p.mult[j], p.shift[j])
		}
	}
}

const (
	// kChunk is how many k a copied block holds at a time; a multiple of every kstep.
	kChunk = 256
	// maxMR and maxTile bound every kernel's tile, so that Run's buffers live on its stack.
	maxMR   = 12
	maxTile = 12 * 32
)

// Run computes, for rows i in [0, m) and columns j in [0, N):
//
//	c[i*ldc+j] = fixedpoint.Requantize(Σ_k a[i*lda+k]·B[k][j] + bias[j], mult[j], shift[j])
//
// It writes nothing else in c, allocates nothing, and may run concurrently with other calls
// on the same Packed (the caller splits M over goroutines by passing disjoint row ranges).
// Kernels read activations in groups of up to 16 bytes, so Run may read a few bytes of a past
// a row's K (padding, or the next row) where a has them; their values never matter, and a
// needs no padding.
func (p *Packed) Run(m int, a []uint8, lda int, c []uint8, ldc int) {
	p.checkArgs(m, a, lda, c, ldc)
	if m == 0 {
		return
	}
	kn := p.kern
	mr, nr := kn.mr, kn.nr
	var tile [maxTile]int32
	var edge [maxTile]uint8
	t := tile[:mr*nr]

	// Kernels read each row in whole kstep groups, kpad bytes in all. B is zero past K, so the
	// bytes read there only need to exist: rows [0, direct) can be read in place, the rest
	// (only ever the last few, when K is not a multiple of kstep) are copied first.
	direct := m
	if (m-1)*lda+p.kpad > len(a) {
		direct = 0
		if len(a) >= p.kpad {
			direct = (len(a)-p.kpad)/lda + 1
		}
	}
	panelBytes := nr * p.kpad * kn.layout.size()
	for j0 := 0; j0 < p.n; j0 += nr {
		w := p.w[j0/nr*panelBytes:]
		for i0 := 0; i0 < m; i0 += mr {
			// A short last block overlaps its predecessor instead: recomputing a few rows
			// keeps every block a full tile for the kernel.
			i, rows := i0, mr
			if i0+mr > m {
				if m >= mr {
					i = m - mr
				} else {
					rows = m - i0
				}
			}
			if rows == mr && i+mr <= direct {
				kn.gemm(a[i*lda:], lda, w, p.kpad, t, false)
			} else {
				p.gemmCopied(a[i*lda:], lda, rows, w, t)
			}
			if j0+nr <= p.n {
				kn.requant(t, rows, p, j0, c[i*ldc+j0:], ldc)
				continue
			}
			// The last panel is partly padding: requantize it aside and copy the real columns.
			kn.requant(t, rows, p, j0, edge[:], nr)
			for r := range rows {
				copy(c[(i+r)*ldc+j0:(i+r)*ldc+p.n], edge[r*nr:])
			}
		}
	}
}

// gemmCopied runs the kernel on rows rows of a (fewer than mr, or too close to the end of a to
// be read in place) by copying them, kChunk columns at a time, into a buffer on the stack.
func (p *Packed) gemmCopied(a []uint8, lda, rows int, w []byte, t []int32) {
	kn := p.kern
	var buf [maxMR * kChunk]uint8
	esize := kn.layout.size()
	for k0 := 0; k0 < p.kpad; k0 += kChunk {
		kc := min(kChunk, p.kpad-k0)
		hi := min(k0+kc, p.k)
		for r := range rows {
			// Bytes past K and rows past rows keep stale values: they meet zero weights or
			// land in tile rows that are never stored.
			copy(buf[r*kChunk:], a[r*lda+k0:r*lda+hi])
		}
		kn.gemm(buf[:], kChunk, w[k0*kn.nr*esize:], kc, t, k0 > 0)
	}
}
