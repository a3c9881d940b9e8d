//go:build !unix

package train

// cpuSeconds is unknown here; BenchmarkTrain then reports wall-clock figures only.
func cpuSeconds() float64 { return 0 }
