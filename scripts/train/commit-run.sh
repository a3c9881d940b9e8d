#!/bin/sh
# commit-run.sh DIR [SECONDS]: while a background nintrain run writes its checkpoint, metrics
# log and curves into DIR (a folder of the repository), commit those three kinds of file each
# time the metrics log changes, that is once per tested epoch, so that a later session can
# continue the run with `nintrain --resume DIR/<name>.ckpt.safetensors` from the last commit.
# Only DIR is committed (git commit --only), whatever else is staged. Polls every SECONDS
# (default 60); stops when no nintrain process writes to DIR any more and the last change is
# committed.
set -u
dir=${1:?usage: commit-run.sh DIR [SECONDS]}
every=${2:-60}
last=
while :; do
	sum=$(cat "$dir"/*.metrics.jsonl 2>/dev/null | cksum)
	if [ -n "$sum" ] && [ "$sum" != "$last" ] && [ -s "$(ls "$dir"/*.metrics.jsonl 2>/dev/null | head -1)" ]; then
		epochs=$(cat "$dir"/*.metrics.jsonl | wc -l)
		git add -- "$dir"/*.ckpt.safetensors "$dir"/*.metrics.jsonl "$dir"/*.png &&
			git commit -q --only -m "models: $(basename "$dir") at epoch $epochs (checkpoint, metrics, curves)" -- "$dir" &&
			last=$sum
	fi
	if ! pgrep -f "nintrain .*$dir" >/dev/null && [ "$sum" = "$last" ]; then
		exit 0
	fi
	sleep "$every"
done
