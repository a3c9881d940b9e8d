package infer_test

import (
	"strings"
	"testing"

	"github.com/ninedge/ninedge/dataset"
	"github.com/ninedge/ninedge/infer"
	"github.com/ninedge/ninedge/nin"
)

// A model whose scores are not finite (finite weights so large that the sums overflow) gets
// no accuracy but an error with the count of images; a sound model's evaluation goes on.
func TestEvaluateNonFinite(t *testing.T) {
	spec, err := nin.Expand("tiny", nin.Shape{H: 4, W: 4, C: 1}, 3, []nin.Block{{Out: []int{4, 3}, Kernel: 3, Pad: 1, Pool: "global"}})
	if err != nil {
		t.Fatal(err)
	}
	set := &dataset.Set{N: 3, H: 4, W: 4, C: 1, Images: make([]uint8, 3*16), Labels: []int32{0, 1, 2}, Classes: nin.NumberedClasses(3)}
	for i := range set.Images {
		set.Images[i] = uint8(i * 37)
	}
	for _, tt := range []struct {
		name   string
		weight float32
		err    string
	}{
		{"sound", 0.01, ""},
		{"overflowing", 3e38, "3 of 3 images have scores that are not finite (NaN or infinite): the model is broken, and no accuracy is reported"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := nin.NewModel(spec, set.Classes, nin.Preprocess{Kind: nin.PreScale})
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range m.Weights {
				for i := range w {
					w[i] = tt.weight
				}
			}
			res, err := infer.Evaluate(infer.NewFloat(m, infer.Options{Batch: 2, Threads: 1}), set, 0, false, nil)
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("Evaluate: %v", err)
			case tt.err == "" && res.N != 3:
				t.Errorf("evaluated %d images", res.N)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("Evaluate: %v (top-1 %v), want %q", err, res.Top1, tt.err)
			}
		})
	}
}
