package train

import "math"

// The four passes over the rows of one image, as the contracts of their fast paths (AVX2 in
// batchnorm_amd64.s): always compiled, the reference TestBatchNormPasses holds the assembly
// to, and all there is where batchnorm_noasm.go binds the passes to them. Channels [0, c) of
// row r start at r·stride, so that a vector kernel can take the first channels and leave the
// rest to these. Products that feed a sum are
// converted explicitly (float32(x·y) + z): that forbids the compiler to fuse them into one
// FMA, whose single rounding the vector code would not reproduce.

// bnStatsGo adds each channel's values to s and their squares to sq, in float64, row by row.
func bnStatsGo(z []float32, rows, c, stride int, s, sq []float64) {
	s, sq = s[:c], sq[:c]
	for r := range rows {
		for ch, v := range z[r*stride:][:c] {
			s[ch] += float64(v)
			sq[ch] += float64(v) * float64(v) // exact: a float32 squared fits a float64
		}
	}
}

// bnApplyGo writes y = u, or max(u, 0) with relu, where u = z·scale + shift.
func bnApplyGo(z, y []float32, rows, c, stride int, scale, shift []float32, relu bool) {
	scale, shift = scale[:c], shift[:c]
	lo := float32(math.Inf(-1))
	if relu {
		lo = 0
	}
	for r := range rows {
		dst := y[r*stride:][:c]
		for ch, v := range z[r*stride:][:c] {
			dst[ch] = max(float32(v*scale[ch])+shift[ch], lo)
		}
	}
}

// bnGradStatsGo adds each channel's g (dy masked by the ReLU with relu) to sg and g·x̂ to
// sgx, in float64, row by row, with x̂ = (z − μ)·invStd.
func bnGradStatsGo(z, dy []float32, rows, c, stride int, scale, shift, mean, invStd []float32, relu bool, sg, sgx []float64) {
	scale, shift, mean, invStd, sg, sgx = scale[:c], shift[:c], mean[:c], invStd[:c], sg[:c], sgx[:c]
	for r := range rows {
		g := dy[r*stride:][:c]
		for ch, v := range z[r*stride:][:c] {
			gm := g[ch]
			if relu {
				gm = reluMask(gm, float32(v*scale[ch])+shift[ch])
			}
			sg[ch] += float64(gm)
			sgx[ch] += float64(gm) * float64((v-mean[ch])*invStd[ch]) // exact product
		}
	}
}

// bnGradApplyGo replaces dy by a·g + k·z + m, g being dy masked by the ReLU with relu.
func bnGradApplyGo(z, dy []float32, rows, c, stride int, scale, shift, a, k, m []float32, relu bool) {
	scale, shift, a, k, m = scale[:c], shift[:c], a[:c], k[:c], m[:c]
	for r := range rows {
		g := dy[r*stride:][:c]
		for ch, v := range z[r*stride:][:c] {
			gm := g[ch]
			if relu {
				gm = reluMask(gm, float32(v*scale[ch])+shift[ch])
			}
			g[ch] = float32(a[ch]*gm) + float32(k[ch]*v) + m[ch]
		}
	}
}
