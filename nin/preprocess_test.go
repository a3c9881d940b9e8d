package nin

import (
	"math"
	"testing"
)

func TestPreprocessKinds(t *testing.T) {
	in := Shape{2, 2, 3}
	img := []uint8{0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100}
	ms := Preprocess{Kind: PreMeanStd, Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.25, 0.5, 1}}
	out := make([]float32, 12)
	NewPreprocessor(&ms, in, 1).Apply(img, 1, out)
	if want := (float32(255)/255 - 0.5) / 0.5; out[1] != want {
		t.Errorf("meanstd: %v, want %v", out[1], want)
	}
	g := make([]float64, 12)
	GCN(img, 55, g)
	var sum, ss float64
	for _, v := range g {
		sum += v
		ss += v * v
	}
	if math.Abs(sum) > 1e-9 || math.Abs(math.Sqrt(ss)-55) > 1e-9 {
		t.Errorf("GCN: mean %v, norm %v", sum/12, math.Sqrt(ss))
	}
	flat := make([]uint8, 12)
	GCN(flat, 55, g)
	for _, v := range g {
		if v != 0 {
			t.Fatal("a flat image must stay zero, not NaN")
		}
	}
	if err := (Preprocess{Kind: "sharpen"}).Validate(in); err == nil {
		t.Error("unknown kind accepted")
	}
	if err := (Preprocess{Kind: PreMeanStd, Mean: []float32{0}, Std: []float32{1}}).Validate(in); err == nil {
		t.Error("mean/std of the wrong length accepted")
	}
}
