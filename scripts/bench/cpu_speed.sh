#!/bin/bash
# The speed figures of docs/performance.md in one run: ninedge bench on nin-cifar10 in int8
# (all layers, and conv1 kept in float) at 1 and 2 threads, this tree against a base revision
# built beside it, the builds alternating round by round so that both meet the same load;
# then the float runner (BenchmarkNIN/float32) and BenchmarkSplit. Shared machines: read the
# mins, and the load printed before each round.
# Usage: scripts/bench/cpu_speed.sh [BASE-REV] (default main); CIFAR10=DIR (../shared/data/cifar10)
set -euo pipefail
cd "$(dirname "$0")/../.."
base=${1:-main}
data=${CIFAR10:-../shared/data/cifar10}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/new" ./cmd/ninedge
go build -o "$tmp/ninquant" ./cmd/ninquant
mkdir "$tmp/base"
git archive "$base" | tar -x -C "$tmp/base"
(cd "$tmp/base" && go build -o "$tmp/old" ./cmd/ninedge)
"$tmp/ninquant" convert --model models/nin-cifar10.safetensors --dataset cifar10 --data "$data" --calib 200 -o "$tmp/int8.safetensors" >/dev/null
"$tmp/ninquant" convert --model models/nin-cifar10.safetensors --dataset cifar10 --data "$data" --calib 200 --float-layers conv1 -o "$tmp/conv1-float.safetensors" >/dev/null
grep -m1 'model name' /proc/cpuinfo
for round in 1 2 3; do
	echo "== round $round: $(uptime)"
	for threads in 1 2; do
		for bin in old new; do
			for model in int8 conv1-float; do
				runs=300
				[ "$bin-$model" = old-conv1-float ] && runs=10 # 40+ ms per image before
				printf '%s %s %d threads: ' "$bin" "$model" "$threads"
				"$tmp/$bin" bench --model "$tmp/$model.safetensors" --backend cpu --threads "$threads" --runs "$runs" 2>/dev/null |
					grep -E '^network|^peak' | sed -E 's/, measured: [^;]*;/;/' | tr '\n' ' '
				echo
			done
		done
	done
done
echo "== $(uptime)"
go test -run XXX -bench 'NIN/float32/^batch1$' -benchtime 100x -count 5 ./backends/cpu/ | grep Benchmark
go test -run XXX -bench 'Split' -benchtime 100x -count 5 ./backends/cpu/ | grep Benchmark
echo "== $(uptime)"
