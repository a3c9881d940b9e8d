package quant_test

import (
	"bytes"
	"math"
	"testing"

	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
	"github.com/ninedge/ninedge/quant/quanttest"
)

// A layer kept in float gives the same bytes however its rows are split between calls (and so
// between a backend's goroutines), and each byte is the float64 result rounded, give or take
// the float32 sums' last bits.
func TestFloatRows(t *testing.T) {
	for _, tc := range quanttest.Cases(t) {
		first := -1
		for i, l := range tc.Spec.Layers {
			if l.Kind == nin.Conv {
				first = i
				break
			}
		}
		name := tc.Spec.Layers[first].Name
		g := quanttest.GraphWith(t, tc.Spec, 1, quant.Options{FloatLayers: []string{name}})
		var n *quant.Node
		for i := range g.Nodes {
			if g.Nodes[i].Name == name {
				n = &g.Nodes[i]
			}
		}
		if n == nil || !n.Float {
			t.Fatalf("%s: no float node %s", quanttest.Name(g), name)
		}
		const batch = 3
		x := quanttest.Images(7, batch, n.In)
		pix := n.Out.H * n.Out.W
		want := make([]uint8, batch*n.Out.Size())
		for img := range batch {
			n.FloatConv(x[img*n.In.Size():], want[img*n.Out.Size():(img+1)*n.Out.Size()])
		}
		s := quant.NewFloatScratch(n)
		for _, step := range []int{1, 5, 13, pix, batch*pix - 1} {
			got := make([]uint8, len(want))
			for r := 0; r < batch*pix; r += step {
				n.FloatRows(x, got, r, min(r+step, batch*pix), s)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: rows in steps of %d differ from FloatConv", quanttest.Name(g), step)
			}
		}
		// The float64 oracle: within half a step of the output scale plus float32's error.
		worst := 0.0
		for img := range batch {
			xi, yi := x[img*n.In.Size():], want[img*n.Out.Size():]
			for p := range pix {
				oy, ox := p/n.Out.W, p%n.Out.W
				for o := range n.Out.C {
					s := float64(n.FBias[o])
					for ky := range n.Kernel {
						for kx := range n.Kernel {
							iy, ix := oy*n.Stride-n.Pad+ky, ox*n.Stride-n.Pad+kx
							if iy < 0 || iy >= n.In.H || ix < 0 || ix >= n.In.W {
								continue
							}
							for c := range n.In.C {
								v := float64(int32(xi[(iy*n.In.W+ix)*n.In.C+c])-int32(n.PadValue)) * float64(n.InScale)
								s += v * float64(n.FWeights[((ky*n.Kernel+kx)*n.In.C+c)*n.Out.C+o])
							}
						}
					}
					q := math.Min(math.Max(s, 0)/float64(n.OutScale), 255)
					worst = math.Max(worst, math.Abs(float64(yi[p*n.Out.C+o])-q))
				}
			}
		}
		if worst > 0.5+1e-3 {
			t.Errorf("%s: a byte %.4f steps from the float64 result", quanttest.Name(g), worst)
		}
	}
}

// With its scratch made for the node, FloatRows allocates nothing.
func TestFloatRowsAllocatesNothing(t *testing.T) {
	spec := quanttest.Cases(t)[0].Spec
	g := quanttest.GraphWith(t, spec, 1, quant.Options{FloatLayers: []string{spec.Layers[0].Name}})
	n := &g.Nodes[0]
	s := quant.NewFloatScratch(n)
	x, y := quanttest.Images(1, 1, n.In), make([]uint8, n.Out.Size())
	if a := testing.AllocsPerRun(10, func() { n.FloatRows(x, y, 0, n.Out.H*n.Out.W, s) }); a != 0 {
		t.Errorf("%v allocations per call", a)
	}
}
