//go:build !unix

package backendtest

import "time"

// processTime reports that the system does not tell the process's processor time.
func processTime() (time.Duration, bool) { return 0, false }
