package cpu

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/internal/qgemm"
)

// The CPU plan is a KernelProfiler: `ninedge bench` names each conv's qgemm kernel and
// measures how close the network comes to those kernels' peak.
var _ backends.KernelProfiler = (*Plan)(nil)

// Profile implements backends.Profiler: it runs like Run and adds the wall time of each node's
// parallel step to perNode (the global pool, which runs inline with the last step, gets none).
func (p *Plan) Profile(in []uint8, n int, sums []int32, perNode []time.Duration) error {
	if err := backends.CheckTimings(p.g, perNode); err != nil {
		return fmt.Errorf("cpu: %w", err)
	}
	return p.run(in, n, sums, perNode)
}

// Kernel names the qgemm kernel that runs node i ("" for pools and float convolutions).
func (p *Plan) Kernel(i int) string {
	if p.packed[i] == nil {
		return ""
	}
	return p.packed[i].Kernel()
}

// Kernels lists the distinct qgemm kernels of the plan's convolutions, in node order, joined
// by "+".
func (p *Plan) Kernels() string {
	var names []string
	for i := range p.packed {
		if k := p.Kernel(i); k != "" && !slices.Contains(names, k) {
			names = append(names, k)
		}
	}
	return strings.Join(names, "+")
}

// Peak implements backends.KernelProfiler with qgemm.Peak on the plan's threads.
func (p *Plan) Peak(kernel string, d time.Duration) float64 { return qgemm.Peak(kernel, p.threads, d) }
