package cpu

import (
	"fmt"
	"time"

	"github.com/ninedge/ninedge/backends"
)

// Profile implements backends.Profiler: it runs like Run and adds the wall time of each node's
// parallel step to perNode (the global pool, which runs inline with the last step, gets none).
func (p *Plan) Profile(in []uint8, n int, sums []int32, perNode []time.Duration) error {
	if err := backends.CheckTimings(p.g, perNode); err != nil {
		return fmt.Errorf("cpu: %w", err)
	}
	return p.run(in, n, sums, perNode)
}
