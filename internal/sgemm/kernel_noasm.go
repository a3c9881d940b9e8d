//go:build (!amd64 && !arm64) || purego

package sgemm

// kernels lists the kernels this build can run, fastest first; Gemm uses the first.
var kernels = []kernel{generic}
