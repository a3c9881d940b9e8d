//go:build cgo && vulkan

package vulkan

import (
	"fmt"
	"time"

	vk "github.com/vulkan-go/vulkan"
)

// closeWait is how long Close waits for a submission that timed out before it gives up on it.
const closeWait = time.Second

// Close waits for the device and destroys everything the plan made. It is safe to call
// twice; the plan cannot run afterwards.
func (p *Plan) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	if p.device == nil {
		return nil
	}
	if p.timedOut && p.runner.wait(uint64(closeWait)) != vk.Success {
		// Destroying what the device may still be running is undefined, and waiting for it
		// may never end (and would keep a fallback to the CPU from happening): leave it all
		// allocated, for the process's end to free.
		return fmt.Errorf("vulkan: work that timed out was still running %v later: the plan's resources are left allocated", closeWait)
	}
	var waitErr error // a lost device still lets everything be destroyed
	if res := vk.DeviceWaitIdle(p.device); res != vk.Success {
		waitErr = fmt.Errorf("vulkan: %w", vkErr("vkDeviceWaitIdle", res))
	}
	for _, s := range p.stages {
		if s.pipeline != vk.NullPipeline {
			vk.DestroyPipeline(p.device, s.pipeline, nil)
		}
	}
	for _, v := range p.views {
		vk.DestroyBufferView(p.device, v, nil)
	}
	for _, m := range p.modules {
		vk.DestroyShaderModule(p.device, m, nil)
	}
	if p.descPool != vk.NullDescriptorPool {
		vk.DestroyDescriptorPool(p.device, p.descPool, nil)
	}
	for k := range p.pipeLay {
		if p.pipeLay[k] != vk.NullPipelineLayout {
			vk.DestroyPipelineLayout(p.device, p.pipeLay[k], nil)
		}
		if p.setLayout[k] != vk.NullDescriptorSetLayout {
			vk.DestroyDescriptorSetLayout(p.device, p.setLayout[k], nil)
		}
	}
	for _, b := range p.buffers {
		b.destroy(p.device)
	}
	if p.queries != vk.NullQueryPool {
		vk.DestroyQueryPool(p.device, p.queries, nil)
	}
	if p.cmdPool != vk.NullCommandPool {
		// Destroying the pool frees its command buffers.
		vk.DestroyCommandPool(p.device, p.cmdPool, nil)
	}
	if p.fence != vk.NullFence {
		vk.DestroyFence(p.device, p.fence, nil)
	}
	if p.runner != nil {
		p.runner.free()
		p.runner = nil
	}
	vk.DestroyDevice(p.device, nil)
	p.device = nil
	return waitErr
}
