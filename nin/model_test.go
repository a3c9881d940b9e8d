package nin_test

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/nin/nintest"
)

func TestModelFileRoundTrip(t *testing.T) {
	s := nintest.TinySpec(t)
	m := nintest.RandomModel(t, s, 5)
	m.Pre = nin.Preprocess{Kind: nin.PreMeanStd, Mean: []float32{0.49, 0.48, 0.45}, Std: []float32{0.25, 0.24, 0.26}}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := nin.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Weights {
		if !slices.Equal(m.Weights[i], back.Weights[i]) || !slices.Equal(m.Biases[i], back.Biases[i]) {
			t.Fatalf("layer %d changed", i)
		}
	}
	// The file holds OIHW: element [o][i][y][x] of conv1 is HWIO [y][x][i][o].
	w := m.WeightsOIHW(0)
	ws := s.WeightShape(0)
	if w[((2*ws[2]+1)*ws[0]+3)*ws[1]+4] != m.Weights[0][((3*ws[1]+4)*ws[2]+1)*ws[3]+2] {
		t.Error("OIHW layout is wrong")
	}
	// A second save of the loaded model writes the same bytes.
	path2 := filepath.Join(t.TempDir(), "m2.safetensors")
	if err := back.Save(path2); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(path)
	b, _ := os.ReadFile(path2)
	if !slices.Equal(a, b) {
		t.Error("save → load → save changed the bytes")
	}
	f, _ := m.File()
	f.Metadata["format_version"] = "99"
	if _, err := nin.FromFile(f); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("future format version: %v", err)
	}
	f.Metadata["format_version"] = "1"
	m.Weights[1][7] = float32(math.NaN())
	f, _ = m.File()
	if _, err := nin.FromFile(f); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("a NaN weight: %v", err)
	}
	f.Tensors = f.Tensors[:len(f.Tensors)-1]
	if _, err := nin.FromFile(f); err == nil {
		t.Error("missing tensor accepted")
	}
}
