package qgemm

import (
	"sync"
	"sync/atomic"
	"time"
)

// Peak measures the int8 multiply-adds per second that threads goroutines reach together
// running the named kernel's multiply-accumulate instructions on registers only, for about d:
// the arithmetic ceiling Run works against on this machine, clock, turbo and shared cores
// included. The rate is the work all goroutines did over one wall-clock window, from before
// the first starts to after the last stops, so goroutines that took turns on one core count as
// one core. A core taken by another process lowers it: callers that want the ceiling repeat
// short probes and keep the best. It returns 0 for the Go kernel and for kernels this CPU
// does not run.
func Peak(kernelName string, threads int, d time.Duration) float64 {
	var kn *kernel
	for _, k := range kernels {
		if k.name == kernelName && k.probe != nil {
			kn = k
		}
	}
	if kn == nil || threads < 1 {
		return 0
	}
	// One chunk is a few microseconds on any core this runs on, so the deadline is checked
	// often enough and the timer's cost vanishes.
	const chunk = 1 << 10
	var iters atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range threads {
		wg.Go(func() {
			n := 0
			for time.Now().Before(deadline) {
				kn.probe(chunk)
				n += chunk
			}
			iters.Add(int64(n))
		})
	}
	wg.Wait()
	return float64(iters.Load()*int64(kn.probeMACs)) / time.Since(start).Seconds()
}
