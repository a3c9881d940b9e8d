//go:build cgo && vulkan

package vulkan

import (
	"testing"

	"github.com/ninedge/ninedge/backends/backendtest"
	"github.com/ninedge/ninedge/backends/cpu"
)

// BenchmarkRun times the CIFAR-10-shaped graph on Vulkan and, for the ratio, on the CPU.
func BenchmarkRun(b *testing.B) { backendtest.BenchRun(b, device(b), cpu.NewDevice(0)) }
