package cpu

import (
	"bufio"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/cpu"
)

// cpuName reads the processor's model name where Linux tells it.
func cpuName() string {
	f, err := os.Open("/proc/cpuinfo")
	if err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			k, v, ok := strings.Cut(s.Text(), ":")
			k = strings.TrimSpace(k)
			if ok && (k == "model name" || k == "Model" || k == "Hardware") {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH + " CPU"
}

// cpuFeatures lists the instruction-set features the int8 kernels can use.
func cpuFeatures() []string {
	var f []string
	add := func(ok bool, name string) {
		if ok {
			f = append(f, name)
		}
	}
	switch runtime.GOARCH {
	case "amd64":
		add(cpu.X86.HasAVX2, "avx2")
		add(cpu.X86.HasFMA, "fma")
		add(cpu.X86.HasAVX512F, "avx512f")
		add(cpu.X86.HasAVX512VNNI, "avx512vnni")
	case "arm64":
		add(cpu.ARM64.HasASIMD, "asimd")
		add(cpu.ARM64.HasASIMDDP, "dotprod")
		add(cpu.ARM64.HasI8MM, "i8mm")
	case "arm":
		add(cpu.ARM.HasNEON, "neon")
	}
	return f
}
