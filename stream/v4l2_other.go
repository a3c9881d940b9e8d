//go:build !linux || !(amd64 || arm64 || arm || 386 || riscv64)

package stream

import (
	"fmt"
	"runtime"
)

func openV4L2(path string, _ SourceOptions) (Source, error) {
	return nil, fmt.Errorf("source %s: V4L2 capture needs Linux (this is %s)", path, runtime.GOOS)
}
