//go:build cgo && vulkan

package vulkan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"time"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
	"github.com/ninedge/ninedge/shaders"
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

// buffer is a VkBuffer with its own memory; host-visible ones stay mapped.
type buffer struct {
	handle vk.Buffer
	mem    vk.DeviceMemory
	size   uint64
	host   unsafe.Pointer
}

func (b *buffer) bytes() []byte { return unsafe.Slice((*byte)(b.host), b.size) }

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

// openDevice creates the logical device with one compute queue, the fence and the C-side
// runner.
func (p *Plan) openDevice() error {
	family, tsBits, ok := computeQueue(p.dev.phys)
	if !ok {
		return errors.New("no queue family supports compute")
	}
	var pin runtime.Pinner
	defer pin.Unpin()
	qinfo := vk.DeviceQueueCreateInfo{
		SType:            vk.StructureTypeDeviceQueueCreateInfo,
		QueueFamilyIndex: family,
		QueueCount:       1,
		PQueuePriorities: pinned(&pin, []float32{1}),
	}
	info := &vk.DeviceCreateInfo{
		SType:                vk.StructureTypeDeviceCreateInfo,
		QueueCreateInfoCount: 1,
		PQueueCreateInfos:    []vk.DeviceQueueCreateInfo{qinfo},
	}
	var device vk.Device
	res := vk.CreateDevice(p.dev.phys, info, nil, &device)
	info.Free()
	if res != vk.Success {
		return vkErr("vkCreateDevice", res)
	}
	p.device = device
	var queue vk.Queue
	vk.GetDeviceQueue(device, family, 0, &queue)
	p.queue = queue

	finfo := &vk.FenceCreateInfo{SType: vk.StructureTypeFenceCreateInfo}
	var fence vk.Fence
	res = vk.CreateFence(device, finfo, nil, &fence)
	finfo.Free()
	if res != vk.Success {
		return vkErr("vkCreateFence", res)
	}
	p.fence = fence

	pinfo := &vk.CommandPoolCreateInfo{SType: vk.StructureTypeCommandPoolCreateInfo, QueueFamilyIndex: family}
	var pool vk.CommandPool
	res = vk.CreateCommandPool(device, pinfo, nil, &pool)
	pinfo.Free()
	if res != vk.Success {
		return vkErr("vkCreateCommandPool", res)
	}
	p.cmdPool = pool

	if tsBits > 0 && p.dev.limits.timestampPeriod > 0 {
		count := uint32(len(p.g.Nodes) + 1)
		qinfo := &vk.QueryPoolCreateInfo{SType: vk.StructureTypeQueryPoolCreateInfo, QueryType: vk.QueryTypeTimestamp, QueryCount: count}
		var qp vk.QueryPool
		res = vk.CreateQueryPool(device, qinfo, nil, &qp)
		qinfo.Free()
		if res != vk.Success {
			return vkErr("vkCreateQueryPool", res)
		}
		p.queries = qp
		p.stamps = make([]uint64, count)
		p.tsMask = ^uint64(0)
		if tsBits < 64 {
			p.tsMask = 1<<tsBits - 1
		}
	}

	r, err := newRunner(p.dev.instance, device, queue, fence)
	if err != nil {
		return err
	}
	p.runner = r
	return nil
}

