//go:build cgo && vulkan

package vulkan

import (
	vk "github.com/vulkan-go/vulkan"

	"github.com/ninedge/ninedge/quant"
)

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
