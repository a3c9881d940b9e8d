#!/usr/bin/env bash
# Cross-builds the release for the boards ninedge targets:
#   linux-arm64   ninedge, ninquant, nintrain  pure Go (CGO_ENABLED=0): CPU backend, NEON/SDOT
#   linux-armv7   the same for 32-bit Raspberry Pi OS (GOARM=7)
#   linux-arm64-vulkan  ninedge with the Vulkan backend (cgo), built only when the
#                 aarch64-linux-gnu-gcc cross-compiler exists; it needs glibc 2.34+ on the board
#                 (Raspberry Pi OS bookworm, JetPack 6) and loads libvulkan.so.1 at run time, so
#                 it still starts (on the CPU) where Vulkan is missing.
#   linux-amd64-opencl  ninedge with the OpenCL backend (cgo) for x86 boards (Intel GPUs): built
#                 when the OpenCL headers and loader are installed (ocl-icd-opencl-dev). It links
#                 libOpenCL.so.1, so the board needs ocl-icd-libopencl1 (and a driver) to start.
#   linux-arm64-opencl  the same for arm64 boards with an OpenCL driver (Mali, Adreno): built
#                 when the arm64 loader is installed for the cross-compiler
#                 (dpkg --add-architecture arm64; apt-get install ocl-icd-opencl-dev:arm64).
# Each target becomes dist/ninedge-VERSION-TARGET.tar.gz (binaries, the systemd unit, the
# deployment guide), with SHA256SUMS beside them. OUT=dir changes the output folder.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
out=${OUT:-dist}
rm -rf "$out"
mkdir -p "$out"

# build TARGET PACKAGES... (with GOOS, GOARCH, GOARM, CGO_ENABLED, CC, TAGS in the environment)
build() {
  local target=$1; shift
  local dir="$out/ninedge-$version-$target"
  mkdir -p "$dir"
  echo "== $target: $*"
  go build -trimpath -ldflags="-s -w" -tags "${TAGS:-}" -o "$dir/" "$@"
  cp deploy/ninedge.service docs/deploy.md "$dir/"
  tar -C "$out" -czf "$dir.tar.gz" "$(basename "$dir")"
}

cmds=(./cmd/ninedge ./cmd/ninquant ./cmd/nintrain)
GOOS=linux GOARCH=arm64 CGO_ENABLED=0 build linux-arm64 "${cmds[@]}"
GOOS=linux GOARCH=arm GOARM=7 CGO_ENABLED=0 build linux-armv7 "${cmds[@]}"
if command -v aarch64-linux-gnu-gcc >/dev/null; then
  GOOS=linux GOARCH=arm64 CGO_ENABLED=1 CC=aarch64-linux-gnu-gcc TAGS=vulkan build linux-arm64-vulkan ./cmd/ninedge
else
  echo "== linux-arm64-vulkan: skipped (no aarch64-linux-gnu-gcc; apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross)"
fi

export CGO_CFLAGS=-DCL_TARGET_OPENCL_VERSION=120
if [ "$(go env GOHOSTARCH)" = amd64 ] && pkg-config --exists OpenCL 2>/dev/null; then
  GOOS=linux GOARCH=amd64 CGO_ENABLED=1 TAGS=opencl build linux-amd64-opencl ./cmd/ninedge
else
  echo "== linux-amd64-opencl: skipped (needs an amd64 host with the OpenCL headers: apt-get install ocl-icd-opencl-dev)"
fi
arm64pc=/usr/lib/aarch64-linux-gnu/pkgconfig
if command -v aarch64-linux-gnu-gcc >/dev/null && [ -f "$arm64pc/OpenCL.pc" ]; then
  GOOS=linux GOARCH=arm64 CGO_ENABLED=1 CC=aarch64-linux-gnu-gcc PKG_CONFIG_PATH=$arm64pc PKG_CONFIG_LIBDIR=$arm64pc \
    TAGS=opencl build linux-arm64-opencl ./cmd/ninedge
else
  echo "== linux-arm64-opencl: skipped (needs aarch64-linux-gnu-gcc and the arm64 OpenCL loader: dpkg --add-architecture arm64; apt-get update; apt-get install ocl-icd-opencl-dev:arm64)"
fi

(cd "$out" && sha256sum ./*.tar.gz >SHA256SUMS)
ls -l "$out"
