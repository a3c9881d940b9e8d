package onnx

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ninedge/ninedge/nin"
)

// fixture is one model of testdata/fixtures.json, written by scripts/onnx-fixtures.py: an ONNX
// file PyTorch exported and the scores PyTorch computed for a few images.
type fixture struct {
	File       string         `json:"file"`
	Arch       string         `json:"arch"`
	Preprocess nin.Preprocess `json:"preprocess"`
	Images     [][]int        `json:"images"` // uint8 HWC
	Scores     [][]float32    `json:"scores"`
}

func fixtures(t *testing.T) []fixture {
	t.Helper()
	b, err := os.ReadFile("testdata/fixtures.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Models []fixture }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.Models
}

func importFile(t *testing.T, name string, opt Options) *nin.Model {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := Import(f, opt)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// relErr is the largest difference between two score vectors relative to the largest
// reference score, the scale that decides the ranking.
func relErr(got, want []float32) float64 {
	var d, s float64
	for i := range want {
		d = max(d, math.Abs(float64(got[i])-float64(want[i])))
		s = max(s, math.Abs(float64(want[i])))
	}
	return d / s
}

// TestPyTorchScores runs each exported model through nin's oracle and its fast forward pass
// and compares them with the scores PyTorch computed: within 1e-4 relative, the same top-1.
func TestPyTorchScores(t *testing.T) {
	for _, fx := range fixtures(t) {
		t.Run(fx.File, func(t *testing.T) {
			m := importFile(t, fx.File, Options{Preprocess: fx.Preprocess, Arch: fx.Arch})
			in := m.Spec.Input
			n := len(fx.Images)
			px := make([]uint8, 0, n*in.Size())
			for _, img := range fx.Images {
				for _, v := range img {
					px = append(px, uint8(v))
				}
			}
			if len(px) != n*in.Size() {
				t.Fatalf("%d pixels for %d images of %v", len(px), n, in)
			}
			x := make([]float32, n*in.Size())
			nin.NewPreprocessor(&m.Pre, in, 1).Apply(px, n, x)
			fast := nin.NewRunner(m, n, 1).Forward(x, n)
			var worstRef, worstFast float64
			for i, want := range fx.Scores {
				outs := nin.ForwardRef(m, x[i*in.Size():(i+1)*in.Size()])
				ref := outs[len(outs)-1]
				run := fast[i*len(want) : (i+1)*len(want)]
				for _, got := range [][]float32{ref, run} {
					if e := relErr(got, want); e > 1e-4 {
						t.Errorf("image %d: relative error %.3g\n got %v\nwant %v", i, e, got, want)
					}
					if g, w := nin.TopK(got, 1, nil)[0], nin.TopK(want, 1, nil)[0]; g != w {
						t.Errorf("image %d: top-1 %d, PyTorch %d", i, g, w)
					}
				}
				worstRef, worstFast = max(worstRef, relErr(ref, want)), max(worstFast, relErr(run, want))
			}
			t.Logf("%s: %d layers, max relative error vs PyTorch: ForwardRef %.3g, Runner %.3g", fx.File, len(m.Spec.Layers), worstRef, worstFast)
		})
	}
}

// TestNINMNISTWeights: the exporter's copy of the shipped model imports back to the same
// spec and bit-identical weights.
func TestNINMNISTWeights(t *testing.T) {
	want, err := nin.Load("../models/nin-mnist.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	got := importFile(t, "nin-mnist.onnx", Options{Preprocess: want.Pre, Classes: want.Classes, Arch: "nin-mnist"})
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("imported model differs from models/nin-mnist.safetensors:\n%+v\n%+v", got.Spec, want.Spec)
	}
	// Without Arch the layers are the same but for the dropout that inference drops.
	plain := importFile(t, "nin-mnist.onnx", Options{Preprocess: want.Pre})
	var kept []nin.Layer
	for _, l := range want.Spec.Layers {
		if l.Kind != nin.Dropout {
			kept = append(kept, l)
		}
	}
	if !reflect.DeepEqual(plain.Spec.Layers, kept) {
		t.Fatalf("layers without Arch:\n%+v\nwant\n%+v", plain.Spec.Layers, kept)
	}
}
