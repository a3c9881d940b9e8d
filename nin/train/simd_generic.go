package train

import "math"

// The Go twins of the trainer's SIMD helpers (AVX2 in simd_amd64.s): always compiled, the
// reference TestReluMaskRows and TestMaxArg hold the assembly to, and all there is where
// simd_noasm.go binds the helpers to them.

// reluMaskRowsGo is the contract of reluMaskRows: for each of rows rows of c channels, it
// zeroes g where y is +0 (y ≥ 0, and +0 exactly where the ReLU clipped: the bits of y less
// one are negative only then) and adds the result, widened, to p channel by channel.
//
// noinline: inlined, the copy of its loop that the compiler makes calls reluMask,
// math.Float32bits and math.Float32frombits instead of inlining them (go1.26), which made the
// loop three times slower.
//
//go:noinline
func reluMaskRowsGo(y, g []float32, rows, c int, p []float64) {
	p = p[:c]
	for r := 0; r < rows; r++ {
		gr := g[r*c:][:c]
		for ch, v := range y[r*c:][:c] {
			gm := reluMask(gr[ch], math.Float32frombits(math.Float32bits(v)-1))
			gr[ch] = gm
			p[ch] += float64(gm)
		}
	}
}

// maxArgGo is the contract of maxArg: where src[ch] > dst[ch], dst[ch] = src[ch] and
// idx[ch] = base + ch.
func maxArgGo(dst []float32, idx []int32, src []float32, base int32) {
	idx, src = idx[:len(dst)], src[:len(dst)]
	for ch, v := range src {
		// Written so that the compiler selects with conditional moves: which input wins is
		// data, and a branch on it mispredicts.
		j, d := idx[ch], dst[ch]
		if v > d {
			j, d = base+int32(ch), v
		}
		idx[ch], dst[ch] = j, d
	}
}
