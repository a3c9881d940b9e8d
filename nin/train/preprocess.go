package train

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/ninedge/ninedge/internal/sgemm"
	"github.com/ninedge/ninedge/nin"
)

// Fitting the preprocessing a model is trained with, on its training images. nin applies
// what these fit; the fit itself needs gonum (a float64 Newton step), which the edge runtime
// must not link, so it lives with the trainer.

// FitMeanStd measures the per-channel mean and standard deviation of n HWC images.
func FitMeanStd(images []uint8, n int, in nin.Shape) nin.Preprocess {
	c := in.C
	sum := make([]float64, c)
	sq := make([]float64, c)
	for i, v := range images[:n*in.Size()] {
		x := float64(v) / 255
		sum[i%c] += x
		sq[i%c] += x * x
	}
	cnt := float64(n * in.H * in.W)
	p := nin.Preprocess{Kind: nin.PreMeanStd, Mean: make([]float32, c), Std: make([]float32, c)}
	for ch := range c {
		m := sum[ch] / cnt
		p.Mean[ch] = float32(m)
		p.Std[ch] = float32(math.Sqrt(max(sq[ch]/cnt-m*m, 1e-12)))
	}
	return p
}

// FitGCNZCA fits the maxout/NIN recipe on n HWC images: GCN to norm `scale`, then ZCA with
// eigenvalue bias `bias`: P = V·diag(1/√(e+bias))·Vᵀ of the covariance C of the GCN'd
// images, which is (C + bias·I)^(-1/2).
// The covariance is summed in float64 over chunks whose products the float32 GEMM computes,
// which keeps it fast without losing the precision the small eigenvalues need.
func FitGCNZCA(images []uint8, n int, in nin.Shape, scale, bias float64, threads int) (nin.Preprocess, error) {
	d := in.Size()
	if n < 2 {
		return nin.Preprocess{}, fmt.Errorf("fit gcn-zca: need at least 2 images, have %d", n)
	}
	g := make([]float64, n*d)
	mean := make([]float64, d)
	for i := 0; i < n; i++ {
		row := g[i*d : (i+1)*d]
		nin.GCN(images[i*d:(i+1)*d], scale, row)
		for j, v := range row {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	const chunk = 512
	cov := make([]float64, d*d)
	xc := make([]float32, chunk*d)
	part := make([]float32, d*d)
	for start := 0; start < n; start += chunk {
		rows := min(chunk, n-start)
		for i := 0; i < rows; i++ {
			for j := 0; j < d; j++ {
				xc[i*d+j] = float32(g[(start+i)*d+j] - mean[j])
			}
		}
		sgemm.Gemm(threads, true, false, d, d, rows, xc, d, xc, d, 0, part, d)
		for j, v := range part {
			cov[j] += float64(v)
		}
	}
	for i := 0; i < d; i++ {
		for j := i; j < d; j++ {
			v := (cov[i*d+j]+cov[j*d+i])/2/float64(n) + bias*b2f(i == j)
			cov[i*d+j], cov[j*d+i] = v, v
		}
	}
	pm, err := InvSqrtSPD(cov, d, threads)
	if err != nil {
		return nin.Preprocess{}, fmt.Errorf("fit gcn-zca: %w", err)
	}
	p := nin.Preprocess{Kind: nin.PreGCNZCA, GCNScale: scale, ZCABias: bias,
		ZCAMean: make([]float32, d), ZCA: make([]float32, d*d)}
	for j := range mean {
		p.ZCAMean[j] = float32(mean[j])
	}
	for i, v := range pm {
		p.ZCA[i] = float32(v)
	}
	return p, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// InvSqrtSPD returns A^(-1/2) of a symmetric positive definite n×n matrix. A dense symmetric
// eigendecomposition of a 3072×3072 matrix takes gonum well over ten minutes on two cores;
// the coupled Newton–Schulz iteration needs only matrix products, so it runs on the float32
// GEMM in seconds, and one Newton step in float64 (gonum) then restores full precision.
//
// With c ≥ λmax (the Frobenius norm), Y₀ = A/c, Z₀ = I, T = (3I − Z·Y)/2, Y ← Y·T, Z ← T·Z
// converges to Y = (A/c)^(1/2) and Z = (A/c)^(-1/2) (Higham, Functions of Matrices, §6.3).
func InvSqrtSPD(a []float64, n, threads int) ([]float64, error) {
	var c float64
	for _, v := range a {
		c += v * v
	}
	c = math.Sqrt(c)
	if !(c > 0) || math.IsInf(c, 0) {
		return nil, fmt.Errorf("inverse square root: matrix norm %v", c)
	}
	y := make([]float32, n*n)
	z := make([]float32, n*n)
	zy := make([]float32, n*n)
	t := make([]float32, n*n)
	tmp := make([]float32, n*n)
	for i, v := range a {
		y[i] = float32(v / c)
	}
	for i := 0; i < n; i++ {
		z[i*n+i] = 1
	}
	converged := false
	prev := math.Inf(1)
	for iter := 0; iter < 200; iter++ {
		sgemm.Gemm(threads, false, false, n, n, n, z, n, y, n, 0, zy, n)
		var res float64
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				v := -0.5 * zy[i*n+j]
				e := float64(zy[i*n+j])
				if i == j {
					v += 1.5
					e -= 1
				}
				t[i*n+j] = v
				res += e * e
			}
		}
		// Stop at float32's noise floor: once the residual is small and no longer halves,
		// further float32 steps cannot help and the float64 step takes over.
		res = math.Sqrt(res / float64(n))
		if res < 1e-6 || res < 1e-2 && res > prev/2 {
			converged = true
			break
		}
		prev = res
		sgemm.Gemm(threads, false, false, n, n, n, y, n, t, n, 0, tmp, n)
		y, tmp = tmp, y
		sgemm.Gemm(threads, false, false, n, n, n, t, n, z, n, 0, tmp, n)
		z, tmp = tmp, z
	}
	if !converged {
		return nil, fmt.Errorf("inverse square root: Newton–Schulz did not converge (condition number too large?)")
	}
	// One float64 Newton step from P₀ = Z/√c: P = P₀·(3I − A·P₀²)/2.
	s := 1 / math.Sqrt(c)
	p0 := mat.NewDense(n, n, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			// Symmetrize: the iterates are symmetric in exact arithmetic.
			p0.Set(i, j, s*(float64(z[i*n+j])+float64(z[j*n+i]))/2)
		}
	}
	am := mat.NewDense(n, n, a)
	var ap, app mat.Dense
	ap.Mul(am, p0)
	app.Mul(&ap, p0)
	app.Scale(-1, &app)
	for i := 0; i < n; i++ {
		app.Set(i, i, app.At(i, i)+3)
	}
	var out mat.Dense
	out.Mul(p0, &app)
	out.Scale(0.5, &out)
	res := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			res[i*n+j] = (out.At(i, j) + out.At(j, i)) / 2
		}
	}
	return res, nil
}
