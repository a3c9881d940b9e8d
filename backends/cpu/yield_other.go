//go:build !linux

package cpu

// osYield has no portable form: elsewhere yield's runtime.Gosched is all a spinning goroutine
// gives up.
func osYield() {}