// layout creates the buffers and assigns each node its output range.
func (p *Plan) layout() error {
	g, batch := p.g, uint64(p.batch)
	align := max(p.dev.limits.storageAlign, p.dev.limits.texelAlign, 16)
	p.in = g.Spec.Input
	var actSize, readSize uint64
	p.stages = make([]stage, len(g.Nodes))
	for i := range g.Nodes {
		n := &g.Nodes[i]
		s := &p.stages[i]
		s.node, s.gpu, s.conv = n, *n, n.Op == quant.OpConv
		if i == 0 && hostIm2col(n) {
			// A k×k conv on a few input channels does one word of work per kernel tap, so
			// its per-tap cost dominates; as a 1×1 conv over im2col rows it runs like the
			// others, and the host, which copies the input anyway, lays the rows out.
			p.im2col = true
			p.in = nin.Shape{H: n.Out.H, W: n.Out.W, C: n.K()}
			s.gpu.In, s.gpu.Kernel, s.gpu.Stride, s.gpu.Pad = p.in, 1, 1, 0
		}
		if n.Op == quant.OpGlobalAvg {
			s.groups = [2]uint32{uint32(ceilDiv(words(n.In.C), groupSize)), 1}
			continue
		}
		s.outWords = words(n.Out.C)
		pixels := n.Out.H * n.Out.W
		img := uint64(pixels * s.outWords * 4)
		s.outOff, s.outSize = actSize, batch*img
		s.readOff = readSize
		actSize = alignUp(actSize+s.outSize, align)
		readSize += img
		if s.outSize > uint64(p.dev.limits.maxStorageRange) {
			return fmt.Errorf("node %s: %d bytes of activations for a batch of %d exceed the device's storage buffer range (%d)",
				n.Name, s.outSize, batch, p.dev.limits.maxStorageRange)
		}
		if s.conv {
			s.groups = [2]uint32{uint32(ceilDiv(pixels, groupSize*convPixels)), uint32(ceilDiv(s.outWords, convWords))}
		} else {
			s.groups = [2]uint32{uint32(ceilDiv(pixels*s.outWords, groupSize)), 1}
		}
		if s.groups[0] > p.dev.limits.maxGroupsX || s.groups[1] > p.dev.limits.maxGroupsYZ {
			return fmt.Errorf("node %s needs %v workgroups, more than the device allows", n.Name, s.groups)
		}
	}
	p.inWords = words(p.in.C)
	var err error
	if p.input, err = p.newBuffer(batch*uint64(p.in.H*p.in.W*p.inWords*4), vk.BufferUsageUniformTexelBufferBit, true); err != nil {
		return err
	}
	if p.acts, err = p.newBuffer(actSize, vk.BufferUsageStorageBufferBit|vk.BufferUsageUniformTexelBufferBit|vk.BufferUsageTransferSrcBit, false); err != nil {
		return err
	}
	if p.output, err = p.newBuffer(batch*uint64(len(g.Classes))*4, vk.BufferUsageStorageBufferBit, true); err != nil {
		return err
	}
	if p.indirect, err = p.newBuffer(uint64(len(g.Nodes))*12, vk.BufferUsageIndirectBufferBit, true); err != nil {
		return err
	}
	if p.readback, err = p.newBuffer(readSize, vk.BufferUsageTransferDstBit, true); err != nil {
		return err
	}
	args := unsafe.Slice((*uint32)(p.indirect.host), 3*len(g.Nodes))
	for i, s := range p.stages {
		args[3*i], args[3*i+1], args[3*i+2] = s.groups[0], s.groups[1], 1
	}
	p.lastN = 1
	return nil
}

// hostIm2col says whether the first node is a k×k conv whose input pixels fit one word.
func hostIm2col(n *quant.Node) bool {
	return n.Op == quant.OpConv && n.Kernel > 1 && words(n.In.C) == 1
}

func words(channels int) int { return (channels + 3) / 4 }

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func alignUp(v, a uint64) uint64 { return (v + a - 1) / a * a }

