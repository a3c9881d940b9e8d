//go:build !purego

package qgemm

// declared lists every assembly kernel of this architecture, runnable here or not.
var declared = []*kernel{&sdotKernel, &neonKernel}
