// Package backends is the one interface every int8 executor implements: a backend opens
// devices, a device prepares a quant.Graph into a Plan that owns its memory (weights uploaded
// once, buffers allocated once), and Plan.Run fills caller-owned slices without allocating.
//
// Every backend must reproduce the bytes of quant's reference executor; Trace exposes each
// node's output so tests and --verify can name the first layer that differs.
package backends

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ninedge/ninedge/quant"
)

// DeviceInfo describes a device for `ninedge devices` and for choosing one.
type DeviceInfo struct {
	Backend  string `json:"backend"`
	Index    int    `json:"index"`
	Name     string `json:"name"`
	Type     string `json:"type"` // cpu, gpu, integrated-gpu, accelerator, other
	Driver   string `json:"driver"`
	MemoryMB int64  `json:"memory_mb"`
	// Capabilities that decide how fast int8 runs.
	Int8Storage bool     `json:"int8_storage"`
	IntegerDot  bool     `json:"integer_dot"`
	Subgroup    int      `json:"subgroup_size,omitempty"`
	Threads     int      `json:"threads,omitempty"`
	Features    []string `json:"features,omitempty"`
}

// Backend opens the devices of one API.
type Backend interface {
	Name() string
	// Devices lists usable devices; an error says why none can be used (no driver, no ICD).
	Devices(opt Options) ([]Device, error)
}

// Options tune devices as they are opened.
type Options struct {
	Threads int // CPU worker goroutines (0: all cores); GPU backends use the CPU only to feed the device
}

// Device runs graphs.
type Device interface {
	Info() DeviceInfo
	// Prepare compiles the graph for batches of up to batch images. It refuses a graph feature
	// the backend cannot run with an error that matches ErrUnsupported.
	Prepare(g *quant.Graph, batch int) (Plan, error)
}

// Plan is a graph ready to run on one device. Its buffers are reused from run to run, so a
// Plan is not safe for concurrent use: callers serialize (the server holds one lock for it).
type Plan interface {
	// Run classifies n ≤ batch quantized images (NHWC uint8, the graph's input) and writes
	// each image's global-pool channel sums into sums (n × classes). It allocates nothing.
	Run(in []uint8, n int, sums []int32) error
	// Trace runs one image and writes every node's output into acts[i] (sized
	// Nodes[i].Out.Size(); the last node writes only sums). It is for tests and --verify.
	Trace(in []uint8, acts [][]uint8, sums []int32) error
	// Close frees the plan's memory and device objects. Closing twice is harmless; every
	// other call afterwards returns an error that matches ErrClosed.
	Close() error
}

// Profiler is implemented by plans that can time each node: `ninedge bench` uses it for its
// per-layer table.
type Profiler interface {
	// Profile runs like Run and adds each node's wall time to perNode.
	Profile(in []uint8, n int, sums []int32, perNode []time.Duration) error
}

// KernelProfiler is a Profiler whose plan runs each convolution on a named CPU kernel whose
// arithmetic ceiling can be measured (the CPU backend's plan): `ninedge bench` names each
// layer's kernel and says how much of the peak the network reached.
type KernelProfiler interface {
	Profiler
	// Kernels names the distinct kernels of the plan's convolutions, in node order, joined by "+".
	Kernels() string
	// Kernel names the kernel that runs node i, "" where none does (pools, layers kept in float).
	Kernel(i int) string
	// Peak measures the multiply-adds per second that the plan's threads reach together running
	// the named kernel's multiply-accumulate instructions on registers only, for about d; 0 for
	// a kernel without a meaningful peak (the portable Go one) or one this CPU does not run.
	Peak(kernel string, d time.Duration) float64
}

var registry = map[string]Backend{}

// Register makes a backend available by name; backends register themselves in init, those
// behind build tags only when built in.
func Register(b Backend) { registry[b.Name()] = b }

// Get returns a registered backend.
func Get(name string) (Backend, error) {
	if b, ok := registry[name]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("backend %q is not available in this build (have: %s)", name, strings.Join(Names(), ", "))
}

// Names lists the registered backends.
func Names() []string {
	var n []string
	for k := range registry {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// NewTraceBuffers allocates one output buffer per node, as Trace expects.
func NewTraceBuffers(g *quant.Graph) [][]uint8 {
	acts := make([][]uint8, len(g.Nodes))
	for i, n := range g.Nodes {
		if n.Op != quant.OpGlobalAvg {
			acts[i] = make([]uint8, n.Out.Size())
		}
	}
	return acts
}

// Compared is what Compare checked: its nodes and their output bytes (the global pool's
// int32 sums counted as 4 bytes each).
type Compared struct {
	Nodes int
	Bytes int
}

// Compare runs the reference executor and the plan on one image and returns an error naming
// the first node whose bytes differ, or nil, with what it compared up to there.
func Compare(g *quant.Graph, p Plan, in []uint8) (Compared, error) {
	var done Compared
	ref := g.Reference(in)
	acts := NewTraceBuffers(g)
	sums := make([]int32, len(g.Classes))
	if err := p.Trace(in, acts, sums); err != nil {
		return done, err
	}
	for i, n := range g.Nodes {
		if n.Op == quant.OpGlobalAvg {
			break
		}
		for j := range ref.Acts[i] {
			if acts[i][j] != ref.Acts[i][j] {
				pix, ch := j/n.Out.C, j%n.Out.C
				return done, fmt.Errorf("node %s (%d of %d) differs first at pixel %d channel %d: got %d, reference %d",
					n.Name, i+1, len(g.Nodes), pix, ch, acts[i][j], ref.Acts[i][j])
			}
		}
		done.Nodes++
		done.Bytes += len(ref.Acts[i])
	}
	for c := range ref.Sums {
		if sums[c] != ref.Sums[c] {
			return done, fmt.Errorf("global pool sums differ at class %d: got %d, reference %d", c, sums[c], ref.Sums[c])
		}
	}
	done.Nodes++
	done.Bytes += 4 * len(ref.Sums)
	return done, nil
}
