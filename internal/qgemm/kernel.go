package qgemm

// A kernel computes mr×nr int32 tiles of A·B from one panel of packed B, and requantizes them.
// Each assembly kernel has a Go twin over the same layout (gemmGo), which the portable build
// runs and the tests compare the assembly against.
type kernel struct {
	name   string
	mr, nr int // tile rows and columns
	kstep  int // k per step of the inner loop: K is padded to it and rows are read in its steps
	layout layout

	// signedA: the kernel multiplies a−128 as int8 (arm64 SDOT is signed×signed); Pack folds
	// 128·Σ_k B[k][j] into the bias to compensate.
	signedA bool

	// maxAbsB, when not 0, limits the weights the kernel is exact on to [-maxAbsB, maxAbsB]
	// (see avx2MaddubsKernel); Pack picks another kernel for wider weights.
	maxAbsB int8

	// probe runs n iterations of the kernel's multiply-accumulate instructions on registers
	// only, probeMACs multiply-adds per iteration (Peak); nil for the Go kernel.
	probe     func(n int)
	probeMACs int

	// hiShift: the kernel has a faster requantization for panels whose shifts are all at
	// least 33 (Packed.hi), on the high halves of the 64-bit products.
	hiShift bool

	// qorder is the order of Packed.qrnd and Packed.qshift. 0: not used (Go requantization).
	// g > 0: x86, vectors of g int32 lanes; in each group of g columns the even columns come
	// first, then the odd ones, as the 32×32→64 multiplies of even and odd lanes produce them.
	// -1: arm64, natural order, shift stored negated: URSHL by a negative amount is the
	// rounding right shift.
	qorder int
}

// accepts reports whether the kernel is exact on weights b.
func (kn *kernel) accepts(b []int8) bool {
	if kn.maxAbsB == 0 {
		return true
	}
	for _, v := range b {
		if v > kn.maxAbsB || v < -kn.maxAbsB {
			return false
		}
	}
	return true
}

// qpos returns where column j's 64-bit requantization parameters go.
func (kn *kernel) qpos(j int) int {
	g := kn.qorder
	if g <= 0 {
		return j
	}
	base, l := j-j%g, j%g
	return base + l%2*(g/2) + l/2
}

// layout is how B's panels are stored.
type layout int

const (
	// dot4: int8; for each group of 4 k, nr dwords, column j's holding B[k..k+3][j]. VNNI
	// VPDPBUSD and arm64 SDOT multiply such a dword by 4 activations at once.
	dot4 layout = iota
	// pairs16: int16; for each group of 4 k, nr pairs (B[k][j], B[k+2][j]), then nr pairs
	// (B[k+1][j], B[k+3][j]). The AVX2 kernel splits a dword of 4 activations into the words
	// (a0, a2) and (a1, a3) with one AND and one shift, then VPMADDWD multiplies each by a
	// vector of pairs.
	pairs16
	// rows16: int16; for each k, nr int16, B[k][0..nr). NEON SMLAL multiplies such a row by
	// one activation.
	rows16
)

// size returns the bytes per element.
func (l layout) size() int {
	if l == dot4 {
		return 1
	}
	return 2
}

// index returns the element index of B[k][j] in a panel nr columns wide.
func (l layout) index(nr, k, j int) int {
	switch l {
	case dot4:
		return k/4*4*nr + j*4 + k%4
	case pairs16:
		g, r := k/4, k%4
		return g*4*nr + r%2*2*nr + j*2 + r/2
	default:
		return k*nr + j
	}
}

func (l layout) put(w []byte, nr, k, j int, v int8) {
	i := l.index(nr, k, j) * l.size()
	w[i] = byte(v)
	if l.size() == 2 {
		w[i+1] = byte(v >> 7) // sign extension, little-endian
	}
}

func (l layout) get(w []byte, nr, k, j int) int32 {
	i := l.index(nr, k, j) * l.size()
	if l.size() == 2 {
		return int32(int16(uint16(w[i]) | uint16(w[i+1])<<8))
	}
	return int32(int8(w[i]))
}
