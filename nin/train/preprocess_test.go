package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// InvSqrtSPD against the eigendecomposition it replaces, on a covariance with the spread of
// eigenvalues the CIFAR ZCA has (about 470 down to the 0.1 bias).
func TestInvSqrtSPDMatchesEigen(t *testing.T) {
	const n = 120
	r := rand.New(rand.NewPCG(1, 2))
	x := mat.NewDense(400, n, nil)
	for i := 0; i < 400; i++ {
		for j := 0; j < n; j++ {
			x.Set(i, j, r.NormFloat64()*math.Pow(0.93, float64(j))*20)
		}
	}
	var c mat.SymDense
	c.SymOuterK(1.0/400, x.T())
	a := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			a[i*n+j] = c.At(i, j)
			if i == j {
				a[i*n+j] += 0.1
			}
		}
	}
	got, err := InvSqrtSPD(a, n, 2)
	if err != nil {
		t.Fatal(err)
	}
	var eig mat.EigenSym
	if !eig.Factorize(mat.NewSymDense(n, a), true) {
		t.Fatal("eigen failed")
	}
	vals := eig.Values(nil)
	t.Logf("eigenvalues %.3g … %.3g", vals[n-1], vals[0])
	var v mat.Dense
	eig.VectorsTo(&v)
	var want mat.Dense
	d := mat.NewDiagDense(n, nil)
	for i, e := range vals {
		d.SetDiag(i, 1/math.Sqrt(e))
	}
	want.Product(&v, d, v.T())
	var maxErr, maxVal float64
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			maxErr = math.Max(maxErr, math.Abs(got[i*n+j]-want.At(i, j)))
			maxVal = math.Max(maxVal, math.Abs(want.At(i, j)))
		}
	}
	if maxErr > 1e-7*maxVal {
		t.Errorf("max error %g (largest entry %g)", maxErr, maxVal)
	}
}
