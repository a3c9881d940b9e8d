//go:build cgo && vulkan

package vulkan

import (
	"fmt"

	vk "github.com/vulkan-go/vulkan"
)

// resultError is a failed Vulkan call: which one, and the VkResult by its name.
type resultError struct {
	call string
	res  vk.Result
}

func (e *resultError) Error() string { return e.call + ": " + resultName(e.res) }

func vkErr(call string, res vk.Result) error { return &resultError{call, res} }

// resultName spells a VkResult as the specification does.
func resultName(r vk.Result) string {
	names := map[vk.Result]string{
		0: "VK_SUCCESS", 1: "VK_NOT_READY", 2: "VK_TIMEOUT", 3: "VK_EVENT_SET", 4: "VK_EVENT_RESET",
		5: "VK_INCOMPLETE", -1: "VK_ERROR_OUT_OF_HOST_MEMORY", -2: "VK_ERROR_OUT_OF_DEVICE_MEMORY",
		-3: "VK_ERROR_INITIALIZATION_FAILED", -4: "VK_ERROR_DEVICE_LOST", -5: "VK_ERROR_MEMORY_MAP_FAILED",
		-6: "VK_ERROR_LAYER_NOT_PRESENT", -7: "VK_ERROR_EXTENSION_NOT_PRESENT",
		-8: "VK_ERROR_FEATURE_NOT_PRESENT", -9: "VK_ERROR_INCOMPATIBLE_DRIVER",
		-10: "VK_ERROR_TOO_MANY_OBJECTS", -11: "VK_ERROR_FORMAT_NOT_SUPPORTED",
		-12: "VK_ERROR_FRAGMENTED_POOL", -13: "VK_ERROR_UNKNOWN",
		-1000069000: "VK_ERROR_OUT_OF_POOL_MEMORY", -1000161000: "VK_ERROR_FRAGMENTATION",
		-1000012000: "VK_ERROR_INVALID_SHADER_NV",
	}
	if n, ok := names[r]; ok {
		return n
	}
	return fmt.Sprintf("VkResult %d", int32(r))
}
