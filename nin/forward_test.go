package nin_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/nin/nintest"
)

func TestForwardMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		name    string
		spec    func(testing.TB) nin.Spec
		batch   int
		threads int
	}{
		{"tiny/1", nintest.TinySpec, 1, 1},
		{"tiny/5x3", nintest.TinySpec, 5, 3},
		{"mnist/2", func(t testing.TB) nin.Spec { s, _ := nin.LoadSpec("nin-mnist", nil); return s }, 2, 2},
		{"fc-head", func(t testing.TB) nin.Spec {
			s, err := nintest.TinySpec(t).WithHead(nin.Head{Kind: "fc", Dropout: 0.5})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, 3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.spec(t)
			m := nintest.RandomModel(t, s, 7)
			r := nin.NewRunner(m, tc.batch, tc.threads)
			d := s.Input.Size()
			x := make([]float32, tc.batch*d)
			rng := rand.New(rand.NewPCG(3, 4))
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			got := r.Forward(x, tc.batch)
			for img := 0; img < tc.batch; img++ {
				ref := nin.ForwardRef(m, x[img*d:(img+1)*d])
				for li := range s.Layers {
					want := ref[li]
					act := r.Activation(li, tc.batch)
					act = act[img*len(want) : (img+1)*len(want)]
					if err := closeEnough(act, want, 1e-4); err != "" {
						t.Fatalf("image %d layer %s: %s", img, s.Layers[li].Name, err)
					}
				}
				if err := closeEnough(got[img*s.Classes:(img+1)*s.Classes], ref[len(ref)-1], 1e-4); err != "" {
					t.Fatalf("image %d scores: %s", img, err)
				}
			}
		})
	}
}

// closeEnough compares with a tolerance relative to the tensor's largest magnitude, as
// float32 summation order differs between the paths.
func closeEnough(got, want []float32, tol float64) string {
	var scale float64
	for _, v := range want {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	scale = math.Max(scale, 1e-6)
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > tol*scale || math.IsNaN(float64(got[i])) {
			return fmt.Sprintf("value %d: got %g, want %g (tolerance %g)", i, got[i], want[i], tol*scale)
		}
	}
	return ""
}

// Pools with a stride larger than their window give finite values in both forward paths:
// no window is empty (an empty one gave -Inf for max and NaN for average).
func TestForwardStrideBeyondWindow(t *testing.T) {
	s, err := nin.Expand("gaps", nin.Shape{H: 11, W: 14, C: 2}, 3, []nin.Block{
		{Out: []int{4}, Kernel: 3, Pad: 1, Pool: "max", Size: 2, Step: 4},
		{Out: []int{4}, Kernel: 1, Pool: "avg", Size: 1, Step: 2},
		{Out: []int{3}, Kernel: 1, Pool: "global"},
	})
	if err != nil {
		t.Fatal(err)
	}
	sh := s.Shapes()
	if sh[2] != (nin.Shape{H: 3, W: 4, C: 4}) || sh[4] != (nin.Shape{H: 2, W: 2, C: 4}) {
		t.Fatalf("pool outputs %v and %v, want 3x4 and 2x2", sh[2], sh[4])
	}
	m := nintest.RandomModel(t, s, 5)
	x := make([]float32, s.Input.Size())
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	r := nin.NewRunner(m, 1, 1)
	r.Forward(x, 1)
	for li, ref := range nin.ForwardRef(m, x) {
		act := r.Activation(li, 1)
		for i, v := range ref {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || math.IsNaN(float64(act[i])) || math.IsInf(float64(act[i]), 0) {
				t.Fatalf("layer %s value %d: reference %v, runner %v", s.Layers[li].Name, i, v, act[i])
			}
		}
	}
}
