package nin

import "math"

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
// and the statistics of the last training batch, which the backward pass needs.
type batchNorm struct {
	gamma, beta     []float32
	dgamma, dbeta   []float32
	runMean, runVar []float32
	mean, invStd    []float32
	coef            []float32 // per-channel constants of the elementwise passes, 3c
	part            []float64 // per-image partial sums, 2c for each image
	sum             []float64 // their reduction, 2c
}

func newBatchNorm(c, batch int) *batchNorm {
	bn := &batchNorm{
		gamma: make([]float32, c), beta: make([]float32, c),
		dgamma: make([]float32, c), dbeta: make([]float32, c),
		runMean: make([]float32, c), runVar: make([]float32, c),
		mean: make([]float32, c), invStd: make([]float32, c), coef: make([]float32, 3*c),
		part: make([]float64, 2*c*batch), sum: make([]float64, 2*c),
	}
	for i := range c {
		bn.gamma[i], bn.runVar[i] = 1, 1
	}
	return bn
}

// forward normalises z (n images of pix×c) with the batch statistics, applies γ, β and the
// ReLU when relu is set, writes y and updates the running averages.
func (bn *batchNorm) forward(threads int, z []float32, n, pix int, relu bool, y []float32) {
	c := len(bn.gamma)
	parallelFor(threads, n, func(img int) {
		s, sq := bn.part[img*2*c:][:c], bn.part[img*2*c+c:][:c]
		clear(s)
		clear(sq)
		for r := 0; r < pix; r++ {
			for ch, v := range z[(img*pix+r)*c:][:c] {
				s[ch] += float64(v)
				sq[ch] += float64(v) * float64(v)
			}
		}
	})
	reduceParts(bn.part, n, 2*c, bn.sum)
	rows := float64(n * pix)
	for ch := range c {
		mean := bn.sum[ch] / rows
		v := max(bn.sum[c+ch]/rows-mean*mean, 0)
		bn.mean[ch] = float32(mean)
		bn.invStd[ch] = float32(1 / math.Sqrt(v+bnEps))
		unbiased := v
		if rows > 1 {
			unbiased = v * rows / (rows - 1)
		}
		bn.runMean[ch] = float32((1-bnMomentum)*float64(bn.runMean[ch]) + bnMomentum*mean)
		bn.runVar[ch] = float32((1-bnMomentum)*float64(bn.runVar[ch]) + bnMomentum*unbiased)
	}
	scale, shift := bn.coef[:c], bn.coef[c:2*c]
	for ch := range c {
		scale[ch] = bn.invStd[ch] * bn.gamma[ch]
		shift[ch] = bn.beta[ch] - bn.mean[ch]*scale[ch]
	}
	parallelFor(threads, n, func(img int) {
		for r := 0; r < pix; r++ {
			o := (img*pix + r) * c
			dst := y[o:][:c]
			for ch, v := range z[o:][:c] {
				u := v*scale[ch] + shift[ch]
				if relu && u < 0 {
					u = 0
				}
				dst[ch] = u
			}
		}
	})
}

// backward turns dy, the gradient at y, into the gradient at z in place, and sets dγ and dβ.
// With g = dy masked by the ReLU and x̂ = (z − μ)/σ, over the R rows of the batch:
// dβ = Σg, dγ = Σg·x̂, dz = γ/σ · (g − dβ/R − x̂·dγ/R).
func (bn *batchNorm) backward(threads int, z, y, dy []float32, n, pix int, relu bool) {
	c := len(bn.gamma)
	parallelFor(threads, n, func(img int) {
		sg, sgx := bn.part[img*2*c:][:c], bn.part[img*2*c+c:][:c]
		clear(sg)
		clear(sgx)
		for r := 0; r < pix; r++ {
			o := (img*pix + r) * c
			g, zr, yr := dy[o:][:c], z[o:][:c], y[o:][:c]
			for ch := range g {
				if relu && yr[ch] <= 0 {
					g[ch] = 0
					continue
				}
				xh := (zr[ch] - bn.mean[ch]) * bn.invStd[ch]
				sg[ch] += float64(g[ch])
				sgx[ch] += float64(g[ch]) * float64(xh)
			}
		}
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
	parallelFor(threads, n, func(img int) {
		for r := 0; r < pix; r++ {
			o := (img*pix + r) * c
			g, zr := dy[o:][:c], z[o:][:c]
			for ch, v := range zr {
				g[ch] = a[ch]*g[ch] + k[ch]*v + m[ch]
			}
		}
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
