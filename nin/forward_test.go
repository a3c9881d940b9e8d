package nin

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// tinySpec exercises every layer kind with odd sizes: padding, stride, ceil-mode pools with a
// clipped last window, dropout and the global pool.
func tinySpec(t testing.TB) Spec {
	s, err := Expand("tiny", Shape{11, 13, 3}, 5, []Block{
		{Out: []int{7, 9}, Kernel: 5, Pad: 2, Pool: "max", Size: 3, Step: 2, Dropout: 0.5},
		{Out: []int{17, 8}, Kernel: 3, Pad: 1, Stride: 2, Pool: "avg", Size: 2, Step: 2},
		{Out: []int{15, 5}, Kernel: 3, Pad: 1, Pool: "global"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randomModel(t testing.TB, s Spec, seed uint64) *Model {
	m, err := NewModel(s, NumberedClasses(s.Classes), Preprocess{Kind: PreScale})
	if err != nil {
		t.Fatal(err)
	}
	m.InitHe(seed)
	r := rand.New(rand.NewPCG(seed, 1))
	for _, b := range m.Biases {
		for i := range b {
			b[i] = float32(r.NormFloat64() * 0.1)
		}
	}
	return m
}

func TestForwardMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		name    string
		spec    func(testing.TB) Spec
		batch   int
		threads int
	}{
		{"tiny/1", tinySpec, 1, 1},
		{"tiny/5x3", tinySpec, 5, 3},
		{"mnist/2", func(t testing.TB) Spec { s, _ := LoadSpec("nin-mnist", nil); return s }, 2, 2},
		{"fc-head", func(t testing.TB) Spec {
			s, err := tinySpec(t).WithHead(Head{Kind: "fc", Dropout: 0.5})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, 3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.spec(t)
			m := randomModel(t, s, 7)
			r := NewRunner(m, tc.batch, tc.threads)
			d := s.Input.Size()
			x := make([]float32, tc.batch*d)
			rng := rand.New(rand.NewPCG(3, 4))
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			got := r.Forward(x, tc.batch)
			for img := 0; img < tc.batch; img++ {
				ref := ForwardRef(m, x[img*d:(img+1)*d])
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
