package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ninedge/ninedge/backends/backendtest"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
)

// poolLayer is one pooling node of a pool-only test graph.
type poolLayer struct {
	op             string
	kernel, stride int
}

func (l poolLayer) String() string { return fmt.Sprintf("%s%ds%d", l.op, l.kernel, l.stride) }

// poolGraph chains the pools over an input of shape in and ends in the global pool, so that
// the conformance check sees every pool's bytes.
func poolGraph(t *testing.T, in nin.Shape, layers ...poolLayer) *quant.Graph {
	t.Helper()
	g := &quant.Graph{Spec: nin.Spec{Name: "pools", Input: in, Classes: in.C}, Classes: nin.NumberedClasses(in.C),
		InScale: 1, OutScale: 1}
	for i, l := range layers {
		kind := nin.MaxPool
		if l.op == quant.OpAvgPool {
			kind = nin.AvgPool
		}
		out, err := nin.Layer{Kind: kind, Kernel: l.kernel, Stride: l.stride}.OutShape(in)
		if err != nil {
			t.Fatal(err)
		}
		g.Nodes = append(g.Nodes, quant.Node{Name: fmt.Sprintf("pool%d", i+1), Op: l.op, In: in, Out: out,
			Kernel: l.kernel, Stride: l.stride, InScale: 1, OutScale: 1})
		in = out
	}
	g.Nodes = append(g.Nodes, quant.Node{Name: "global", Op: quant.OpGlobalAvg, In: in, Out: nin.Shape{H: 1, W: 1, C: in.C}})
	g.OutPixels = in.H * in.W
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	return g
}

// TestPoolsMatchReference checks max and average pools at odd channel counts (and more
// than one 256-channel chunk), with ceil-mode windows clipped at the border, the NIN shapes,
// the largest window summed in uint16 (16×16) and one past it (17×17, quant's int32 loop),
// on 1 to 3 workers, image by image and node by node. The first image is all 255, the
// largest sums; the second only 0 and 255; the third random.
func TestPoolsMatchReference(t *testing.T) {
	maxp, avgp := quant.OpMaxPool, quant.OpAvgPool
	cases := []struct {
		h, w   int
		layers []poolLayer
	}{
		{6, 6, []poolLayer{{maxp, 3, 2}, {avgp, 2, 2}}},   // 6→3 (last window 2 rows), 3→2 (last 1)
		{13, 11, []poolLayer{{avgp, 3, 2}, {maxp, 2, 2}}}, // 13×11→6×5→3×3
		{32, 32, []poolLayer{{maxp, 3, 2}, {avgp, 3, 2}}}, // nin-cifar10's pools
		{9, 9, []poolLayer{{maxp, 4, 3}, {avgp, 3, 3}}},   // 9→3 (last window 3 of 4), 3→1
		{16, 20, []poolLayer{{avgp, 16, 5}, {maxp, 1, 1}}},
		{17, 18, []poolLayer{{maxp, 1, 1}, {avgp, 17, 16}}},
	}
	opt := cpuOptions()
	for _, c := range []int{1, 3, 7, 17, 96, 192, 300} {
		for _, tc := range cases {
			in := nin.Shape{H: tc.h, W: tc.w, C: c}
			g := poolGraph(t, in, tc.layers...)
			imgs := poolImages(in, uint64(c))
			for _, v := range opt.Variants {
				for _, batch := range []int{1, 3} {
					t.Run(fmt.Sprintf("%dx%dx%d/%v+%v/%s/batch%d", tc.h, tc.w, c, tc.layers[0], tc.layers[1], v.Name, batch), func(t *testing.T) {
						p, err := v.Prepare(g, batch)
						if err != nil {
							t.Fatal(err)
						}
						defer p.Close()
						backendtest.CheckPlan(t, g, p, imgs, 3, batch)
					})
				}
			}
		}
	}
}

func poolImages(in nin.Shape, seed uint64) []uint8 {
	r := rand.New(rand.NewPCG(seed, 7))
	d := in.Size()
	b := make([]uint8, 3*d)
	for i := range d {
		b[i] = 255
		b[d+i] = uint8(r.IntN(2) * 255)
		b[2*d+i] = uint8(r.UintN(256))
	}
	return b
}