// newBuffer creates a buffer with memory of its own: device-local where the device has it,
// or host-visible, coherent and mapped for the buffers the CPU reads and writes.
func (p *Plan) newBuffer(size uint64, usage vk.BufferUsageFlagBits, host bool) (*buffer, error) {
	info := &vk.BufferCreateInfo{
		SType:       vk.StructureTypeBufferCreateInfo,
		Size:        vk.DeviceSize(max(size, 4)),
		Usage:       vk.BufferUsageFlags(usage),
		SharingMode: vk.SharingModeExclusive,
	}
	var h vk.Buffer
	res := vk.CreateBuffer(p.device, info, nil, &h)
	info.Free()
	if res != vk.Success {
		return nil, vkErr("vkCreateBuffer", res)
	}
	b := &buffer{handle: h, size: size}
	p.buffers = append(p.buffers, b)

	var req vk.MemoryRequirements
	vk.GetBufferMemoryRequirements(p.device, h, &req)
	req.Deref()
	req.Free()
	want := vk.MemoryPropertyDeviceLocalBit
	if host {
		want = vk.MemoryPropertyHostVisibleBit | vk.MemoryPropertyHostCoherentBit
	}
	typ, ok := p.memoryType(req.MemoryTypeBits, want, host)
	if !ok {
		return nil, fmt.Errorf("no memory type for a %d-byte buffer (host-visible: %v)", size, host)
	}
	ainfo := &vk.MemoryAllocateInfo{SType: vk.StructureTypeMemoryAllocateInfo, AllocationSize: req.Size, MemoryTypeIndex: typ}
	var mem vk.DeviceMemory
	res = vk.AllocateMemory(p.device, ainfo, nil, &mem)
	ainfo.Free()
	if res != vk.Success {
		return nil, fmt.Errorf("%d bytes: %w", req.Size, vkErr("vkAllocateMemory", res))
	}
	b.mem = mem
	if res := vk.BindBufferMemory(p.device, h, mem, 0); res != vk.Success {
		return nil, vkErr("vkBindBufferMemory", res)
	}
	if host {
		var ptr unsafe.Pointer
		if res := vk.MapMemory(p.device, mem, 0, vk.DeviceSize(vk.WholeSize), 0, &ptr); res != vk.Success {
			return nil, vkErr("vkMapMemory", res)
		}
		b.host = ptr
	}
	return b, nil
}

// memoryType picks a memory type allowed by bits with every property in want. Host access is
// required; device-local memory is only preferred, so that request falls back to any type the
// buffer allows.
func (p *Plan) memoryType(bits uint32, want vk.MemoryPropertyFlagBits, required bool) (uint32, bool) {
	var mp vk.PhysicalDeviceMemoryProperties
	vk.GetPhysicalDeviceMemoryProperties(p.dev.phys, &mp)
	mp.Deref()
	mp.Free()
	for i := uint32(0); i < mp.MemoryTypeCount; i++ {
		t := &mp.MemoryTypes[i]
		t.Deref()
		if bits&(1<<i) != 0 && vk.MemoryPropertyFlagBits(t.PropertyFlags)&want == want {
			return i, true
		}
	}
	if required {
		return 0, false
	}
	for i := uint32(0); i < mp.MemoryTypeCount; i++ {
		if bits&(1<<i) != 0 {
			return i, true
		}
	}
	return 0, false
}

// packWeights lays out a conv node's weights as the conv shader reads them (see conv.comp):
// output channels in groups of convWords words, each kernel word (ky, kx, 4 input channels)
// holding one int8 per byte, zeros in the channel padding; then per padded output channel
// its bias, multiplier and shift (0, 0, 1 in the padding, which requantizes to 0).
func packWeights(n *quant.Node) (wts, params []byte) {
	icw, ocw := words(n.In.C), words(n.Out.C)
	groups := ceilDiv(ocw, convWords)
	kw := n.Kernel * n.Kernel * icw
	nc := n.Out.C
	wts = make([]byte, groups*kw*convWords*4*4)
	for g := 0; g < groups; g++ {
		for k := 0; k < kw; k++ {
			tap, cw := k/icw, k%icw
			for j := 0; j < convWords*4; j++ {
				o := g*convWords*4 + j
				if o >= nc {
					continue
				}
				at := ((g*kw+k)*convWords*4 + j) * 4
				for b := 0; b < 4; b++ {
					if c := cw*4 + b; c < n.In.C {
						wts[at+b] = byte(n.Weights[(tap*n.In.C+c)*nc+o])
					}
				}
			}
		}
	}
	params = make([]byte, groups*convWords*4*16)
	for o := 0; o < groups*convWords*4; o++ {
		bias, m, s := int32(0), int32(0), int32(1)
		if o < nc {
			bias, m, s = n.Bias[o], n.Mult[o], n.Shift[o]
		}
		binary.LittleEndian.PutUint32(params[16*o:], uint32(bias))
		binary.LittleEndian.PutUint32(params[16*o+4:], uint32(m))
		binary.LittleEndian.PutUint32(params[16*o+8:], uint32(s))
	}
	return wts, params
}

