#!/bin/sh
# Cost of the latency lookup tables: building the table for MobileNetV2
# @224 at step 8 from scratch (onnx-adapt lut build, 1 and 2 threads), then
# the start of a second run that reuses the complete table (onnx-adapt
# estimate, which loads the model and the table and estimates).
#
#   bench/lut/cost.sh [workdir]
set -e
cd "$(dirname "$0")/../.."
dir=${1:-$(mktemp -d)}
go build -o "$dir/onnx-adapt" ./cmd/onnx-adapt
bin="$dir/onnx-adapt"
"$bin" zoo mobilenetv2 -o "$dir/mobilenetv2.onnx" >/dev/null
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for t in 1 2; do
  rm -f "$dir/lut-t$t.json"
  /usr/bin/time -f "lut build, $t thread(s): %e s wall, %U s user, %M KB max RSS" \
    "$bin" lut build "$dir/mobilenetv2.onnx" -o "$dir/lut-t$t.json" --threads "$t" --step 8
  /usr/bin/time -f "estimate with the table, $t thread(s): %e s wall" \
    "$bin" estimate "$dir/mobilenetv2.onnx" --lut "$dir/lut-t$t.json" --threads "$t" >/dev/null
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
