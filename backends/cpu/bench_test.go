package cpu

import (
	"fmt"
	"testing"

	"github.com/ninedge/ninedge/backends/backendtest"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
	"github.com/ninedge/ninedge/quant/quanttest"
)

// BenchmarkRun times the CIFAR-10-shaped graph as the GPU backends' benchmarks do.
func BenchmarkRun(b *testing.B) { backendtest.BenchRun(b, NewDevice(0)) }

// BenchmarkNIN runs nin-cifar10 (222.5 M multiply-adds per image) in float32 (nin.Runner on
// the SGEMM) and in int8 (this backend, 8- and 7-bit weights) in one run, so their ratio is what int8 buys on this
// machine, at batch 1 (a camera) and 16 (throughput), on 1 and 2 threads. Preprocessing is
// not included on either side.
func BenchmarkNIN(b *testing.B) {
	s, err := nin.LoadSpec("nin-cifar10", nil)
	if err != nil {
		b.Fatal(err)
	}
	m := quanttest.Model(b, s, 1)
	graphs := []struct {
		name string
		g    *quant.Graph
	}{
		{"int8", quanttest.Graph(b, s, 1)},
		{"int8-w7", quanttest.GraphWith(b, s, 1, quant.Options{WeightBits: 7})},
	}
	ops := 2 * float64(s.TotalMACs())
	report := func(b *testing.B, batch int) {
		sec := b.Elapsed().Seconds() / float64(b.N) / float64(batch)
		b.ReportMetric(sec*1e3, "ms/image")
		b.ReportMetric(ops/sec/1e9, "Gop/s")
	}
	for _, batch := range []int{1, 16} {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("float32/batch%d/threads%d", batch, threads), func(b *testing.B) {
				r := nin.NewRunner(m, batch, threads)
				x := make([]float32, batch*s.Input.Size())
				for i := range x {
					x[i] = float32(i%17) / 17
				}
				r.Forward(x, batch)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					r.Forward(x, batch)
				}
				report(b, batch)
			})
			for _, q := range graphs {
				g := q.g
				b.Run(fmt.Sprintf("%s/batch%d/threads%d", q.name, batch, threads), func(b *testing.B) {
					p, err := NewDevice(threads).Prepare(g, batch)
					if err != nil {
						b.Fatal(err)
					}
					defer p.Close()
					in := quanttest.Input(g, 1, batch)
					sums := make([]int32, batch*len(g.Classes))
					p.Run(in, batch, sums)
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if err := p.Run(in, batch, sums); err != nil {
							b.Fatal(err)
						}
					}
					report(b, batch)
				})
			}
		}
	}
}

// BenchmarkPool times nin-cifar10's two pools on one image, this backend's vector code
// ("fast") against quant's reference loops ("ref"), in one run.
func BenchmarkPool(b *testing.B) {
	for _, n := range []quant.Node{
		{Name: "pool1", Op: quant.OpMaxPool, In: nin.Shape{H: 32, W: 32, C: 96}, Out: nin.Shape{H: 16, W: 16, C: 96}, Kernel: 3, Stride: 2},
		{Name: "pool2", Op: quant.OpAvgPool, In: nin.Shape{H: 16, W: 16, C: 192}, Out: nin.Shape{H: 8, W: 8, C: 192}, Kernel: 3, Stride: 2},
	} {
		x, y, rowMax := quanttest.Images(1, 1, n.In), make([]uint8, n.Out.Size()), make([]uint8, n.In.W*n.In.C)
		b.Run(n.Name+"/fast", func(b *testing.B) {
			for b.Loop() {
				poolRows(&n, x, y, 0, n.Out.H, rowMax)
			}
		})
		b.Run(n.Name+"/ref", func(b *testing.B) {
			for b.Loop() {
				n.Pool(x, y)
			}
		})
	}
}

// BenchmarkSplit times each node of nin-cifar10 at batch 1 run by the caller alone and split
// over a team of two, in one run: the evidence for split's estimate (minSplitNS). A node that
// split would leave alone is marked so in its name.
func BenchmarkSplit(b *testing.B) {
	s, err := nin.LoadSpec("nin-cifar10", nil)
	if err != nil {
		b.Fatal(err)
	}
	g := quanttest.Graph(b, s, 1)
	pl, err := NewDevice(2).Prepare(g, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer pl.Close()
	p := pl.(*Plan)
	p.Run(quanttest.Input(g, 1, 1), 1, make([]int32, len(g.Classes))) // every node's input
	for i, n := range g.Nodes {
		if n.Op == quant.OpGlobalAvg {
			continue
		}
		in := quanttest.Input(g, 1, 1)
		if i > 0 {
			in = p.acts[i-1]
		}
		j := p.split(i, in, 1)
		name := n.Name
		if j.parts == 1 {
			name += "(alone)"
			j = p.parts(i, in, j.rows)
		}
		b.Run(name+"/alone", func(b *testing.B) {
			for b.Loop() {
				p.do(0, i, in, 0, j.rows)
			}
		})
		b.Run(name+"/split", func(b *testing.B) {
			for b.Loop() {
				p.team.run(j)
			}
		})
	}
}

// BenchmarkIm2col times im2col of nin-cifar10's conv1 (5×5×3, pad 2: 15-byte segments) and
// conv2 (5×5×96) over one image's rows, block by block as conv runs it.
func BenchmarkIm2col(b *testing.B) {
	s, err := nin.LoadSpec("nin-cifar10", nil)
	if err != nil {
		b.Fatal(err)
	}
	g := quanttest.Graph(b, s, 1)
	for _, name := range []string{"conv1", "conv2"} {
		var n *quant.Node
		for i := range g.Nodes {
			if g.Nodes[i].Name == name {
				n = &g.Nodes[i]
			}
		}
		x := quanttest.Images(1, 1, n.In)
		col := make([]uint8, rowBlock*n.K()+16)
		rows := n.Out.H * n.Out.W
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				for r := 0; r < rows; r += rowBlock {
					im2col(n, x, r, min(r+rowBlock, rows), col)
				}
			}
		})
	}
}