// weightRanges are where each conv node's weights and parameters sit in the weight buffer.
type weightRanges struct{ wOff, wSize, pOff, pSize uint64 }

// uploadWeights packs every conv node's weights into one device-local buffer through a
// staging buffer, once, and records each node's ranges for its descriptor set.
func (p *Plan) uploadWeights() error {
	align := max(p.dev.limits.storageAlign, p.dev.limits.texelAlign, 16)
	var blobs [][]byte
	ranges := make([]weightRanges, len(p.stages))
	var size uint64
	for i := range p.stages {
		if !p.stages[i].conv {
			continue
		}
		w, prm := packWeights(&p.stages[i].gpu)
		r := &ranges[i]
		r.wOff, r.wSize = size, uint64(len(w))
		size = alignUp(size+r.wSize, align)
		r.pOff, r.pSize = size, uint64(len(prm))
		size = alignUp(size+r.pSize, align)
		blobs = append(blobs, w, prm)
	}
	p.weightRanges = ranges
	if size == 0 {
		return nil
	}
	wb, err := p.newBuffer(size, vk.BufferUsageStorageBufferBit|vk.BufferUsageUniformTexelBufferBit|vk.BufferUsageTransferDstBit, false)
	if err != nil {
		return err
	}
	p.weights = wb
	staging, err := p.newBuffer(size, vk.BufferUsageTransferSrcBit, true)
	if err != nil {
		return err
	}
	dst := staging.bytes()
	k := 0
	for i := range p.stages {
		if p.stages[i].conv {
			copy(dst[ranges[i].wOff:], blobs[k])
			copy(dst[ranges[i].pOff:], blobs[k+1])
			k += 2
		}
	}
	cb, err := p.commandBuffer()
	if err != nil {
		return err
	}
	if err := begin(cb); err != nil {
		return err
	}
	vk.CmdCopyBuffer(cb, staging.handle, wb.handle, 1, []vk.BufferCopy{{Size: vk.DeviceSize(size)}})
	barrier(cb, vk.PipelineStageTransferBit, vk.PipelineStageComputeShaderBit, vk.AccessTransferWriteBit, vk.AccessShaderReadBit)
	if res := vk.EndCommandBuffer(cb); res != vk.Success {
		return vkErr("vkEndCommandBuffer", res)
	}
	p.runner.setCommands(cb)
	if err := p.submit(1, waitLimit(0)); err != nil {
		return err // the copy may still run: Close frees the staging buffer, if it can
	}
	vk.FreeCommandBuffers(p.device, p.cmdPool, 1, []vk.CommandBuffer{cb})
	p.destroyBuffer(staging)
	return nil
}

func (p *Plan) destroyBuffer(b *buffer) {
	for i, o := range p.buffers {
		if o == b {
			p.buffers = append(p.buffers[:i], p.buffers[i+1:]...)
			break
		}
	}
	b.destroy(p.device)
}

func (b *buffer) destroy(device vk.Device) {
	if b.handle != vk.NullBuffer {
		vk.DestroyBuffer(device, b.handle, nil)
	}
	if b.mem != vk.NullDeviceMemory {
		// Freeing memory unmaps it.
		vk.FreeMemory(device, b.mem, nil)
	}
}

func (p *Plan) commandBuffer() (vk.CommandBuffer, error) {
	info := &vk.CommandBufferAllocateInfo{
		SType:              vk.StructureTypeCommandBufferAllocateInfo,
		CommandPool:        p.cmdPool,
		Level:              vk.CommandBufferLevelPrimary,
		CommandBufferCount: 1,
	}
	cbs := make([]vk.CommandBuffer, 1)
	res := vk.AllocateCommandBuffers(p.device, info, cbs)
	info.Free()
	if res != vk.Success {
		return nil, vkErr("vkAllocateCommandBuffers", res)
	}
	return cbs[0], nil
}

