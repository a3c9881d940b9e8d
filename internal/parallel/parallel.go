// Package parallel splits a loop over goroutines. The float layers (nin) and the trainer
// (nin/train) share it, which is why it is a package of its own rather than a helper of one.
package parallel

import "sync"

// For runs f(0..n-1) on up to `threads` goroutines.
func For(threads, n int, f func(i int)) {
	if threads <= 1 || n <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	workers := min(threads, n)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += workers {
				f(i)
			}
		}(w)
	}
	wg.Wait()
}
