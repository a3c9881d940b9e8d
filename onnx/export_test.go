package onnx

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"testing"

	"github.com/ninedge/ninedge/nin"
)

var update = flag.Bool("update", false, "rewrite testdata/export-tiny.onnx and export-tiny.json")

// TestExportNINMNIST: the shipped model, exported and imported back, is the same model.
func TestExportNINMNIST(t *testing.T) {
	want, err := nin.Load("../models/nin-mnist.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Export(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ImportBytes(b, Options{Preprocess: want.Pre, Classes: want.Classes, Arch: "nin-mnist"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatal("the round trip changed the model")
	}
}

// fcModel is a small model with every layer kind: an average pool with clipped windows,
// dropout and a fully connected head over a 5×5 map, so the CHW/HWC reordering shows.
func fcModel(t *testing.T) *nin.Model {
	t.Helper()
	s, err := nin.Expand("fc-head", nin.Shape{H: 10, W: 10, C: 2}, 5, []nin.Block{
		{Out: []int{4, 3}, Kernel: 3, Pad: 1, Pool: "avg", Size: 3, Step: 2, Dropout: 0.5},
		{Out: []int{5}, Kernel: 1, Pool: "global"},
	})
	if err == nil {
		s, err = s.WithHead(nin.Head{Kind: "fc", Dropout: 0.3})
	}
	if err != nil {
		t.Fatal(err)
	}
	m, err := nin.NewModel(s, nin.NumberedClasses(5), nin.Preprocess{Kind: nin.PreMeanStd, Mean: []float32{0.4, 0.6}, Std: []float32{0.2, 0.3}})
	if err != nil {
		t.Fatal(err)
	}
	m.InitHe(3)
	for i := range m.Biases {
		for j := range m.Biases[i] {
			m.Biases[i][j] = float32(j%3) * 0.05
		}
	}
	return m
}

// TestExportFCHead: export then import gives the same layers (less dropout) and weights, so
// the same scores.
func TestExportFCHead(t *testing.T) {
	want := fcModel(t)
	b, err := Export(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ImportBytes(b, Options{Preprocess: want.Pre})
	if err != nil {
		t.Fatal(err)
	}
	var wi []int // want's layers that are not dropout
	for i, l := range want.Spec.Layers {
		if l.Kind != nin.Dropout {
			wi = append(wi, i)
		}
	}
	if len(wi) != len(got.Spec.Layers) {
		t.Fatalf("%d layers, want %d", len(got.Spec.Layers), len(wi))
	}
	for j, i := range wi {
		g, w := got.Spec.Layers[j], want.Spec.Layers[i]
		g.Name = w.Name
		if g != w || !reflect.DeepEqual(got.Weights[j], want.Weights[i]) || !reflect.DeepEqual(got.Biases[j], want.Biases[i]) {
			t.Fatalf("layer %s: %+v, want %+v (or its parameters differ)", w.Name, got.Spec.Layers[j], w)
		}
	}
}

// A pool whose stride exceeds its window (1×1 windows, stride 3: 6 → 2) exports with ONNX's
// ceil mode and imports back to the same sizes: nin, like ONNX, drops the ceil-mode window
// that would start past the input.
func TestExportStrideBeyondWindow(t *testing.T) {
	s := nin.Spec{Name: "gap-window", Input: nin.Shape{H: 6, W: 6, C: 1}, Classes: 2, Layers: []nin.Layer{
		{Name: "cccp1", Kind: nin.Conv, Out: 2, Kernel: 1, Stride: 1, ReLU: true},
		{Name: "pool1", Kind: nin.MaxPool, Kernel: 1, Stride: 3},
		{Name: "pool2", Kind: nin.GlobalAvg},
	}}
	m, err := nin.NewModel(s, nin.NumberedClasses(2), nin.Preprocess{Kind: nin.PreScale})
	if err != nil {
		t.Fatal(err)
	}
	m.InitHe(1)
	b, err := Export(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ImportBytes(b, Options{Preprocess: m.Pre, Name: s.Name})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Spec, s) || !reflect.DeepEqual(got.Weights, m.Weights) {
		t.Fatalf("imports back as %+v, want %+v", got.Spec, s)
	}
	if sh := got.Spec.Shapes(); sh[2] != (nin.Shape{H: 2, W: 2, C: 2}) {
		t.Fatalf("pool1 gives %v, want 2x2x2", sh[2])
	}
}

// TestExportGolden keeps testdata/export-tiny.onnx, which scripts/onnx-fixtures.py checks
// with onnx.checker and runs in PyTorch against the nin scores in export-tiny.json; -update
// rewrites both.
func TestExportGolden(t *testing.T) {
	m := fcModel(t)
	b, err := Export(m)
	if err != nil {
		t.Fatal(err)
	}
	in := m.Spec.Input
	img := make([]uint8, in.Size())
	for i := range img {
		img[i] = uint8(i * 37 % 251)
	}
	x := make([]float32, in.Size())
	nin.NewPreprocessor(&m.Pre, in, 1).Apply(img, 1, x)
	outs := nin.ForwardRef(m, x)
	pixels := make([]int, len(img))
	for i, v := range img {
		pixels[i] = int(v)
	}
	j, err := json.Marshal(fixture{File: "export-tiny.onnx", Preprocess: m.Pre, Images: [][]int{pixels}, Scores: [][]float32{outs[len(outs)-1]}})
	if err != nil {
		t.Fatal(err)
	}
	j = append(j, '\n')
	if *update {
		if err := os.WriteFile("testdata/export-tiny.onnx", b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/export-tiny.json", j, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string][]byte{"export-tiny.onnx": b, "export-tiny.json": j} {
		got, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("testdata/%s differs from what Export writes now (go test ./onnx -run ExportGolden -update, then scripts/onnx-fixtures.py)", name)
		}
	}
}
