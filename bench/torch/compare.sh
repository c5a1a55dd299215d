#!/bin/sh
# Run the Go layer benchmarks and the PyTorch timings of the same layers
# at 2 threads and print them side by side.
#   bench/torch/compare.sh [go build tags, e.g. openblas] [layer filter]
set -e
cd "$(dirname "$0")/../.."
tags=${1:-}
filter=${2:-}
out=$(mktemp)
GOMAXPROCS=2 go test ${tags:+-tags "$tags"} -run '^$' -bench "MobileNetV2//${filter}" -benchtime 1s ./internal/kernels/ | tee "$out"
/usr/bin/python3 bench/torch/layers.py --threads 2 ${filter:+--filter "$filter"} --go "$out"
