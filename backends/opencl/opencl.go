//go:build cgo && opencl

// Package opencl runs int8 graphs on OpenCL devices (GPUs of phones and boards, PoCL on a
// CPU) through github.com/jgillich/go-opencl. It reproduces quant's reference executor byte
// for byte: the kernels (kernels.cl, embedded) use 32-bit integer operations only and mirror
// quant/fixedpoint's rounding.
//
// Weights, biases and requantization parameters are uploaded once in Prepare, every node's
// activation buffer is allocated once per plan, and Run only writes the input, enqueues each
// node's kernel (two for a convolution that goes through im2col) and reads the channel sums
// back. Layers kept in float are refused: the CPU backend runs those graphs.
//
// The package is built only with the opencl build tag and cgo; such a binary links
// libOpenCL.so.1 (the ICD loader) even when it then runs on the CPU backend.
package opencl

/*
#cgo linux pkg-config: OpenCL
#cgo darwin LDFLAGS: -framework OpenCL
#define CL_TARGET_OPENCL_VERSION 120
#ifdef __APPLE__
#include <OpenCL/cl.h>
#else
#include <CL/cl.h>
#endif
*/
import "C"

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"github.com/jgillich/go-opencl/cl"

	"github.com/ninedge/ninedge/backends"
)

func init() { backends.Register(Backend{}) }

// Backend is the OpenCL backend: every device of every platform.
type Backend struct{}

func (Backend) Name() string { return "opencl" }

// Devices lists every OpenCL device of every platform. With no ICD installed, no platform or
// no device it returns an error saying so, which callers take as the cue to use the CPU.
// Options.Threads does not apply: the driver schedules the device's own threads.
//
// Device properties are queried here with direct OpenCL calls rather than through
// go-opencl: its getters panic when a query fails, read strings into a 1024-byte buffer
// (too short for many GPUs' extension lists), and cannot ask vendor queries such as the
// warp size. Both enumerate platforms and devices with the same calls, so their orders
// agree and the go-opencl device at the same position is the one these properties describe.
func (Backend) Devices(backends.Options) ([]backends.Device, error) {
	raw, err := rawDevices()
	if err != nil {
		return nil, err
	}
	plats, err := cl.GetPlatforms()
	if err != nil {
		return nil, fmt.Errorf("listing platforms: %w", err)
	}
	var devs []backends.Device
	byPlatform := map[int][]*cl.Device{}
	for _, r := range raw {
		if r.platform >= len(plats) {
			return nil, fmt.Errorf("platform %d disappeared while listing devices", r.platform)
		}
		cds, ok := byPlatform[r.platform]
		if !ok {
			if cds, err = plats[r.platform].GetDevices(cl.DeviceTypeAll); err != nil {
				return nil, fmt.Errorf("platform %d: listing devices: %w", r.platform, err)
			}
			byPlatform[r.platform] = cds
		}
		if r.index >= len(cds) {
			return nil, fmt.Errorf("platform %d: devices changed while listing them", r.platform)
		}
		r.info.Index = len(devs)
		devs = append(devs, &Device{info: r.info, little: r.little, dev: cds[r.index]})
	}
	return devs, nil
}

// rawDevice is one device found by rawDevices: its position and its description.
type rawDevice struct {
	platform, index int
	info            backends.DeviceInfo
	little          bool // little-endian
}

