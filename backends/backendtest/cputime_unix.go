//go:build unix

package backendtest

import (
	"syscall"
	"time"
)

// processTime returns the processor time (user and system) the process has used so far, and
// whether the system tells it.
func processTime() (time.Duration, bool) {
	var r syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &r) != nil {
		return 0, false
	}
	return time.Duration(r.Utime.Nano() + r.Stime.Nano()), true
}
