package backendtest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
	"github.com/ninedge/ninedge/quant/quanttest"
)

var (
	cifarOnce  sync.Once
	cifarGraph *quant.Graph
)

// cifarShaped is a graph with nin-cifar10's architecture (222.5 M multiply-adds per image)
// and random weights, built once per test binary.
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

// BenchRun times Run on the CIFAR-10-shaped graph, one image at a time (the latency a camera
// sees) and in batches of 8 (throughput), on each device in turn: the backend's own, then any
// others given for the ratio in the same run (the CPU beside a GPU). It reports ms per image
// of wall time and, where the system tells it, of the whole process's processor time (driver
// threads included: on a shared machine wall time depends on the neighbours, processor time
// on the work done), and logs each plan's Prepare time and, at batch 1, its per-node profile.
func BenchRun(b *testing.B, devs ...backends.Device) {
	g := cifarShaped(b)
	for _, batch := range []int{1, 8} {
		for _, dev := range devs {
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
				if err := p.Run(in, batch, sums); err != nil { // the first run absorbs lazy compilation
					b.Fatal(err)
				}
				cpu0, cpuOK := processTime()
				for b.Loop() {
					if err := p.Run(in, batch, sums); err != nil {
						b.Fatal(err)
					}
				}
				cpu1, _ := processTime()
				images := float64(b.N * batch)
				b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/images, "ms/image")
				if cpuOK {
					b.ReportMetric(float64((cpu1-cpu0).Microseconds())/1000/images, "cpu-ms/image")
				}
				if prof, ok := p.(backends.Profiler); ok && batch == 1 {
					logProfile(b, g, prof, in, sums)
				}
			})
		}
	}
}

// logProfile logs each node's mean time over a few profiled runs of one image.
func logProfile(b *testing.B, g *quant.Graph, prof backends.Profiler, in []uint8, sums []int32) {
	per := make([]time.Duration, len(g.Nodes))
	const runs = 5
	for range runs {
		if err := prof.Profile(in, 1, sums, per); err != nil {
			b.Fatal(err)
		}
	}
	for i, n := range g.Nodes {
		b.Logf("%-10s %-9s %8.3f ms", n.Name, n.Op, float64(per[i].Microseconds())/1000/runs)
	}
}
