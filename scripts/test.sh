#!/usr/bin/env bash
# Runs every test: vet and format checks, the native tests (real data from ../shared/data when
# present), the load test of `ninedge serve`, the portable (purego) kernels, the OpenCL (PoCL) and Vulkan (lavapipe) backends,
# the committed SPIR-V against its GLSL, CGO_ENABLED=0 and cross builds, and the arm64 and
# armv7 tests under qemu-user with both arm64 NEON paths (Cortex-A72 without dot product,
# Cortex-A76 with it). It ends with one summary line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

passed=0 failed=0 failures=()
step() { # step NAME CMD...: runs one step, counts it
  local name=$1; shift
  echo "=== $name: $*"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$name"); fi
}
fmtcheck() { local out; out=$(gofmt -l .); [ -z "$out" ] || { echo "gofmt would change: $out"; return 1; }; }
kernels=(./internal/sgemm/ ./internal/qgemm/ ./internal/u8vec/ ./backends/cpu/ ./quant/...)

drivers() { # the OpenCL and Vulkan tests skip without a device: make sure the CPU drivers are there
  clinfo -l | grep -q "Device" || { echo "no OpenCL device (PoCL missing?)"; return 1; }
  XDG_RUNTIME_DIR=/tmp vulkaninfo --summary 2>/dev/null | grep -q "deviceName" || { echo "no Vulkan device (lavapipe missing?)"; return 1; }
}

step drivers drivers
step gofmt fmtcheck
step vet go vet ./...
step test go test -timeout 60m ./...
step load env NINEDGE_LOAD=1 go test -count=1 -run TestServeLoad -timeout 15m ./cmd/ninedge/  # 2 min of 200 clients: bombs, photos, slow clients
step purego go test -tags purego "${kernels[@]}"
step purego-nin go test -tags purego -short ./nin/...  # ./nin/train/: the Go twins of the trainer's AVX2 helpers
step opencl env CGO_CFLAGS=-DCL_TARGET_OPENCL_VERSION=120 bash -c 'go vet -tags opencl ./backends/opencl/ ./cmd/ninquant/ && go test -tags opencl -timeout 60m ./backends/opencl/ && go test -tags opencl -run ONNXImport ./cmd/ninquant/ && go test -tags opencl -run TestBackendChoice ./cmd/ninedge/'
step vulkan bash -c 'go vet -tags vulkan ./backends/vulkan/ ./shaders/ ./cmd/ninedge/ ./cmd/ninquant/ && go test -tags vulkan -timeout 60m ./backends/vulkan/ && go test -tags vulkan -run ONNXImport ./cmd/ninquant/ && go test -tags vulkan -run TestBackendChoice ./cmd/ninedge/'
step spirv-fresh go test -count=1 -run TestSPIRVFresh ./shaders/
step build-arm64-vulkan env CGO_ENABLED=1 CC=aarch64-linux-gnu-gcc GOOS=linux GOARCH=arm64 go build -tags vulkan ./...
step build-nocgo env CGO_ENABLED=0 go build ./...
step build-arm64 env CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build ./...
step build-armv7 env CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 go build ./...
step qemu-arm64-a72 env QEMU_CPU=cortex-a72 CGO_ENABLED=0 GOARCH=arm64 go test -short -timeout 30m -exec qemu-aarch64-static "${kernels[@]}"
step qemu-arm64-a76 env QEMU_CPU=cortex-a76 CGO_ENABLED=0 GOARCH=arm64 go test -short -timeout 30m -exec qemu-aarch64-static "${kernels[@]}"
step qemu-arm64-nin env QEMU_CPU=cortex-a76 CGO_ENABLED=0 GOARCH=arm64 go test -short -timeout 30m -exec qemu-aarch64-static -run "Spec|Forward|Model|InvSqrt|Preprocess" ./nin/ ./nin/train/
step qemu-armv7 env CGO_ENABLED=0 GOARCH=arm GOARM=7 go test -short -timeout 30m -exec qemu-arm-static "${kernels[@]}"

echo
((failed)) && echo "failed steps: ${failures[*]}"
echo "$passed passed, $failed failed"
((failed == 0))
