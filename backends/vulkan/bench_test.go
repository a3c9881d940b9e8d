//go:build cgo && vulkan

package vulkan

import (
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/backends/cpu"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
	"github.com/ninedge/ninedge/quant/quanttest"
)

var (
	cifarOnce  sync.Once
	cifarGraph *quant.Graph
)

// cifarShaped is a random graph with nin-cifar10's architecture (222.5 M multiply-adds per
// image), built once per test binary.
func cifarShaped(tb testing.TB) *quant.Graph {
	cifarOnce.Do(func() {
		spec, err := nin.LoadSpec("nin-cifar10", nil)
		if err != nil {
			tb.Fatal(err)
		}
		cifarGraph = quanttest.Graph(tb, spec, 7)
	})
	return cifarGraph
}

// BenchmarkRun times Run on the CIFAR-10-shaped graph in ms per image (wall and processor
// time), with the CPU backend timed in the same run for comparison, and logs each plan's
// per-node profile.
func BenchmarkRun(b *testing.B) {
	g := cifarShaped(b)
	d := device(b)
	for _, batch := range []int{1, 8} {
		for _, dev := range []backends.Device{d, cpu.NewDevice(0)} {
			b.Run(fmt.Sprintf("%s/batch%d", dev.Info().Backend, batch), func(b *testing.B) {
				t0 := time.Now()
				p, err := dev.Prepare(g, batch)
				if err != nil {
					b.Fatal(err)
				}
				defer p.Close()
				b.Logf("Prepare: %v", time.Since(t0).Round(time.Millisecond))
				in := quanttest.Input(g, 1, batch)
				sums := make([]int32, batch*len(g.Classes))
				if err := p.Run(in, batch, sums); err != nil {
					b.Fatal(err)
				}
				var r0, r1 syscall.Rusage
				syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
				b.ResetTimer()
				for range b.N {
					if err := p.Run(in, batch, sums); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
				images := float64(b.N * batch)
				b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/images, "ms/image")
				// Processor time of the whole process (driver threads included): on a shared
				// machine wall time depends on the neighbours, this on the work done.
				cpu := time.Duration(r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano())
				b.ReportMetric(float64(cpu.Microseconds())/1000/images, "cpu-ms/image")
				if prof, ok := p.(backends.Profiler); ok && batch == 1 {
					per := make([]time.Duration, len(g.Nodes))
					const runs = 5
					for range runs {
						if err := prof.Profile(in, batch, sums, per); err != nil {
							b.Fatal(err)
						}
					}
					for i, n := range g.Nodes {
						b.Logf("%-10s %-9s %8.3f ms", n.Name, n.Op, float64(per[i].Microseconds())/1000/runs)
					}
				}
			})
		}
	}
}
