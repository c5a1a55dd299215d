#!/bin/sh
# Run the Go layer benchmarks and the PyTorch timings of the same layers
# at 2 threads and print them side by side. Both sides report the best of
# several runs (see layers.py on why).
#   bench/torch/compare.sh [go build tags, e.g. openblas] [layer filter]
set -e
cd "$(dirname "$0")/../.."
tags=${1:-}
filter=${2:-}
out=$(mktemp)
GOMAXPROCS=2 go test ${tags:+-tags "$tags"} -run '^$' -bench "MobileNetV2//${filter}" -benchtime 300ms -count 3 ./internal/kernels/ | tee "$out"
/usr/bin/python3 bench/torch/layers.py --threads 2 ${filter:+--filter "$filter"} --go "$out"
