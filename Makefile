# The two entry points of README.md; each does its own set-up.
.PHONY: demo test setup build build-gpu

demo:
	./scripts/demo.sh

test:
	./scripts/test.sh

setup:
	./scripts/setup.sh

# CPU backend only, no cgo: runs anywhere.
build:
	CGO_ENABLED=0 go build -o bin/ ./cmd/...

# The CPU, OpenCL and Vulkan backends (cgo). Needs a C compiler and the OpenCL headers and
# loader (Debian: gcc ocl-icd-opencl-dev); the binaries then need libOpenCL.so.1 to start,
# and load libvulkan.so.1 when the Vulkan backend is asked for.
build-gpu:
	CGO_ENABLED=1 CGO_CFLAGS=-DCL_TARGET_OPENCL_VERSION=120 go build -tags opencl,vulkan -o bin/ ./cmd/...
