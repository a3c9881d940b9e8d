package nin_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/nin/nintest"
)

// BenchmarkForward measures the float forward pass of nin-cifar10 (222.5 M multiply-adds per
// image), fast path against the reference, and reports GFLOP/s (2 per multiply-add).
func BenchmarkForward(b *testing.B) {
	s, _ := nin.LoadSpec("nin-cifar10", nil)
	m := nintest.RandomModel(b, s, 1)
	flops := 2 * float64(s.TotalMACs())
	r := rand.New(rand.NewPCG(1, 2))
	for _, batch := range []int{1, 16} {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("fast/batch%d/threads%d", batch, threads), func(b *testing.B) {
				run := nin.NewRunner(m, batch, threads)
				x := make([]float32, batch*s.Input.Size())
				for i := range x {
					x[i] = float32(r.NormFloat64())
				}
				run.Forward(x, batch)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					run.Forward(x, batch)
				}
				sec := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(sec*1e3/float64(batch), "ms/image")
				b.ReportMetric(flops*float64(batch)/sec/1e9, "GFLOP/s")
			})
		}
	}
	b.Run("reference/batch1", func(b *testing.B) {
		x := make([]float32, s.Input.Size())
		for i := 0; i < b.N; i++ {
			nin.ForwardRef(m, x)
		}
		sec := b.Elapsed().Seconds() / float64(b.N)
		b.ReportMetric(sec*1e3, "ms/image")
		b.ReportMetric(flops/sec/1e9, "GFLOP/s")
	})
}
