//go:build cgo && vulkan

package vulkan

import (
	"errors"
	"runtime"

	vk "github.com/vulkan-go/vulkan"
)

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
