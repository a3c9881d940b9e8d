package cpu

import (
	"fmt"
	"testing"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/quant"
	"github.com/ninedge/ninedge/quant/quanttest"
)

// Every graph, thread count and batch size must give the reference executor's bytes, node by
// node.
func TestMatchesReference(t *testing.T) {
	for _, c := range quanttest.Cases(t) {
		for _, float := range [][]string{nil, {"cccp1"}} {
			g := quanttest.Graph(t, c.Spec, 11, float...)
			for _, threads := range []int{1, 2, 3} {
				t.Run(fmt.Sprintf("%s/float%v/threads%d", c.Name, float, threads), func(t *testing.T) {
					p, err := NewDevice(threads).Prepare(g, 3)
					if err != nil {
						t.Fatal(err)
					}
					defer p.Close()
					in := quanttest.Input(g, 5, 3)
					d := g.Spec.Input.Size()
					for img := 0; img < 3; img++ {
						if err := backends.Compare(g, p, in[img*d:(img+1)*d]); err != nil {
							t.Fatalf("image %d: %v", img, err)
						}
					}
					// Batched Run gives each image's reference sums.
					k := len(g.Classes)
					sums := make([]int32, 3*k)
					if err := p.Run(in, 3, sums); err != nil {
						t.Fatal(err)
					}
					for img := 0; img < 3; img++ {
						ref := g.Reference(in[img*d : (img+1)*d])
						for j := range ref.Sums {
							if sums[img*k+j] != ref.Sums[j] {
								t.Fatalf("batch image %d class %d: %d, reference %d", img, j, sums[img*k+j], ref.Sums[j])
							}
						}
					}
				})
			}
		}
	}
}

func TestRunAllocatesNothing(t *testing.T) {
	g := quanttest.Graph(t, quanttest.Cases(t)[3].Spec, 3)
	for _, threads := range []int{1, 2} {
		p, err := NewDevice(threads).Prepare(g, 2)
		if err != nil {
			t.Fatal(err)
		}
		in := quanttest.Input(g, 1, 2)
		sums := make([]int32, 2*len(g.Classes))
		allocs := testing.AllocsPerRun(20, func() {
			if err := p.Run(in, 2, sums); err != nil {
				t.Fatal(err)
			}
		})
		p.Close()
		if allocs != 0 {
			t.Errorf("threads %d: %v allocations per Run", threads, allocs)
		}
	}
}

func TestBadCalls(t *testing.T) {
	g := quanttest.Graph(t, quanttest.Cases(t)[0].Spec, 3)
	p, err := NewDevice(2).Prepare(g, 2)
	if err != nil {
		t.Fatal(err)
	}
	sums := make([]int32, 2*len(g.Classes))
	in := quanttest.Input(g, 1, 2)
	for name, call := range map[string]func() error{
		"batch too big": func() error { return p.Run(in, 3, sums) },
		"short input":   func() error { return p.Run(in[:5], 1, sums) },
		"short output":  func() error { return p.Run(in, 2, sums[:1]) },
	} {
		if call() == nil {
			t.Errorf("%s: no error", name)
		}
	}
	p.Close()
	if p.Run(in, 1, sums) == nil {
		t.Error("Run after Close: no error")
	}
	bad := *g
	bad.Nodes = nil
	if _, err := NewDevice(1).Prepare(&bad, 1); err == nil {
		t.Error("Prepare accepted an empty graph")
	}
	_ = quant.OpConv
}
