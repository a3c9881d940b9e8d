package cpu

import (
	"fmt"
	"testing"

	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant/quanttest"
)

// BenchmarkNIN runs nin-cifar10 (222.5 M multiply-adds per image) in float32 (nin.Runner on
// the SGEMM) and in int8 (this backend) in one run, so their ratio is what int8 buys on this
// machine, at batch 1 (a camera) and 16 (throughput), on 1 and 2 threads. Preprocessing is
// not included on either side.
func BenchmarkNIN(b *testing.B) {
	s, err := nin.LoadSpec("nin-cifar10", nil)
	if err != nil {
		b.Fatal(err)
	}
	m := quanttest.Model(b, s, 1)
	g := quanttest.Graph(b, s, 1)
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
			b.Run(fmt.Sprintf("int8/batch%d/threads%d", batch, threads), func(b *testing.B) {
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
