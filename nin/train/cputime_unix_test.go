//go:build unix

package train

import "syscall"

// cpuSeconds is the CPU time (user and system, all threads) the process has used: on a
// shared machine, images per CPU-second says what the code does when the wall clock says
// how busy the neighbours are.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
