package train

import (
	"math"

	"github.com/ninedge/ninedge/internal/parallel"
)

// Batch normalisation exists only while training: a conv followed by BN computes
// z = conv(x) without its bias, then y = relu(γ·(z − μ)/σ + β) with μ, σ² the batch's
// per-channel statistics. At the end, running averages of μ and σ² replace the batch ones
// and the whole affine map folds into the conv's weights and bias (foldBN), so that model
// files, the int8 converter and every backend see a plain NIN.

const (
	bnEps      = 1e-5
	bnMomentum = 0.1 // weight of the newest batch in the running averages
)

// batchNorm is the state of one conv's BN: parameters, their gradients, running statistics
// and what the backward pass needs of the last training batch.
type batchNorm struct {
	gamma, beta     []float32
	dgamma, dbeta   []float32
	runMean, runVar []float32
	mean, invStd    []float32
	scale, shift    []float32 // the forward's affine map: y = relu(z·scale + shift)
	coef            []float32 // the backward's per-channel constants, 3c
	part            []float64 // per-image partial sums, 2c for each image
	sum             []float64 // their reduction, 2c
}

func newBatchNorm(c, batch int) *batchNorm {
	f := func(n int) []float32 { return make([]float32, n) }
	bn := &batchNorm{gamma: f(c), beta: f(c), dgamma: f(c), dbeta: f(c), runMean: f(c), runVar: f(c),
		mean: f(c), invStd: f(c), scale: f(c), shift: f(c), coef: f(3 * c),
		part: make([]float64, 2*c*batch), sum: make([]float64, 2*c)}
	for i := range c {
		bn.gamma[i], bn.runVar[i] = 1, 1
	}
	return bn
}

// The passes below touch the largest tensors of a step, so each reads as few of them as it
// can: the ReLU mask is recomputed from z and the forward's affine map rather than read
// from y, and no pass is branchy where the data decides the branch.

// forward normalises z (n images of pix×c) with the batch statistics, applies γ, β and the
// ReLU when relu is set, writes y and updates the running averages.
func (bn *batchNorm) forward(threads int, z []float32, n, pix int, relu bool, y []float32) {
	c := len(bn.gamma)
	parallel.For(threads, n, func(img int) {
		s, sq := bn.part[img*2*c:][:c], bn.part[img*2*c+c:][:c]
		clear(s)
		clear(sq)
		bnStats(z[img*pix*c:][:pix*c], pix, c, s, sq)
	})
	reduceParts(bn.part, n, 2*c, bn.sum)
	rows := float64(n * pix)
	for ch := range c {
		mean := bn.sum[ch] / rows
		v := max(bn.sum[c+ch]/rows-mean*mean, 0)
		bn.mean[ch] = float32(mean)
		bn.invStd[ch] = float32(1 / math.Sqrt(v+bnEps))
		bn.scale[ch] = bn.invStd[ch] * bn.gamma[ch]
		bn.shift[ch] = bn.beta[ch] - bn.mean[ch]*bn.scale[ch]
		unbiased := v
		if rows > 1 {
			unbiased = v * rows / (rows - 1)
		}
		bn.runMean[ch] = float32((1-bnMomentum)*float64(bn.runMean[ch]) + bnMomentum*mean)
		bn.runVar[ch] = float32((1-bnMomentum)*float64(bn.runVar[ch]) + bnMomentum*unbiased)
	}
	parallel.For(threads, n, func(img int) {
		o := img * pix * c
		bnApply(z[o:][:pix*c], y[o:][:pix*c], pix, c, bn.scale, bn.shift, relu)
	})
}

// reluMask returns g, or 0 where the forward's ReLU clipped u = z·scale + shift (u < 0):
// the sign bit of u, spread over the word, clears g without a branch.
func reluMask(g, u float32) float32 {
	m := uint32(int32(math.Float32bits(u)) >> 31)
	return math.Float32frombits(math.Float32bits(g) &^ m)
}

// backward turns dy, the gradient at y, into the gradient at z in place, and sets dγ and dβ.
// With g = dy masked by the ReLU and x̂ = (z − μ)/σ, over the R rows of the batch:
// dβ = Σg, dγ = Σg·x̂, dz = γ/σ · (g − dβ/R − x̂·dγ/R).
func (bn *batchNorm) backward(threads int, z, dy []float32, n, pix int, relu bool) {
	c := len(bn.gamma)
	parallel.For(threads, n, func(img int) {
		sg, sgx := bn.part[img*2*c:][:c], bn.part[img*2*c+c:][:c]
		clear(sg)
		clear(sgx)
		o := img * pix * c
		bnGradStats(z[o:][:pix*c], dy[o:][:pix*c], pix, c, bn, relu, sg, sgx)
	})
	reduceParts(bn.part, n, 2*c, bn.sum)
	// dz = a·g − a·dβ/R − a·x̂·dγ/R = a·g + k·z + m with a = γ/σ, k = −a·dγ/(R·σ),
	// m = −a·dβ/R − k·μ: one multiply-add pair per element.
	rows := float64(n * pix)
	a, k, m := bn.coef[:c], bn.coef[c:2*c], bn.coef[2*c:]
	for ch := range c {
		bn.dbeta[ch] = float32(bn.sum[ch])
		bn.dgamma[ch] = float32(bn.sum[c+ch])
		ai := float64(bn.gamma[ch]) * float64(bn.invStd[ch])
		ki := -ai * bn.sum[c+ch] / rows * float64(bn.invStd[ch])
		a[ch], k[ch] = float32(ai), float32(ki)
		m[ch] = float32(-ai*bn.sum[ch]/rows - ki*float64(bn.mean[ch]))
	}
	parallel.For(threads, n, func(img int) {
		o := img * pix * c
		bnGradApply(z[o:][:pix*c], dy[o:][:pix*c], pix, c, bn, relu)
	})
}

// fold writes into w2, b2 the conv (w, b; HWIO, out channels innermost) with the running
// statistics' BN applied to its output: w·s and (b − μ)·s + β with s = γ/√(σ² + ε).
func (bn *batchNorm) fold(w, b, w2, b2 []float32) {
	c := len(bn.gamma)
	s := make([]float64, c)
	for ch := range c {
		s[ch] = float64(bn.gamma[ch]) / math.Sqrt(float64(bn.runVar[ch])+bnEps)
		b2[ch] = float32((float64(b[ch])-float64(bn.runMean[ch]))*s[ch] + float64(bn.beta[ch]))
	}
	for i, v := range w {
		w2[i] = float32(float64(v) * s[i%c])
	}
}
