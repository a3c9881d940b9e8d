//go:build cgo && vulkan

package vulkan

import (
	"fmt"
	"time"

	vk "github.com/vulkan-go/vulkan"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
)

// Work split, mirrored by the shaders (OG and PX in conv.comp): a conv invocation computes
// convWords output words (4 channels each) of convPixels pixels; pools and the global sum one
// word each. A workgroup of 8 is one SIMD pass on lavapipe (AVX2) and leaves small maps
// (8×8) enough workgroups for every core.
const (
	convWords  = 4
	convPixels = 8
	groupSize  = 8 // invocations per workgroup along x
)

// Plan is a graph prepared on one Vulkan device. It is not safe for concurrent use.
type Plan struct {
	dev   *Device
	g     *quant.Graph
	batch int

	device  vk.Device
	queue   vk.Queue
	fence   vk.Fence
	runner  *runner
	cmdPool vk.CommandPool
	run     vk.CommandBuffer // every node, with a timestamp after each when the queue has them
	trace   vk.CommandBuffer // after run: copies image 0's activations to the readback buffer
	queries vk.QueryPool     // null without timestamps
	tsMask  uint64
	stamps  []uint64 // Profile's query results

	buffers      []*buffer
	input        *buffer // host-visible: the batch as the first node reads it
	acts         *buffer // every node's output
	weights      *buffer // every conv node's packed weights and parameters; nil without convs
	weightRanges []weightRanges
	output       *buffer // host-visible: n × classes sums
	indirect     *buffer // host-visible: each node's dispatch size, whose z is the batch size
	readback     *buffer // host-visible: Trace's copy of image 0's activations
	modules      []vk.ShaderModule
	setLayout    [2]vk.DescriptorSetLayout // pool-like (src, dst) and conv (src, dst, weights, params)
	pipeLay      [2]vk.PipelineLayout
	descPool     vk.DescriptorPool
	views        []vk.BufferView
	stages       []stage
	in           nin.Shape // the input as the device reads it: im2col rows when im2col
	im2col       bool      // the host lays out the first conv's receptive fields
	inWords      int       // words per input pixel
	lastN        uint32    // the batch size the indirect buffer holds
	closed       bool
	broken       error // a timeout or lost device: the plan cannot be trusted again
	timedOut     bool  // the last submission timed out: the device may still be running it
}

// stage is one node on the device.
type stage struct {
	node     *quant.Node
	gpu      quant.Node // the node as the device runs it (the first conv becomes 1×1 under im2col)
	conv     bool
	pipeline vk.Pipeline
	set      vk.DescriptorSet
	outWords int    // words per output pixel
	outOff   uint64 // the node's range in acts
	outSize  uint64
	readOff  uint64 // image 0's copy in readback
	groups   [2]uint32
}

// Prepare builds the plan: buffers, weights (uploaded once), pipelines, descriptor sets and
// the recorded command buffers. A conv node kept in float is refused: those run on the CPU
// backend.
func (d *Device) Prepare(g *quant.Graph, batch int) (backends.Plan, error) {
	if err := backends.CheckPrepare(g, batch); err != nil {
		return nil, fmt.Errorf("vulkan: %w", err)
	}
	if uint64(batch) > uint64(d.limits.maxGroupsYZ) {
		return nil, fmt.Errorf("vulkan: batch %d exceeds the device's %d workgroups along z", batch, d.limits.maxGroupsYZ)
	}
	for _, f := range []vk.Format{vk.FormatR32Uint, vk.FormatR32g32b32a32Uint} {
		// Vulkan requires both formats for uniform texel buffers; a driver that breaks the
		// rule gets a clear error rather than a failed view later.
		var props vk.FormatProperties
		vk.GetPhysicalDeviceFormatProperties(d.phys, f, &props)
		props.Deref()
		props.Free()
		if vk.FormatFeatureFlagBits(props.BufferFeatures)&vk.FormatFeatureUniformTexelBufferBit == 0 {
			return nil, fmt.Errorf("vulkan: format %d cannot back a uniform texel buffer on this device", f)
		}
	}
	for i := range g.Nodes {
		if n := &g.Nodes[i]; n.Float {
			return nil, fmt.Errorf("vulkan: %w", backends.Unsupported(n.Name,
				"node %s is kept in float; the Vulkan backend runs integer nodes only (use --backend cpu for mixed graphs)"))
		}
	}
	p := &Plan{dev: d, g: g, batch: batch}
	if err := p.build(); err != nil {
		p.Close()
		return nil, fmt.Errorf("vulkan: %w", err)
	}
	return p, nil
}

func (p *Plan) build() error {
	if err := p.openDevice(); err != nil {
		return err
	}
	if err := p.layout(); err != nil {
		return err
	}
	if err := p.uploadWeights(); err != nil {
		return err
	}
	if err := p.pipelines(); err != nil {
		return err
	}
	if err := p.descriptors(); err != nil {
		return err
	}
	if err := p.record(); err != nil {
		return err
	}
	// One run, on whatever the input buffer holds: drivers may compile a pipeline at its
	// first dispatch (lavapipe does), which must not count against Run's wait limit. The
	// limit here allows for a slow board, or an emulator.
	return p.submit(1, uint64(10*time.Minute))
}
