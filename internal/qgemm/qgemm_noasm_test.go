//go:build (!amd64 && !arm64) || purego

package qgemm

// declared lists every assembly kernel of this architecture, runnable here or not.
var declared []*kernel