func begin(cb vk.CommandBuffer) error {
	info := &vk.CommandBufferBeginInfo{SType: vk.StructureTypeCommandBufferBeginInfo}
	res := vk.BeginCommandBuffer(cb, info)
	info.Free()
	if res != vk.Success {
		return vkErr("vkBeginCommandBuffer", res)
	}
	return nil
}

func barrier(cb vk.CommandBuffer, src, dst vk.PipelineStageFlagBits, srcAccess, dstAccess vk.AccessFlagBits) {
	vk.CmdPipelineBarrier(cb, vk.PipelineStageFlags(src), vk.PipelineStageFlags(dst), 0, 1, []vk.MemoryBarrier{{
		SType:         vk.StructureTypeMemoryBarrier,
		SrcAccessMask: vk.AccessFlags(srcAccess),
		DstAccessMask: vk.AccessFlags(dstAccess),
	}}, 0, nil, 0, nil)
}

// pipelines creates the shader modules, the two descriptor set and pipeline layouts, and
// one pipeline per node, specialized to its shapes so that the driver's compiler sees
// constant loop bounds.
func (p *Plan) pipelines() error {
	var pin runtime.Pinner
	defer pin.Unpin()
	for k, bindings := range []int{2, 4} {
		b := make([]vk.DescriptorSetLayoutBinding, bindings)
		for i := range b {
			b[i] = vk.DescriptorSetLayoutBinding{
				Binding:         uint32(i),
				DescriptorType:  descriptorType(k == 1, i),
				DescriptorCount: 1,
				StageFlags:      vk.ShaderStageFlags(vk.ShaderStageComputeBit),
			}
		}
		info := &vk.DescriptorSetLayoutCreateInfo{
			SType:        vk.StructureTypeDescriptorSetLayoutCreateInfo,
			BindingCount: uint32(bindings),
			PBindings:    b,
		}
		var sl vk.DescriptorSetLayout
		res := vk.CreateDescriptorSetLayout(p.device, info, nil, &sl)
		info.Free()
		if res != vk.Success {
			return vkErr("vkCreateDescriptorSetLayout", res)
		}
		p.setLayout[k] = sl
		linfo := &vk.PipelineLayoutCreateInfo{
			SType:          vk.StructureTypePipelineLayoutCreateInfo,
			SetLayoutCount: 1,
			PSetLayouts:    pinned(&pin, []vk.DescriptorSetLayout{sl}),
		}
		var pl vk.PipelineLayout
		res = vk.CreatePipelineLayout(p.device, linfo, nil, &pl)
		linfo.Free()
		if res != vk.Success {
			return vkErr("vkCreatePipelineLayout", res)
		}
		p.pipeLay[k] = pl
	}
	modules := map[string]vk.ShaderModule{}
	for i := range p.stages {
		s := &p.stages[i]
		n := &s.gpu
		code, spec := shaderFor(n, p.inWordsOf(i))
		m, ok := modules[n.Op]
		if !ok {
			var err error
			if m, err = p.shaderModule(code); err != nil {
				return fmt.Errorf("node %s: %w", n.Name, err)
			}
			modules[n.Op] = m
		}
		pipe, err := p.pipeline(m, p.pipeLay[boolIndex(s.conv)], spec)
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		s.pipeline = pipe
	}
	return nil
}

