//go:build !linux

package cpu

import "runtime"

// osYield lets other goroutines run while one spins (see yield_linux.go).
func osYield() { runtime.Gosched() }
