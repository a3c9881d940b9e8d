package onnx

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ninedge/ninedge/dataset/datasettest"
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

func fixtures(t *testing.T, dir string) []fixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "fixtures.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Models []fixture }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.Models
}

func importFile(t *testing.T, path string, opt Options) *nin.Model {
	t.Helper()
	f, err := os.Open(path)
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
// and compares them with the scores PyTorch computed.
func TestPyTorchScores(t *testing.T) {
	for _, fx := range fixtures(t, "testdata") {
		t.Run(fx.File, func(t *testing.T) {
			checkScores(t, importFile(t, filepath.Join("testdata", fx.File), Options{Preprocess: fx.Preprocess, Arch: fx.Arch}), fx)
		})
	}
}

// checkScores runs m on the fixture's images through nin.ForwardRef and nin.Runner: each
// within 1e-4 relative of PyTorch's scores, with the same top-1.
func checkScores(t *testing.T, m *nin.Model, fx fixture) {
	t.Helper()
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
}

// TestNINMNISTWeights: the exporter's copy of the shipped model imports back to the same
// spec and bit-identical weights.
func TestNINMNISTWeights(t *testing.T) {
	want, err := nin.Load("../models/nin-mnist.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	got := importFile(t, "testdata/nin-mnist.onnx", Options{Preprocess: want.Pre, Classes: want.Classes, Arch: "nin-mnist"})
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("imported model differs from models/nin-mnist.safetensors:\n%+v\n%+v", got.Spec, want.Spec)
	}
	// Without Arch the layers are the same but for the dropout that inference drops.
	plain := importFile(t, "testdata/nin-mnist.onnx", Options{Preprocess: want.Pre})
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

// TestNINCIFAR10AgainstPyTorch: the shipped CIFAR-10 model is too big to commit as ONNX, so
// the fixture script rebuilds it in PyTorch and exports it here; the import must give back the
// shipped weights bit for bit and PyTorch's scores on the first CIFAR-10 test images (seeded
// pseudo-random ones without the shared data).
func TestNINCIFAR10AgainstPyTorch(t *testing.T) {
	const python = "/usr/bin/python3"
	if out, err := exec.Command(python, "-c", "import torch, onnx").CombinedOutput(); err != nil {
		t.Skipf("%s has no torch and onnx (scripts/setup.sh installs python3-torch and python3-onnx): %v\n%s", python, err, out)
	}
	dir := t.TempDir()
	args := []string{"scripts/onnx-fixtures.py", "--cifar10", dir}
	images := "seeded pseudo-random images"
	if root := datasettest.Root(); root != "" {
		if d, err := filepath.Abs(filepath.Join(root, "cifar10")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "test_batch.bin.gz")); err == nil {
				args, images = append(args, "--data", d), "the first CIFAR-10 test images"
			}
		}
	}
	cmd := exec.Command(python, args...)
	cmd.Dir = ".." // the script reads models/ from the repository root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", python, strings.Join(args, " "), err, out)
	}
	fxs := fixtures(t, dir)
	if len(fxs) != 1 {
		t.Fatalf("%d models in the fixture, want 1", len(fxs))
	}
	fx := fxs[0]
	want, err := nin.Load("../models/nin-cifar10.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fx.Preprocess, want.Pre) {
		t.Fatalf("the script preprocessed with %+v, the shipped model with %+v", fx.Preprocess, want.Pre)
	}
	got := importFile(t, filepath.Join(dir, fx.File), Options{Preprocess: want.Pre, Classes: want.Classes, Arch: "nin-cifar10"})
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("imported model differs from models/nin-cifar10.safetensors:\n%+v\n%+v", got.Spec, want.Spec)
	}
	t.Logf("%d of %s", len(fx.Images), images)
	checkScores(t, got, fx)
}
