//go:build cgo && vulkan

package vulkan

import (
	"errors"
	"runtime"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"
)

// Every call into nvk.h goes through this file: the header's state (the loader's entry
// point) is static, so it must live in exactly one C translation unit.

/*
#cgo linux LDFLAGS: -ldl
#include "nvk.h"
*/
import "C"

// openLoader dlopens libvulkan.so.1 (once) and returns its vkGetInstanceProcAddr.
func openLoader() (unsafe.Pointer, error) {
	if msg := C.nvk_open(); msg != nil {
		return nil, errors.New(C.GoString(msg))
	}
	return C.nvk_gipa_ptr(), nil
}

// loaderVersion is the Vulkan version the loader supports (call after openLoader).
func loaderVersion() uint32 { return uint32(C.nvk_instance_version()) }

// caps are the capabilities behind vkGetPhysicalDeviceFeatures2/Properties2.
type caps struct {
	int8, storage8, dot bool
	subgroup            int
	driverName          string
	driverInfo          string
}

// queryCaps asks a Vulkan 1.1 device; the flags say which optional structures it supports.
func queryCaps(h vk.Instance, p vk.PhysicalDevice, float16Int8, storage8Bit, integerDot, driverProps bool) caps {
	var c C.nvk_caps
	C.nvk_query_caps(unsafe.Pointer(h), unsafe.Pointer(p), cbool(float16Int8), cbool(storage8Bit),
		cbool(integerDot), cbool(driverProps), &c)
	return caps{
		int8:       c.int8 != 0,
		storage8:   c.storage8 != 0,
		dot:        c.dot != 0,
		subgroup:   int(c.subgroup),
		driverName: C.GoString(&c.driverName[0]),
		driverInfo: C.GoString(&c.driverInfo[0]),
	}
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// runner submits recorded command buffers and waits for them in one cgo call that passes no
// Go pointers and allocates nothing; its state lives in C memory.
type runner struct{ c *C.nvk_runner }

func newRunner(h vk.Instance, device vk.Device, queue vk.Queue, fence vk.Fence) (*runner, error) {
	c := (*C.nvk_runner)(C.calloc(1, C.size_t(unsafe.Sizeof(C.nvk_runner{}))))
	if c == nil {
		return nil, errors.New("out of C memory")
	}
	c.device = unsafe.Pointer(device)
	c.queue = unsafe.Pointer(queue)
	// A non-dispatchable handle is a pointer on 64-bit targets and a uint64 on 32-bit ones:
	// 8 bytes either way.
	c.fence = *(*C.uint64_t)(unsafe.Pointer(&fence))
	if C.nvk_runner_init(c, unsafe.Pointer(h)) != 0 {
		C.free(unsafe.Pointer(c))
		return nil, errors.New("the driver lacks vkQueueSubmit, vkWaitForFences or vkResetFences")
	}
	return &runner{c}, nil
}

// setCommands sets the command buffers that run submits (at most two).
func (r *runner) setCommands(cbs ...vk.CommandBuffer) {
	for i, cb := range cbs {
		r.c.cmds[i] = unsafe.Pointer(cb)
	}
}

var runCalls = [...]string{"vkQueueSubmit", "vkWaitForFences", "vkResetFences"}

// wait waits up to timeout nanoseconds for the last submission to finish.
func (r *runner) wait(timeout uint64) vk.Result {
	return vk.Result(C.nvk_wait(r.c, C.uint64_t(timeout)))
}

// run submits the first count command buffers and waits up to timeout nanoseconds; on
// failure it names the call that failed.
func (r *runner) run(count int, timeout uint64) (vk.Result, string) {
	// The stage comes back through C memory: a pointer to a Go local would make it escape
	// to the heap, one allocation per frame.
	res := vk.Result(C.nvk_run(r.c, C.uint32_t(count), C.uint64_t(timeout)))
	return res, runCalls[r.c.stage]
}

func (r *runner) free() { C.free(unsafe.Pointer(r.c)) }

// cWords allocates n 32-bit words in C memory, for data that Vulkan create-infos point to
// (SPIR-V, specialization constants): Go memory must not be stored in C structures.
func cWords(n int) (w []uint32, free func()) {
	mem := C.calloc(C.size_t(max(n, 1)), 4)
	return unsafe.Slice((*uint32)(mem), n), func() { C.free(mem) }
}

// pinned pins s's backing array: vulkan-go stores a slice's data pointer in the C structs it
// builds, and cgo allows a Go pointer in C memory only while it is pinned. Unpin after the
// call that reads the structs.
func pinned[T any](pin *runtime.Pinner, s []T) []T {
	pin.Pin(&s[0])
	return s
}
