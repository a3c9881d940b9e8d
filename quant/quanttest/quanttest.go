// Package quanttest builds int8 graphs for backend tests: random float NINs of awkward sizes,
// converted through the real calibration path, so that every backend is compared with the
// reference executor on graphs that hit every tail of its kernels.
package quanttest

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
)

// Case is one test graph's architecture.
type Case struct {
	Name string
	Spec nin.Spec
}

// Cases returns architectures with the channel counts the kernels must handle (1, 3, 7, 8,
// 15, 16, 17, 96, 192), odd spatial sizes, padding, stride 2, ceil-mode pools with clipped
// windows, both pool kinds, and pools whose stride exceeds their window (the ceil-mode window
// that would start past the input is dropped: 11 → 3 and 4 → 2).
func Cases(t testing.TB) []Case {
	mk := func(name string, in nin.Shape, classes int, blocks ...nin.Block) Case {
		s, err := nin.Expand(name, in, classes, blocks)
		if err != nil {
			t.Fatalf("quanttest: %s: %v", name, err)
		}
		return Case{Name: name, Spec: s}
	}
	return []Case{
		mk("c1-tiny", nin.Shape{H: 5, W: 7, C: 1}, 3,
			nin.Block{Out: []int{7, 8}, Kernel: 3, Pad: 1, Pool: "max", Size: 3, Step: 2},
			nin.Block{Out: []int{15, 3}, Kernel: 1, Pool: "global"}),
		mk("c3-odd", nin.Shape{H: 13, W: 11, C: 3}, 7,
			nin.Block{Out: []int{17, 16}, Kernel: 5, Pad: 2, Pool: "avg", Size: 3, Step: 2},
			nin.Block{Out: []int{15, 7}, Kernel: 3, Pad: 1, Stride: 2, Pool: "global"}),
		mk("c8-wide", nin.Shape{H: 9, W: 9, C: 8}, 17,
			nin.Block{Out: []int{96, 192}, Kernel: 3, Pool: "max", Size: 2, Step: 2},
			nin.Block{Out: []int{16, 17}, Kernel: 1, Pool: "global"}),
		mk("c16-nin", nin.Shape{H: 16, W: 16, C: 16}, 10,
			nin.Block{Out: []int{192, 96}, Kernel: 5, Pad: 2, Pool: "max", Size: 3, Step: 2},
			nin.Block{Out: []int{192, 192}, Kernel: 5, Pad: 2, Pool: "avg", Size: 3, Step: 2},
			nin.Block{Out: []int{192, 10}, Kernel: 3, Pad: 1, Pool: "global"}),
		mk("c7-gaps", nin.Shape{H: 11, W: 14, C: 7}, 5,
			nin.Block{Out: []int{8, 6}, Kernel: 3, Pad: 1, Pool: "max", Size: 2, Step: 4},
			nin.Block{Out: []int{9}, Kernel: 1, Pool: "avg", Size: 1, Step: 2},
			nin.Block{Out: []int{5}, Kernel: 1, Pool: "global"}),
	}
}

// Model returns the random float model Graph converts.
func Model(t testing.TB, s nin.Spec, seed uint64) *nin.Model {
	t.Helper()
	m, err := nin.NewModel(s, nin.NumberedClasses(s.Classes), nin.Preprocess{Kind: nin.PreMeanStd,
		Mean: filled(s.Input.C, 0.45), Std: filled(s.Input.C, 0.25)})
	if err != nil {
		t.Fatal(err)
	}
	m.InitHe(seed)
	r := rand.New(rand.NewPCG(seed, 2))
	for _, b := range m.Biases {
		for i := range b {
			b[i] = float32(r.NormFloat64() * 0.05)
		}
	}
	return m
}

// Graph converts a random float model of the spec, calibrated on random images, so that its
// scales are realistic; float names layers to keep in float.
func Graph(t testing.TB, s nin.Spec, seed uint64, float ...string) *quant.Graph {
	t.Helper()
	return GraphWith(t, s, seed, quant.Options{FloatLayers: float})
}

// GraphWith is Graph with other conversion options (min-max calibration on one thread unless
// opt says otherwise).
func GraphWith(t testing.TB, s nin.Spec, seed uint64, opt quant.Options) *quant.Graph {
	t.Helper()
	m := Model(t, s, seed)
	const n = 8
	imgs := Images(seed, n, s.Input)
	if opt.Method == "" {
		opt.Method = quant.MethodMinMax
	}
	opt.Threads = max(opt.Threads, 1)
	g, err := quant.Convert(m, imgs, n, opt)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// Images returns n random uint8 images of the shape.
func Images(seed uint64, n int, in nin.Shape) []uint8 {
	r := rand.New(rand.NewPCG(seed, 3))
	b := make([]uint8, n*in.Size())
	for i := range b {
		b[i] = uint8(r.UintN(256))
	}
	return b
}

// Input returns n random quantized inputs for the graph, with the zero point and both ends of
// the range present.
func Input(g *quant.Graph, seed uint64, n int) []uint8 {
	b := Images(seed+100, n, g.Spec.Input)
	b[0], b[1] = 0, 255
	if len(b) > 2 {
		b[2] = g.InZero
	}
	return b
}

func filled(n int, v float32) []float32 {
	f := make([]float32, n)
	for i := range f {
		f[i] = v
	}
	return f
}

// Name describes a graph for test names.
func Name(g *quant.Graph) string { return fmt.Sprintf("%s/%d-nodes", g.Spec.Name, len(g.Nodes)) }
