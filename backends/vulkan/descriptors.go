//go:build cgo && vulkan

package vulkan

import (
	"fmt"
	"math"
	"runtime"

	vk "github.com/vulkan-go/vulkan"

	"github.com/ninedge/ninedge/quant"
)

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
