#!/usr/bin/env bash
# Installs everything the build, the tests and the demo need on a fresh Debian/Ubuntu machine:
# Go modules, the OpenCL (PoCL) and Vulkan (lavapipe) CPU drivers, glslc, qemu-user for the
# arm64/armv7 tests, the arm64 cross compiler, ffmpeg for stream fixtures and RTSP decoding,
# GStreamer's RTSP server (python3-gi and its plugins: the camera the RTSP tests start), x264 and
# x265 through ffmpeg, Mosquitto for the MQTT tests, Chromium for the page test and PyTorch with
# onnx (the ONNX import is checked against torch.onnx.export). Safe to run again: it installs
# only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(pocl-opencl-icd ocl-icd-opencl-dev opencl-headers clinfo mesa-vulkan-drivers libvulkan-dev vulkan-tools
      glslc qemu-user-static gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils-aarch64-linux-gnu ffmpeg chromium
      python3 python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
      mosquitto mosquitto-clients python3-torch python3-onnx)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v go >/dev/null; then
  echo "setup: Go 1.26.8 or newer is needed (https://go.dev/dl/); not found on PATH" >&2
  exit 1
fi
go mod download
