//go:build cgo && vulkan

package vulkan

import (
	"fmt"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"
)

// buffer is a VkBuffer with its own memory; host-visible ones stay mapped.
type buffer struct {
	handle vk.Buffer
	mem    vk.DeviceMemory
	size   uint64
	host   unsafe.Pointer
}

func (b *buffer) bytes() []byte { return unsafe.Slice((*byte)(b.host), b.size) }

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
