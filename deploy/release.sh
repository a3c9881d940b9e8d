#!/usr/bin/env bash
# Cross-builds the release for the boards ninedge targets:
#   linux-arm64   ninedge, ninquant, nintrain  pure Go (CGO_ENABLED=0): CPU backend, NEON/SDOT
#   linux-armv7   the same for 32-bit Raspberry Pi OS (GOARM=7)
#   linux-arm64-vulkan  ninedge with the Vulkan backend (cgo), built only when the
#                 aarch64-linux-gnu-gcc cross-compiler exists; it needs glibc 2.34+ on the board
#                 (Raspberry Pi OS bookworm, JetPack 6) and loads libvulkan.so.1 at run time, so
#                 it still starts (on the CPU) where Vulkan is missing.
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

(cd "$out" && sha256sum ./*.tar.gz >SHA256SUMS)
ls -l "$out"
