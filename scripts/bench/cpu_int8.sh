#!/bin/bash
# The CPU int8 measurements of docs/performance.md in one run: ninedge bench on an 8-bit and
# a 7-bit model at 1 and 2 threads (twice, so drift shows), batch 16, then the float32 vs int8
# benchmark. Usage: scripts/bench/cpu_int8.sh MODEL-8BIT MODEL-7BIT
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 MODEL-8BIT MODEL-7BIT" >&2; exit 2; }
cd "$(dirname "$0")/../.."
bin=$(mktemp -d)/ninedge
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./cmd/ninedge
uptime
for rep in 1 2; do
	for threads in 1 2; do
		for model in "$1" "$2"; do
			echo "== $(basename "$model"), $threads threads, batch 1, round $rep"
			"$bin" bench --model "$model" --backend cpu --threads "$threads" --runs 200 2>/dev/null
		done
	done
done
for model in "$1" "$2"; do
	echo "== $(basename "$model"), 1 thread, batch 16"
	"$bin" bench --model "$model" --backend cpu --threads 1 --batch 16 --runs 20 2>/dev/null | grep 'network\|peak'
done
go test -run XXX -bench NIN -benchtime 20x ./backends/cpu/ | grep Benchmark
uptime
