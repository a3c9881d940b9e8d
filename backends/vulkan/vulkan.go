//go:build cgo && vulkan

// Package vulkan is the Vulkan compute backend: the int8 graph runs as GLSL compute shaders
// (package shaders, SPIR-V embedded) and reproduces quant's reference executor byte for byte.
//
// It loads libvulkan.so.1 at run time, so a binary built with the vulkan tag starts on a
// machine without Vulkan and runs on the CPU (auto, or a list such as vulkan,cpu). Weights are uploaded once, buffers,
// pipelines and descriptor sets are made in Prepare, the command buffer is recorded once per
// plan (the batch size reaches it through an indirect dispatch buffer), and Run copies the
// input in, makes one submission and copies the sums out, allocating nothing.
package vulkan

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	vk "github.com/vulkan-go/vulkan"

	"github.com/ninedge/ninedge/backends"
)

func init() { backends.Register(Backend{}) }

// Backend is the Vulkan backend; each physical device is one backends.Device.
type Backend struct{}

func (Backend) Name() string { return "vulkan" }

// api1_1 is the version asked of the instance when the loader has it: it makes the
// capability queries (features2, subgroup size) core.
var api1_1 = vk.MakeVersion(1, 1, 0)

// The instance is created once per process and kept: physical devices, and every plan's
// logical device, hang off it, and creating one costs a driver scan.
var inst struct {
	sync.Mutex
	handle  vk.Instance
	version uint32
	ok      bool
}

// instance returns the process's Vulkan instance, creating it on first success; failures
// (no loader, no driver) are retried on the next call.
func instance() (vk.Instance, uint32, error) {
	inst.Lock()
	defer inst.Unlock()
	if inst.ok {
		return inst.handle, inst.version, nil
	}
	gipa, err := openLoader()
	if err != nil {
		return nil, 0, fmt.Errorf("no Vulkan loader (install libvulkan1 and a driver such as mesa-vulkan-drivers): %w", err)
	}
	vk.SetGetInstanceProcAddr(gipa)
	if err := vk.Init(); err != nil {
		return nil, 0, fmt.Errorf("loading the global Vulkan functions: %w", err)
	}
	version := loaderVersion()
	api := vk.MakeVersion(1, 0, 0)
	if version >= api1_1 {
		api = api1_1
	}
	app := &vk.ApplicationInfo{
		SType:            vk.StructureTypeApplicationInfo,
		PApplicationName: "ninedge\x00",
		PEngineName:      "ninedge\x00",
		ApiVersion:       api,
	}
	info := &vk.InstanceCreateInfo{SType: vk.StructureTypeInstanceCreateInfo, PApplicationInfo: app}
	var h vk.Instance
	res := vk.CreateInstance(info, nil, &h)
	info.Free()
	if res != vk.Success {
		if res == vk.ErrorIncompatibleDriver {
			return nil, 0, fmt.Errorf("no Vulkan driver (ICD) found; install one (mesa-vulkan-drivers, or the GPU vendor's): %w", vkErr("vkCreateInstance", res))
		}
		return nil, 0, vkErr("vkCreateInstance", res)
	}
	if err := vk.InitInstance(h); err != nil {
		vk.DestroyInstance(h, nil)
		return nil, 0, fmt.Errorf("loading the instance's Vulkan functions: %w", err)
	}
	inst.handle, inst.version, inst.ok = h, api, true
	return h, api, nil
}

// Devices lists every physical device. No loader, no driver or no device is an error that
// says so, never a panic: auto skips the backend, a named choice fails with it.
func (Backend) Devices(backends.Options) ([]backends.Device, error) {
	h, api, err := instance()
	if err != nil {
		return nil, err
	}
	var n uint32
	if res := vk.EnumeratePhysicalDevices(h, &n, nil); res != vk.Success {
		return nil, vkErr("vkEnumeratePhysicalDevices", res)
	}
	if n == 0 {
		return nil, errors.New("the Vulkan driver reports no devices")
	}
	phys := make([]vk.PhysicalDevice, n)
	if res := vk.EnumeratePhysicalDevices(h, &n, phys); res != vk.Success && res != vk.Incomplete {
		return nil, vkErr("vkEnumeratePhysicalDevices", res)
	}
	devs := make([]backends.Device, 0, n)
	for i, p := range phys[:n] {
		devs = append(devs, describe(h, api, i, p))
	}
	return devs, nil
}

// Device is one physical device.
type Device struct {
	instance vk.Instance
	phys     vk.PhysicalDevice
	info     backends.DeviceInfo
	limits   limits
}

// limits are the device properties that Prepare needs.
type limits struct {
	storageAlign    uint64 // minStorageBufferOffsetAlignment
	texelAlign      uint64 // minTexelBufferOffsetAlignment
	maxTexels       uint32 // maxTexelBufferElements
	maxGroupsX      uint32 // maxComputeWorkGroupCount[0]
	maxGroupsYZ     uint32 // min of maxComputeWorkGroupCount[1] and [2]
	maxStorageRange uint32
	timestampPeriod float32 // nanoseconds per tick
}

func (d *Device) Info() backends.DeviceInfo { return d.info }

