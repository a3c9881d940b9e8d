#!/usr/bin/env bash
# The main job: the whole chain on what the repository ships, on the CPU backend.
#   1. the shipped float NIN-MNIST (models/, trained by nintrain) is inspected and quantized,
#      calibrated on the shipped sample of 1,000 MNIST training images;
#   2. its accuracy drop is reported on the shipped sample of 1,000 MNIST test images;
#   3. a sample camera stream (MJPEG, 60 digits) is classified frame by frame.
# Outputs go to out/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
mkdir -p bin out
CGO_ENABLED=0 go build -o bin/ ./cmd/...

echo "== the shipped float model"
bin/ninquant inspect models/nin-mnist.safetensors

echo "== quantize (calibration: 1,000 shipped training images)"
bin/ninquant convert --model models/nin-mnist.safetensors --dataset mnist --data samples/mnist --split train \
  --calib 1000 -o out/nin-mnist-int8.safetensors

echo "== what int8 costs (1,000 shipped test images)"
bin/ninquant report --float models/nin-mnist.safetensors --int8 out/nin-mnist-int8.safetensors \
  --dataset mnist --data samples/mnist --split test --md out/report.md --json out/report.json --png out/layers.png

echo "== a sample stream, classified frame by frame (samples/digits.mjpeg; true labels in samples/digits.labels)"
bin/ninedge stream --model out/nin-mnist-int8.safetensors --backend cpu --source samples/digits.mjpeg --every-frame --json \
  | tee out/stream.jsonl
echo "report: out/report.md, out/report.json, out/layers.png; stream: out/stream.jsonl"
