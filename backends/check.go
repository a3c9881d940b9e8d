package backends

import (
	"errors"
	"fmt"
	"time"

	"github.com/ninedge/ninedge/quant"
)

// The checks every backend makes before it touches a device, in one wording; each backend
// prefixes its name ("cpu: batch 0").

// ErrUnsupported is what Prepare's refusal of a graph feature the backend cannot run (a layer
// kept in float, on the GPU backends) matches under errors.Is; the CPU backend runs every valid
// graph.
var ErrUnsupported = errors.New("not supported by this backend")

// ErrClosed is what Run, Trace and Profile return, wrapped, once the plan is closed.
var ErrClosed = errors.New("plan is closed")

// Unsupported returns Prepare's refusal of a node the backend cannot run: format is the
// backend's message, whose one %s the node's name fills, and errors.Is(err, ErrUnsupported)
// holds.
func Unsupported(node, format string) error { return &unsupportedError{node, format} }

type unsupportedError struct{ node, format string }

func (e *unsupportedError) Error() string        { return fmt.Sprintf(e.format, e.node) }
func (e *unsupportedError) Is(target error) bool { return target == ErrUnsupported }

// CheckPrepare checks Prepare's arguments: a positive batch and a valid graph.
func CheckPrepare(g *quant.Graph, batch int) error {
	if batch <= 0 {
		return fmt.Errorf("batch %d", batch)
	}
	return g.Validate()
}

// CheckRun checks Run's arguments for a plan of g prepared for batch images: n in 1..batch,
// an input of n images and room for their sums.
func CheckRun(g *quant.Graph, batch int, in []uint8, n int, sums []int32) error {
	if n < 1 || n > batch {
		return fmt.Errorf("batch of %d images, prepared for 1..%d", n, batch)
	}
	if len(in) < n*g.Spec.Input.Size() || len(sums) < n*len(g.Classes) {
		return fmt.Errorf("input (%d bytes) or output (%d sums) too small for %d images", len(in), len(sums), n)
	}
	return nil
}

// CheckTraceBuffers checks that acts has one buffer per node, each large enough for the
// node's output, as Trace requires.
func CheckTraceBuffers(g *quant.Graph, acts [][]uint8) error {
	if len(acts) < len(g.Nodes) {
		return fmt.Errorf("trace: %d buffers for %d nodes", len(acts), len(g.Nodes))
	}
	for i, n := range g.Nodes {
		if n.Op != quant.OpGlobalAvg && len(acts[i]) < n.Out.Size() {
			return fmt.Errorf("trace: buffer %d (%s) has %d bytes, the node writes %d", i, n.Name, len(acts[i]), n.Out.Size())
		}
	}
	return nil
}

// CheckTimings checks that Profile's perNode has a slot for every node.
func CheckTimings(g *quant.Graph, perNode []time.Duration) error {
	if len(perNode) < len(g.Nodes) {
		return fmt.Errorf("profile: %d timings for %d nodes", len(perNode), len(g.Nodes))
	}
	return nil
}
