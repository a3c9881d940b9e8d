// Package nintest holds the small specs and random models that the tests of nin and
// nin/train share: odd sizes that reach every path of the forward and backward passes.
package nintest

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/ninedge/ninedge/nin"
)

// TinySpec exercises every layer kind with odd sizes: padding, stride, ceil-mode pools with a
// clipped last window, dropout and the global pool.
func TinySpec(t testing.TB) nin.Spec {
	s, err := nin.Expand("tiny", nin.Shape{H: 11, W: 13, C: 3}, 5, []nin.Block{
		{Out: []int{7, 9}, Kernel: 5, Pad: 2, Pool: "max", Size: 3, Step: 2, Dropout: 0.5},
		{Out: []int{17, 8}, Kernel: 3, Pad: 1, Stride: 2, Pool: "avg", Size: 2, Step: 2},
		{Out: []int{15, 5}, Kernel: 3, Pad: 1, Pool: "global"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// GradSpec is a tiny network with odd sizes that reaches every backward path: a padded 3×3
// conv, a 1×1 conv, a ceil-mode max pool whose last window is clipped, dropout, an even 2×2
// kernel with padding, an average pool with a clipped (smaller divisor) window, a stride-2
// conv and the global pool; with head "fc", dropout and a fully connected classifier.
func GradSpec(t testing.TB, head string) nin.Spec {
	const js = `{"name": "grad", "input": [8, 9, 2], "classes": 3, "layers": [
		{"name": "conv1", "kind": "conv", "out": 4, "kernel": 3, "pad": 1, "relu": true},
		{"name": "cccp1", "kind": "conv", "out": 5, "kernel": 1, "relu": true},
		{"name": "pool1", "kind": "maxpool", "kernel": 3, "stride": 2},
		{"name": "drop1", "kind": "dropout", "rate": 0.5},
		{"name": "conv2", "kind": "conv", "out": 6, "kernel": 2, "pad": 1, "relu": true},
		{"name": "pool2", "kind": "avgpool", "kernel": 2, "stride": 2},
		{"name": "conv3", "kind": "conv", "out": 3, "kernel": 3, "pad": 1, "stride": 2, "relu": true},
		{"name": "pool3", "kind": "globalavg"}]}`
	var s nin.Spec
	if err := json.Unmarshal([]byte(js), &s); err != nil {
		t.Fatal(err)
	}
	s, err := s.WithHead(nin.Head{Kind: head, Dropout: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// RandomModel is a model of spec s with He-normal weights and small random biases, both from
// seed.
func RandomModel(t testing.TB, s nin.Spec, seed uint64) *nin.Model {
	m, err := nin.NewModel(s, nin.NumberedClasses(s.Classes), nin.Preprocess{Kind: nin.PreScale})
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

// SmallEnoughToRun bounds the work a fuzz iteration spends on a spec it was handed.
func SmallEnoughToRun(s nin.Spec) bool { return s.TotalMACs() < 1e6 && s.TotalParams() < 1e5 }
