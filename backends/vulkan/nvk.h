// C helpers of the Vulkan backend: loading libvulkan.so.1 at run time, the capability
// queries that vulkan-go's Vulkan 1.1 headers cannot express, and the per-frame submit.
//
// The structures below are declared by hand from the Vulkan specification, so that building
// needs no Vulkan headers (a cross compiler for arm64 has none). Only their first members and
// their sType values matter to the driver; handles are passed as they are laid out in memory:
// dispatchable ones as pointers, non-dispatchable ones as 64-bit integers.
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef void (*nvk_fn)(void);
typedef nvk_fn (*nvk_gipa_fn)(void *instance, const char *name);

static nvk_gipa_fn nvk_gipa;

// nvk_open loads the Vulkan loader once; it returns NULL or why it failed. A Raspberry Pi or a
// Jetson has only the versioned libvulkan.so.1 (the unversioned name comes with -dev
// packages), so that is the name opened.
static const char *nvk_open(void) {
	if (nvk_gipa != NULL) {
		return NULL;
	}
	void *lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		const char *e = dlerror();
		return e != NULL ? e : "dlopen libvulkan.so.1 failed";
	}
	nvk_gipa = (nvk_gipa_fn)dlsym(lib, "vkGetInstanceProcAddr");
	if (nvk_gipa == NULL) {
		return "libvulkan.so.1 has no vkGetInstanceProcAddr";
	}
	return NULL;
}

static void *nvk_gipa_ptr(void) { return (void *)nvk_gipa; }

// nvk_instance_version is the loader's Vulkan version: 1.0 when it predates
// vkEnumerateInstanceVersion.
static uint32_t nvk_instance_version(void) {
	typedef int32_t (*fn)(uint32_t *);
	fn f = (fn)nvk_gipa(NULL, "vkEnumerateInstanceVersion");
	uint32_t v = 1u << 22;
	if (f != NULL && f(&v) != 0) {
		v = 1u << 22;
	}
	return v;
}

enum {
	NVK_FEATURES_2 = 1000059000,
	NVK_PROPERTIES_2 = 1000059001,
	NVK_SUBGROUP_PROPERTIES = 1000094000,
	NVK_FLOAT16_INT8_FEATURES = 1000082000,
	NVK_8BIT_STORAGE_FEATURES = 1000177000,
	NVK_DRIVER_PROPERTIES = 1000196000,
	NVK_INTEGER_DOT_FEATURES = 1000280000,
};

typedef struct {
	uint32_t sType;
	void *pNext;
} nvk_chain;

typedef struct {
	uint32_t sType;
	void *pNext;
	uint32_t features[55]; // VkPhysicalDeviceFeatures: 55 VkBool32
} nvk_features2;

typedef struct {
	uint32_t sType;
	void *pNext;
	uint32_t shaderFloat16, shaderInt8;
} nvk_float16_int8;

typedef struct {
	uint32_t sType;
	void *pNext;
	uint32_t storageBuffer8BitAccess, uniformAndStorageBuffer8BitAccess, storagePushConstant8;
} nvk_8bit_storage;

typedef struct {
	uint32_t sType;
	void *pNext;
	uint32_t shaderIntegerDotProduct;
} nvk_integer_dot;

typedef struct {
	uint32_t sType;
	void *pNext;
	// VkPhysicalDeviceProperties, which vulkan-go reads for us: about 830 bytes on 64-bit
	// targets, 8-byte aligned; the union reserves more than enough.
	union {
		uint64_t align;
		uint8_t bytes[2048];
	} properties;
} nvk_properties2;

typedef struct {
	uint32_t sType;
	void *pNext;
	uint32_t subgroupSize, supportedStages, supportedOperations, quadOperationsInAllStages;
} nvk_subgroup;

typedef struct {
	uint32_t sType;
	void *pNext;
	uint32_t driverID;
	char driverName[256];
	char driverInfo[256];
	uint8_t conformanceVersion[4];
} nvk_driver;

// nvk_caps is what nvk_query_caps found; zero where the device cannot say.
typedef struct {
	uint32_t int8, storage8, dot, subgroup;
	char driverName[256];
	char driverInfo[256];
} nvk_caps;