// inWordsOf is the number of words per pixel of node i's input.
func (p *Plan) inWordsOf(i int) int {
	if i == 0 {
		return p.inWords
	}
	return p.stages[i-1].outWords
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// shaderFor returns a node's SPIR-V and its specialization constants, numbered as the
// shader's constant_id.
func shaderFor(n *quant.Node, inWords int) ([]byte, []uint32) {
	switch n.Op {
	case quant.OpConv:
		pad := uint32(n.PadValue) * 0x01010101
		return shaders.Conv, []uint32{groupSize, uint32(n.In.H), uint32(n.In.W), uint32(inWords),
			uint32(n.Out.H), uint32(n.Out.W), uint32(words(n.Out.C)), uint32(n.Kernel), uint32(n.Stride), uint32(n.Pad), pad}
	case quant.OpMaxPool, quant.OpAvgPool:
		code := shaders.MaxPool
		if n.Op == quant.OpAvgPool {
			code = shaders.AvgPool
		}
		return code, []uint32{groupSize, uint32(n.In.H), uint32(n.In.W), uint32(inWords),
			uint32(n.Out.H), uint32(n.Out.W), uint32(n.Kernel), uint32(n.Stride)}
	default:
		return shaders.GlobalSum, []uint32{groupSize, uint32(n.In.H * n.In.W), uint32(inWords), uint32(n.In.C)}
	}
}

// shaderModule copies SPIR-V into C memory as 32-bit words (the driver keeps no pointer to
// it after vkCreateShaderModule, and a C copy keeps Go memory out of C structures).
func (p *Plan) shaderModule(spv []byte) (vk.ShaderModule, error) {
	code, free := cWords(len(spv) / 4)
	defer free()
	for i := range code {
		code[i] = binary.LittleEndian.Uint32(spv[4*i:])
	}
	info := &vk.ShaderModuleCreateInfo{
		SType:    vk.StructureTypeShaderModuleCreateInfo,
		CodeSize: uint(len(spv)),
		PCode:    code,
	}
	var m vk.ShaderModule
	res := vk.CreateShaderModule(p.device, info, nil, &m)
	info.Free()
	if res != vk.Success {
		return vk.NullShaderModule, vkErr("vkCreateShaderModule", res)
	}
	p.modules = append(p.modules, m)
	return m, nil
}

func (p *Plan) pipeline(m vk.ShaderModule, layout vk.PipelineLayout, spec []uint32) (vk.Pipeline, error) {
	data, free := cWords(len(spec))
	defer free()
	copy(data, spec)
	entries := make([]vk.SpecializationMapEntry, len(spec))
	for i := range entries {
		entries[i] = vk.SpecializationMapEntry{ConstantID: uint32(i), Offset: uint32(4 * i), Size: 4}
	}
	info := []vk.ComputePipelineCreateInfo{{
		SType: vk.StructureTypeComputePipelineCreateInfo,
		Stage: vk.PipelineShaderStageCreateInfo{
			SType:  vk.StructureTypePipelineShaderStageCreateInfo,
			Stage:  vk.ShaderStageComputeBit,
			Module: m,
			PName:  "main\x00",
			PSpecializationInfo: []vk.SpecializationInfo{{
				MapEntryCount: uint32(len(spec)),
				PMapEntries:   entries,
				DataSize:      uint(4 * len(spec)),
				PData:         unsafe.Pointer(&data[0]),
			}},
		},
		Layout: layout,
	}}
	pipes := make([]vk.Pipeline, 1)
	res := vk.CreateComputePipelines(p.device, vk.NullPipelineCache, 1, info, nil, pipes)
	if res != vk.Success {
		return vk.NullPipeline, vkErr("vkCreateComputePipelines", res)
	}
	return pipes[0], nil
}

// descriptors allocates and writes one descriptor set per node.
func (p *Plan) descriptors() error {
	var pin runtime.Pinner
	defer pin.Unpin()
	n := uint32(len(p.stages))
	info := &vk.DescriptorPoolCreateInfo{
		SType:         vk.StructureTypeDescriptorPoolCreateInfo,
		MaxSets:       n,
		PoolSizeCount: 2,
		PPoolSizes: []vk.DescriptorPoolSize{{Type: vk.DescriptorTypeStorageBuffer, DescriptorCount: 2 * n},
			{Type: vk.DescriptorTypeUniformTexelBuffer, DescriptorCount: 2 * n}},
	}
	var pool vk.DescriptorPool
	res := vk.CreateDescriptorPool(p.device, info, nil, &pool)
	info.Free()
	if res != vk.Success {
		return vkErr("vkCreateDescriptorPool", res)
	}
	p.descPool = pool
	for i := range p.stages {
		s := &p.stages[i]
		ainfo := &vk.DescriptorSetAllocateInfo{
			SType:              vk.StructureTypeDescriptorSetAllocateInfo,
			DescriptorPool:     pool,
			DescriptorSetCount: 1,
			PSetLayouts:        pinned(&pin, []vk.DescriptorSetLayout{p.setLayout[boolIndex(s.conv)]}),
		}
		var set vk.DescriptorSet
		res := vk.AllocateDescriptorSets(p.device, ainfo, &set)
		ainfo.Free()
		if res != vk.Success {
			return vkErr("vkAllocateDescriptorSets", res)
		}
		s.set = set
		src := vk.DescriptorBufferInfo{Buffer: p.input.handle, Range: vk.DeviceSize(p.input.size)}
		if i > 0 {
			prev := &p.stages[i-1]
			src = vk.DescriptorBufferInfo{Buffer: p.acts.handle, Offset: vk.DeviceSize(prev.outOff), Range: vk.DeviceSize(prev.outSize)}
		}
		dst := vk.DescriptorBufferInfo{Buffer: p.output.handle, Range: vk.DeviceSize(vk.WholeSize)}
		if s.node.Op != quant.OpGlobalAvg {
			dst = vk.DescriptorBufferInfo{Buffer: p.acts.handle, Offset: vk.DeviceSize(s.outOff), Range: vk.DeviceSize(s.outSize)}
		}
		infos := []vk.DescriptorBufferInfo{src, dst}
		if s.conv {
			r := p.weightRanges[i]
			infos = append(infos,
				vk.DescriptorBufferInfo{Buffer: p.weights.handle, Offset: vk.DeviceSize(r.wOff), Range: vk.DeviceSize(r.wSize)},
				vk.DescriptorBufferInfo{Buffer: p.weights.handle, Offset: vk.DeviceSize(r.pOff), Range: vk.DeviceSize(r.pSize)})
		}
		writes := make([]vk.WriteDescriptorSet, len(infos))
		for b := range infos {
			typ := descriptorType(s.conv, b)
			writes[b] = vk.WriteDescriptorSet{
				SType:           vk.StructureTypeWriteDescriptorSet,
				DstSet:          set,
				DstBinding:      uint32(b),
				DescriptorCount: 1,
				DescriptorType:  typ,
			}
			if typ == vk.DescriptorTypeStorageBuffer {
				writes[b].PBufferInfo = infos[b : b+1]
				continue
			}
			format := vk.FormatR32Uint
			if b == 2 {
				format = vk.FormatR32g32b32a32Uint
			}
			view, err := p.view(infos[b], format)
			if err != nil {
				return fmt.Errorf("node %s: %w", s.node.Name, err)
			}
			writes[b].PTexelBufferView = pinned(&pin, []vk.BufferView{view})
		}
		vk.UpdateDescriptorSets(p.device, uint32(len(writes)), writes, 0, nil)
	}
	return nil
}

// pinned pins s's backing array: vulkan-go stores a slice's data pointer in the C structs it
// builds, and cgo allows a Go pointer in C memory only while it is pinned. Unpin after the
// call that reads the structs.
func pinned[T any](pin *runtime.Pinner, s []T) []T {
	pin.Pin(&s[0])
	return s
}

// descriptorType is binding b's type: every shader reads its input (and a conv its weights)
// through uniform texel buffers, which a CPU driver (lavapipe) fetches with vector gathers,
// where its storage buffer loads go lane by lane (8× slower on the conv layers).
func descriptorType(conv bool, b int) vk.DescriptorType {
	if b == 0 || conv && b == 2 {
		return vk.DescriptorTypeUniformTexelBuffer
	}
	return vk.DescriptorTypeStorageBuffer
}

func (p *Plan) view(r vk.DescriptorBufferInfo, format vk.Format) (vk.BufferView, error) {
	texels := uint64(r.Range) / 4
	if format == vk.FormatR32g32b32a32Uint {
		texels /= 4
	}
	// The shaders index texels with 32-bit ints, whatever larger limit a driver reports.
	if limit := min(uint64(p.dev.limits.maxTexels), math.MaxInt32); texels > limit {
		return vk.NullBufferView, fmt.Errorf("%d texels exceed the texel buffer limit (%d): prepare a smaller batch", texels, limit)
	}
	info := &vk.BufferViewCreateInfo{
		SType:  vk.StructureTypeBufferViewCreateInfo,
		Buffer: r.Buffer,
		Format: format,
		Offset: r.Offset,
		Range:  r.Range,
	}
	var v vk.BufferView
	res := vk.CreateBufferView(p.device, info, nil, &v)
	info.Free()
	if res != vk.Success {
		return vk.NullBufferView, vkErr("vkCreateBufferView", res)
	}
	p.views = append(p.views, v)
	return v, nil
}

// record records the two command buffers once: run (every node, each behind a barrier on
// the previous one's writes, a timestamp after each) and trace (image 0's activations copied
// to the readback buffer).
func (p *Plan) record() error {
	cb, err := p.commandBuffer()
	if err != nil {
		return err
	}
	p.run = cb
	if err := begin(cb); err != nil {
		return err
	}
	if p.queries != vk.NullQueryPool {
		vk.CmdResetQueryPool(cb, p.queries, 0, uint32(len(p.stages)+1))
		vk.CmdWriteTimestamp(cb, vk.PipelineStageBottomOfPipeBit, p.queries, 0)
	}
	for i := range p.stages {
		s := &p.stages[i]
		lay := p.pipeLay[boolIndex(s.conv)]
		vk.CmdBindPipeline(cb, vk.PipelineBindPointCompute, s.pipeline)
		vk.CmdBindDescriptorSets(cb, vk.PipelineBindPointCompute, lay, 0, 1, []vk.DescriptorSet{s.set}, 0, nil)
		vk.CmdDispatchIndirect(cb, p.indirect.handle, vk.DeviceSize(12*i))
		if i < len(p.stages)-1 {
			barrier(cb, vk.PipelineStageComputeShaderBit, vk.PipelineStageComputeShaderBit, vk.AccessShaderWriteBit, vk.AccessShaderReadBit)
		} else {
			barrier(cb, vk.PipelineStageComputeShaderBit, vk.PipelineStageHostBit, vk.AccessShaderWriteBit, vk.AccessHostReadBit)
		}
		if p.queries != vk.NullQueryPool {
			vk.CmdWriteTimestamp(cb, vk.PipelineStageBottomOfPipeBit, p.queries, uint32(i+1))
		}
	}
	if res := vk.EndCommandBuffer(cb); res != vk.Success {
		return vkErr("vkEndCommandBuffer", res)
	}

	if p.trace, err = p.commandBuffer(); err != nil {
		return err
	}
	if err := begin(p.trace); err != nil {
		return err
	}
	barrier(p.trace, vk.PipelineStageComputeShaderBit, vk.PipelineStageTransferBit, vk.AccessShaderWriteBit, vk.AccessTransferReadBit)
	var regions []vk.BufferCopy
	for _, s := range p.stages {
		if s.node.Op != quant.OpGlobalAvg {
			size := s.outSize / uint64(p.batch)
			regions = append(regions, vk.BufferCopy{SrcOffset: vk.DeviceSize(s.outOff), DstOffset: vk.DeviceSize(s.readOff), Size: vk.DeviceSize(size)})
		}
	}
	if len(regions) > 0 { // a graph that is one global pool has no activations to read
		vk.CmdCopyBuffer(p.trace, p.acts.handle, p.readback.handle, uint32(len(regions)), regions)
	}
	barrier(p.trace, vk.PipelineStageTransferBit, vk.PipelineStageHostBit, vk.AccessTransferWriteBit, vk.AccessHostReadBit)
	if res := vk.EndCommandBuffer(p.trace); res != vk.Success {
		return vkErr("vkEndCommandBuffer", res)
	}
	p.runner.setCommands(p.run, p.trace)
	return nil
}
