#!/bin/sh
# Training throughput of the Go engine before and after a change, on this
# machine: bench/train/throughput built at BASE (a git revision) and from
# the work tree, two threads, run alternately ROUNDS times (the machine is shared, so
# both see the same load), each run's repetitions written in Go benchmark
# format and compared with benchstat (go install
# golang.org/x/perf/cmd/benchstat@latest).
#
#   bench/train/before_after.sh BASE [ROUNDS] [CONFIGS]
#
# CONFIGS is a list of "RES CLASSES BATCH STEPS" quadruples separated by
# commas (default: "32 10 64 10,224 1000 16 3": the quickstart's batch at
# 32×32, and ImageNet size). Prints the CPU flags, the load before and
# after, the raw files' location and benchstat's table.
set -e
cd "$(dirname "$0")/../.."
base=${1:?usage: before_after.sh BASE [ROUNDS] [CONFIGS]}
rounds=${2:-5}
configs=${3:-32 10 64 10,224 1000 16 3}
threads=2
tmp=$(mktemp -d)
git archive "$base" | tar -x -C "$tmp" --one-top-level=src
(cd "$tmp/src" && go build -o "$tmp/old" ./bench/train/throughput)
go build -o "$tmp/new" ./bench/train/throughput
echo "cpu flags: $(grep -o 'avx[^ ]*\|fma' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "base: $(git rev-parse --short "$base"), new: $(git rev-parse --short HEAD)$(git diff --quiet || echo +changes)"
echo "load before: $(uptime)"
tobench() {
	/usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    for ips in r["images_per_sec"]:
        print("BenchmarkTrainStep/res=%d/batch=%d/threads=%d %d %.0f ns/op %.2f img/s" % (
            r["resolution"], r["batch"], r["threads"], r["steps_per_rep"], r["batch"] / ips * 1e9, ips))
'
}
for round in $(seq "$rounds"); do
	echo "$configs" | tr ',' '\n' | while read -r res classes batch steps; do
		for v in old new; do
			"$tmp/$v" -json -res "$res" -classes "$classes" -batch "$batch" -threads "$threads" \
				-steps "$steps" -reps 3 | tobench >>"$tmp/$v.txt"
		done
	done
done
echo "load after: $(uptime)"
rm -rf "$tmp/src" "$tmp/old" "$tmp/new"
echo "raw: $tmp/old.txt $tmp/new.txt"
benchstat "$tmp/old.txt" "$tmp/new.txt"