// rawDevices enumerates platforms and devices and describes each device.
func rawDevices() ([]rawDevice, error) {
	var np C.cl_uint
	if rc := C.clGetPlatformIDs(0, nil, &np); rc != C.CL_SUCCESS {
		return nil, fmt.Errorf("listing platforms: %w", codeError(rc))
	}
	if np == 0 {
		return nil, errors.New("no OpenCL platform is installed")
	}
	plats := make([]C.cl_platform_id, np)
	if rc := C.clGetPlatformIDs(np, &plats[0], nil); rc != C.CL_SUCCESS {
		return nil, fmt.Errorf("listing platforms: %w", codeError(rc))
	}
	var out []rawDevice
	var skipped []string
	for pi, plat := range plats {
		pname, _ := platformString(plat, C.CL_PLATFORM_NAME)
		var nd C.cl_uint
		// A platform without devices (CL_DEVICE_NOT_FOUND) is common: an ICD installed for
		// hardware that is absent. Other platforms may still have devices.
		rc := C.clGetDeviceIDs(plat, C.CL_DEVICE_TYPE_ALL, 0, nil, &nd)
		if rc != C.CL_SUCCESS {
			skipped = append(skipped, fmt.Sprintf("%s: %v", pname, codeError(rc)))
			continue
		}
		if nd == 0 {
			skipped = append(skipped, pname+": no devices")
			continue
		}
		ids := make([]C.cl_device_id, nd)
		if rc := C.clGetDeviceIDs(plat, C.CL_DEVICE_TYPE_ALL, nd, &ids[0], nil); rc != C.CL_SUCCESS {
			skipped = append(skipped, fmt.Sprintf("%s: %v", pname, codeError(rc)))
			continue
		}
		for di, id := range ids {
			// One device that cannot describe itself (a half-installed ICD) must not hide
			// the others.
			info, err := describe(id, pname)
			if err != nil {
				skipped = append(skipped, fmt.Sprintf("%s device %d: %v", pname, di, err))
				continue
			}
			var little C.cl_bool
			if err := deviceValue(id, C.CL_DEVICE_ENDIAN_LITTLE, &little); err != nil {
				skipped = append(skipped, fmt.Sprintf("%s device %d: endianness: %v", pname, di, err))
				continue
			}
			out = append(out, rawDevice{platform: pi, index: di, info: info, little: little == C.CL_TRUE})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no OpenCL device (%s)", strings.Join(skipped, "; "))
	}
	return out, nil
}

// Vendor device queries (cl_nv_device_attribute_query, cl_amd_device_attribute_query,
// cl_intel_required_subgroup_size), absent from the standard headers.
const (
	clDeviceWarpSizeNV         = 0x4003
	clDeviceWavefrontWidthAMD  = 0x4043
	clDeviceSubGroupSizesIntel = 0x4108
)

// features are the extensions worth showing because they decide how int8 can run.
var features = []string{
	"cl_khr_integer_dot_product", "cl_arm_integer_dot_product_int8",
	"cl_arm_integer_dot_product_accumulate_int8", "cl_intel_subgroups", "cl_khr_subgroups",
	"cl_khr_fp16",
}

func describe(id C.cl_device_id, platform string) (backends.DeviceInfo, error) {
	info := backends.DeviceInfo{Backend: "opencl"}
	name, err := deviceString(id, C.CL_DEVICE_NAME)
	if err != nil {
		return info, fmt.Errorf("name: %w", err)
	}
	info.Name = strings.TrimSpace(name)
	var typ C.cl_device_type
	if err := deviceValue(id, C.CL_DEVICE_TYPE, &typ); err != nil {
		return info, fmt.Errorf("type: %w", err)
	}
	var unified C.cl_bool
	// Deprecated since OpenCL 2.0: a driver that refuses it gets its GPU reported as "gpu".
	_ = deviceValue(id, C.CL_DEVICE_HOST_UNIFIED_MEMORY, &unified)
	switch {
	case typ&C.CL_DEVICE_TYPE_GPU != 0 && unified == C.CL_TRUE:
		info.Type = "integrated-gpu"
	case typ&C.CL_DEVICE_TYPE_GPU != 0:
		info.Type = "gpu"
	case typ&C.CL_DEVICE_TYPE_CPU != 0:
		info.Type = "cpu"
	case typ&C.CL_DEVICE_TYPE_ACCELERATOR != 0:
		info.Type = "accelerator"
	default:
		info.Type = "other"
	}
	driver, _ := deviceString(id, C.CL_DRIVER_VERSION)
	version, _ := deviceString(id, C.CL_DEVICE_VERSION)
	info.Driver = strings.TrimSpace(fmt.Sprintf("%s %s (%s)", platform, driver, version))
	var mem C.cl_ulong
	if err := deviceValue(id, C.CL_DEVICE_GLOBAL_MEM_SIZE, &mem); err == nil {
		info.MemoryMB = int64(mem >> 20)
	}
	var units C.cl_uint
	if err := deviceValue(id, C.CL_DEVICE_MAX_COMPUTE_UNITS, &units); err == nil {
		info.Threads = int(units)
	}
	extList, err := deviceString(id, C.CL_DEVICE_EXTENSIONS)
	if err != nil {
		return info, fmt.Errorf("extensions: %w", err)
	}
	ext := map[string]bool{}
	for _, e := range strings.Fields(extList) {
		ext[e] = true
	}
	for _, f := range features {
		if ext[f] {
			info.Features = append(info.Features, f)
		}
	}
	// Byte stores are core from OpenCL 1.1; a 1.0 device needs the extension.
	info.Int8Storage = ext["cl_khr_byte_addressable_store"] || !strings.HasPrefix(version, "OpenCL 1.0")
	info.IntegerDot = ext["cl_khr_integer_dot_product"] || ext["cl_arm_integer_dot_product_int8"]
	info.Subgroup = subgroup(id, ext)
	return info, nil
}

// subgroup returns the device's SIMD width where a vendor query tells it, else 0.
func subgroup(id C.cl_device_id, ext map[string]bool) int {
	var w C.cl_uint
	switch {
	case ext["cl_nv_device_attribute_query"]:
		if deviceValue(id, clDeviceWarpSizeNV, &w) == nil {
			return int(w)
		}
	case ext["cl_amd_device_attribute_query"]:
		if deviceValue(id, clDeviceWavefrontWidthAMD, &w) == nil {
			return int(w)
		}
	case ext["cl_intel_required_subgroup_size"]:
		// Intel lists every size the compiler may pick; the largest is the widest SIMD.
		var n C.size_t
		if C.clGetDeviceInfo(id, clDeviceSubGroupSizesIntel, 0, nil, &n) != C.CL_SUCCESS || n == 0 {
			return 0
		}
		sizes := make([]C.size_t, int(n)/int(unsafe.Sizeof(C.size_t(0))))
		if len(sizes) == 0 || C.clGetDeviceInfo(id, clDeviceSubGroupSizesIntel, n, unsafe.Pointer(&sizes[0]), nil) != C.CL_SUCCESS {
			return 0
		}
		best := 0
		for _, s := range sizes {
			best = max(best, int(s))
		}
		return best
	}
	return 0
}

func deviceString(id C.cl_device_id, param C.cl_device_info) (string, error) {
	var n C.size_t
	if rc := C.clGetDeviceInfo(id, param, 0, nil, &n); rc != C.CL_SUCCESS {
		return "", codeError(rc)
	}
	if n == 0 {
		return "", nil
	}
	buf := make([]byte, n)
	if rc := C.clGetDeviceInfo(id, param, n, unsafe.Pointer(&buf[0]), nil); rc != C.CL_SUCCESS {
		return "", codeError(rc)
	}
	return strings.TrimRight(string(buf), "\x00"), nil
}

func platformString(id C.cl_platform_id, param C.cl_platform_info) (string, error) {
	var n C.size_t
	if rc := C.clGetPlatformInfo(id, param, 0, nil, &n); rc != C.CL_SUCCESS {
		return "", codeError(rc)
	}
	if n == 0 {
		return "", nil
	}
	buf := make([]byte, n)
	if rc := C.clGetPlatformInfo(id, param, n, unsafe.Pointer(&buf[0]), nil); rc != C.CL_SUCCESS {
		return "", codeError(rc)
	}
	return strings.TrimRight(string(buf), "\x00"), nil
}

// deviceValue reads a fixed-size property into *v (a cl_uint, cl_ulong, cl_bool, ...).
func deviceValue[T any](id C.cl_device_id, param C.cl_device_info, v *T) error {
	if rc := C.clGetDeviceInfo(id, param, C.size_t(unsafe.Sizeof(*v)), unsafe.Pointer(v), nil); rc != C.CL_SUCCESS {
		return codeError(rc)
	}
	return nil
}

// codeNames names the error codes the direct queries can return.
var codeNames = map[C.cl_int]string{
	C.CL_DEVICE_NOT_FOUND:    "CL_DEVICE_NOT_FOUND",
	C.CL_OUT_OF_RESOURCES:    "CL_OUT_OF_RESOURCES",
	C.CL_OUT_OF_HOST_MEMORY:  "CL_OUT_OF_HOST_MEMORY",
	C.CL_INVALID_VALUE:       "CL_INVALID_VALUE",
	C.CL_INVALID_PLATFORM:    "CL_INVALID_PLATFORM",
	C.CL_INVALID_DEVICE:      "CL_INVALID_DEVICE",
	C.CL_INVALID_DEVICE_TYPE: "CL_INVALID_DEVICE_TYPE",
	clPlatformNotFoundKHR:    "CL_PLATFORM_NOT_FOUND_KHR: no OpenCL driver (ICD) is installed",
}

// clPlatformNotFoundKHR is what the ICD loader returns when no driver is registered
// (cl_khr_icd); it is not in the core headers.
const clPlatformNotFoundKHR = -1001

func codeError(rc C.cl_int) error {
	if name, ok := codeNames[rc]; ok {
		return fmt.Errorf("%s (%d)", name, int(rc))
	}
	return errors.New("OpenCL error " + strconv.Itoa(int(rc)))
}

// Device is one OpenCL device.
type Device struct {
	info   backends.DeviceInfo
	little bool
	dev    *cl.Device
}

func (d *Device) Info() backends.DeviceInfo { return d.info }
