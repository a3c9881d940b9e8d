//go:build cgo && vulkan

package vulkan

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"

	"github.com/ninedge/ninedge/quant"
	"github.com/ninedge/ninedge/shaders"
)

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