// nvk_query_caps asks a Vulkan 1.1 device for the features and properties behind
// vkGetPhysicalDeviceFeatures2 and vkGetPhysicalDeviceProperties2, chaining only the
// structures the device supports (has_* say which: core version or extension).
static void nvk_query_caps(void *instance, void *phys, int has_f16i8, int has_8bit, int has_dot,
                           int has_driver, nvk_caps *out) {
	typedef void (*query_fn)(void *, void *);
	memset(out, 0, sizeof *out);
	query_fn features = (query_fn)nvk_gipa(instance, "vkGetPhysicalDeviceFeatures2");
	query_fn properties = (query_fn)nvk_gipa(instance, "vkGetPhysicalDeviceProperties2");
	if (features == NULL || properties == NULL) {
		return;
	}
	nvk_features2 f = {NVK_FEATURES_2, NULL};
	nvk_float16_int8 fi = {NVK_FLOAT16_INT8_FEATURES, NULL};
	nvk_8bit_storage s8 = {NVK_8BIT_STORAGE_FEATURES, NULL};
	nvk_integer_dot dot = {NVK_INTEGER_DOT_FEATURES, NULL};
	nvk_chain *last = (nvk_chain *)&f;
	if (has_f16i8) {
		last->pNext = &fi;
		last = (nvk_chain *)&fi;
	}
	if (has_8bit) {
		last->pNext = &s8;
		last = (nvk_chain *)&s8;
	}
	if (has_dot) {
		last->pNext = &dot;
	}
	features(phys, &f);
	out->int8 = fi.shaderInt8;
	out->storage8 = s8.storageBuffer8BitAccess;
	out->dot = dot.shaderIntegerDotProduct;

	nvk_properties2 *p = calloc(1, sizeof *p);
	if (p == NULL) {
		return;
	}
	nvk_subgroup sg = {NVK_SUBGROUP_PROPERTIES, NULL};
	nvk_driver drv = {NVK_DRIVER_PROPERTIES, NULL};
	p->sType = NVK_PROPERTIES_2;
	p->pNext = &sg;
	if (has_driver) {
		sg.pNext = &drv;
	}
	properties(phys, p);
	free(p);
	out->subgroup = sg.subgroupSize;
	memcpy(out->driverName, drv.driverName, sizeof out->driverName);
	memcpy(out->driverInfo, drv.driverInfo, sizeof out->driverInfo);
	out->driverName[255] = out->driverInfo[255] = 0;
}

typedef struct {
	uint32_t sType;
	const void *pNext;
	uint32_t waitSemaphoreCount;
	const uint64_t *pWaitSemaphores;
	const uint32_t *pWaitDstStageMask;
	uint32_t commandBufferCount;
	void *const *pCommandBuffers;
	uint32_t signalSemaphoreCount;
	const uint64_t *pSignalSemaphores;
} nvk_submit_info;

typedef int32_t (*nvk_queue_submit_fn)(void *queue, uint32_t count, const nvk_submit_info *, uint64_t fence);
typedef int32_t (*nvk_wait_fences_fn)(void *device, uint32_t count, const uint64_t *fences, uint32_t all, uint64_t timeout);
typedef int32_t (*nvk_reset_fences_fn)(void *device, uint32_t count, const uint64_t *fences);

// nvk_runner holds what a frame needs in C memory, so that Run makes one cgo call with no Go
// pointers and allocates nothing: vulkan-go's QueueSubmit would allocate C and Go memory on
// every call.
typedef struct {
	void *device, *queue;
	uint64_t fence;
	nvk_queue_submit_fn submit;
	nvk_wait_fences_fn wait;
	nvk_reset_fences_fn reset;
	void *cmds[2];
	int32_t stage; // which call nvk_run's result comes from: 0 submit, 1 wait, 2 reset
} nvk_runner;

// nvk_runner_init fetches the device-level entry points; it returns 0 or -1 when one is
// missing.
static int nvk_runner_init(nvk_runner *r, void *instance) {
	typedef nvk_fn (*gdpa_fn)(void *device, const char *name);
	gdpa_fn gdpa = (gdpa_fn)nvk_gipa(instance, "vkGetDeviceProcAddr");
	if (gdpa == NULL) {
		return -1;
	}
	r->submit = (nvk_queue_submit_fn)gdpa(r->device, "vkQueueSubmit");
	r->wait = (nvk_wait_fences_fn)gdpa(r->device, "vkWaitForFences");
	r->reset = (nvk_reset_fences_fn)gdpa(r->device, "vkResetFences");
	return r->submit != NULL && r->wait != NULL && r->reset != NULL ? 0 : -1;
}

// nvk_run submits the first n recorded command buffers and waits for them. It returns a
// VkResult; r->stage says which call gave it.
// nvk_wait waits for the last submission, up to timeout_ns.
static int32_t nvk_wait(nvk_runner *r, uint64_t timeout_ns) {
	return r->wait(r->device, 1, &r->fence, 1, timeout_ns);
}

static int32_t nvk_run(nvk_runner *r, uint32_t n, uint64_t timeout_ns) {
	nvk_submit_info si;
	memset(&si, 0, sizeof si);
	si.sType = 4; // VK_STRUCTURE_TYPE_SUBMIT_INFO
	si.commandBufferCount = n;
	si.pCommandBuffers = r->cmds;
	r->stage = 0;
	int32_t res = r->submit(r->queue, 1, &si, r->fence);
	if (res != 0) {
		return res;
	}
	r->stage = 1;
	res = r->wait(r->device, 1, &r->fence, 1, timeout_ns);
	if (res != 0) {
		return res;
	}
	r->stage = 2;
	return r->reset(r->device, 1, &r->fence);
}