// describe reads everything `ninedge devices` shows about a physical device.
func describe(h vk.Instance, api uint32, index int, p vk.PhysicalDevice) *Device {
	var props vk.PhysicalDeviceProperties
	vk.GetPhysicalDeviceProperties(p, &props)
	props.Deref()
	props.Limits.Deref()
	props.Free()
	lim := props.Limits
	d := &Device{instance: h, phys: p, limits: limits{
		storageAlign:    uint64(lim.MinStorageBufferOffsetAlignment),
		texelAlign:      uint64(lim.MinTexelBufferOffsetAlignment),
		maxTexels:       lim.MaxTexelBufferElements,
		maxGroupsX:      lim.MaxComputeWorkGroupCount[0],
		maxGroupsYZ:     min(lim.MaxComputeWorkGroupCount[1], lim.MaxComputeWorkGroupCount[2]),
		maxStorageRange: lim.MaxStorageBufferRange,
		timestampPeriod: lim.TimestampPeriod,
	}}
	info := backends.DeviceInfo{
		Backend: "vulkan",
		Index:   index,
		Name:    vk.ToString(props.DeviceName[:]),
		Type:    deviceType(props.DeviceType),
	}
	features := []string{"vulkan-" + versionString(props.ApiVersion)}

	var mem vk.PhysicalDeviceMemoryProperties
	vk.GetPhysicalDeviceMemoryProperties(p, &mem)
	mem.Deref()
	mem.Free()
	for i := range mem.MemoryHeaps[:mem.MemoryHeapCount] {
		heap := &mem.MemoryHeaps[i]
		heap.Deref()
		mb := int64(heap.Size >> 20)
		local := vk.MemoryHeapFlagBits(heap.Flags)&vk.MemoryHeapDeviceLocalBit != 0
		kind := "host"
		if local {
			kind = "device-local"
			info.MemoryMB = max(info.MemoryMB, mb)
		}
		features = append(features, fmt.Sprintf("heap%d:%dMB:%s", i, mb, kind))
	}

	exts := deviceExtensions(p)
	driver := "driver " + driverVersion(props.VendorID, props.DriverVersion)
	if api >= api1_1 && props.ApiVersion >= api1_1 {
		core12 := props.ApiVersion >= vk.MakeVersion(1, 2, 0)
		core13 := props.ApiVersion >= vk.MakeVersion(1, 3, 0)
		c := queryCaps(h, p,
			core12 || exts["VK_KHR_shader_float16_int8"],
			core12 || exts["VK_KHR_8bit_storage"],
			core13 || exts["VK_KHR_shader_integer_dot_product"],
			core12 || exts["VK_KHR_driver_properties"])
		info.Int8Storage = c.storage8
		info.IntegerDot = c.dot
		info.Subgroup = c.subgroup
		if c.int8 {
			features = append(features, "shaderInt8")
		}
		if info.Int8Storage {
			features = append(features, "storageBuffer8BitAccess")
		}
		if info.IntegerDot {
			features = append(features, "shaderIntegerDotProduct")
		}
		if c.driverName != "" {
			driver = strings.TrimSpace(c.driverName+" "+c.driverInfo) + ", " + driver
		}
	}
	if d.timestamps() {
		features = append(features, "timestamps")
	}
	info.Driver = driver + ", Vulkan " + versionString(props.ApiVersion)
	info.Features = features
	d.info = info
	return d
}

// timestamps reports whether the compute queue family can time nodes.
func (d *Device) timestamps() bool {
	_, bits, ok := computeQueue(d.phys)
	return ok && bits > 0 && d.limits.timestampPeriod > 0
}

// computeQueue finds a queue family with compute, preferring one without graphics (a
// dedicated compute queue shares less with a display); it returns the family and its
// timestamp bits.
func computeQueue(p vk.PhysicalDevice) (family uint32, timestampBits uint32, ok bool) {
	var n uint32
	vk.GetPhysicalDeviceQueueFamilyProperties(p, &n, nil)
	fams := make([]vk.QueueFamilyProperties, n)
	vk.GetPhysicalDeviceQueueFamilyProperties(p, &n, fams)
	best := -1
	for i := range fams[:n] {
		f := &fams[i]
		f.Deref()
		flags := vk.QueueFlagBits(f.QueueFlags)
		if flags&vk.QueueComputeBit == 0 || f.QueueCount == 0 {
			continue
		}
		if best < 0 || flags&vk.QueueGraphicsBit == 0 {
			best = i
			if flags&vk.QueueGraphicsBit == 0 {
				break
			}
		}
	}
	if best < 0 {
		return 0, 0, false
	}
	return uint32(best), fams[best].TimestampValidBits, true
}

// deviceExtensions lists the device's extensions (the empty layer name reaches the driver as
// NULL: the device's own list).
func deviceExtensions(p vk.PhysicalDevice) map[string]bool {
	var n uint32
	if vk.EnumerateDeviceExtensionProperties(p, "", &n, nil) != vk.Success || n == 0 {
		return nil
	}
	props := make([]vk.ExtensionProperties, n)
	if res := vk.EnumerateDeviceExtensionProperties(p, "", &n, props); res != vk.Success && res != vk.Incomplete {
		return nil
	}
	m := make(map[string]bool, n)
	for i := range props[:n] {
		props[i].Deref()
		m[vk.ToString(props[i].ExtensionName[:])] = true
	}
	return m
}

func deviceType(t vk.PhysicalDeviceType) string {
	switch t {
	case vk.PhysicalDeviceTypeIntegratedGpu:
		return "integrated-gpu"
	case vk.PhysicalDeviceTypeDiscreteGpu, vk.PhysicalDeviceTypeVirtualGpu:
		return "gpu"
	case vk.PhysicalDeviceTypeCpu:
		return "cpu"
	}
	return "other"
}

func versionString(v uint32) string {
	return fmt.Sprintf("%d.%d.%d", v>>22, v>>12&0x3ff, v&0xfff)
}

// driverVersion decodes the vendor-defined driver version: NVIDIA packs 10.8.8.6 bits, most
// others (Mesa among them) use the Vulkan version layout.
func driverVersion(vendor, v uint32) string {
	if vendor == 0x10de {
		return fmt.Sprintf("%d.%d.%d.%d", v>>22, v>>14&0xff, v>>6&0xff, v&0x3f)
	}
	return versionString(v)
}
