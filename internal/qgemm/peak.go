package qgemm

import (
	"sync"
	"time"
)

// Peak measures the int8 multiply-adds per second that threads goroutines reach together
// running the named kernel's multiply-accumulate instructions on registers only, for about d:
// the arithmetic ceiling Run works against on this machine, clock, turbo and shared cores
// included. It returns 0 for the Go kernel and for kernels this CPU does not run.
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
	// One chunk is tens of microseconds on any core this runs on, so the deadline is
	// checked often enough and the timer's cost vanishes.
	const chunk = 1 << 12
	var mu sync.Mutex
	var total float64
	var wg sync.WaitGroup
	for range threads {
		wg.Go(func() {
			start := time.Now()
			iters := 0
			for time.Since(start) < d {
				kn.probe(chunk)
				iters += chunk
			}
			rate := float64(iters*kn.probeMACs) / time.Since(start).Seconds()
			mu.Lock()
			total += rate
			mu.Unlock()
		})
	}
	wg.Wait()
	return total
}
