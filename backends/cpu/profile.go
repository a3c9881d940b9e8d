package cpu

import (
	"fmt"
	"time"
)

// Profile implements backends.Profiler: it runs like Run and adds the wall time of each node's
// parallel step to perNode (the global pool, which runs inline with the last step, gets none).
func (p *Plan) Profile(in []uint8, n int, sums []int32, perNode []time.Duration) error {
	if len(perNode) < len(p.g.Nodes) {
		return fmt.Errorf("cpu: Profile: %d timings for %d nodes", len(perNode), len(p.g.Nodes))
	}
	return p.run(in, n, sums, perNode)
}
