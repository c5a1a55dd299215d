#!/bin/sh
# Fidelity of the latency lookup tables (package lut): ≥20 random pruned
# variants each of MobileNetV1 and MobileNetV2 @224, at 1 and 2 threads,
# table estimate vs whole-model onnxruntime latency, next to a
# MACs-proportional estimate. Prints the Markdown rows of BENCHMARKS.md's
# "Latency lookup tables" section and appends them to $LUT_BENCH_OUT.
#
#   bench/lut/fidelity.sh                       # everything (~15 min quiet)
#   LUT_BENCH_MODELS=mobilenetv2 LUT_BENCH_THREADS=1 bench/lut/fidelity.sh
#
# Latency numbers are only meaningful on a quiet machine: the script waits
# until the 1-minute load average is below $LUT_QUIET (default 0.5), polling
# every 30 s for at most $LUT_WAIT seconds (default 3600), and records the
# load average before and after each row. See lut/fidelity_bench_test.go for
# the other LUT_BENCH_* settings.
set -e
cd "$(dirname "$0")/../.."
quiet=${LUT_QUIET:-0.5}
wait=${LUT_WAIT:-3600}
waited=0
while :; do
  load=$(cut -d' ' -f1 /proc/loadavg)
  if awk -v l="$load" -v q="$quiet" 'BEGIN { exit !(l < q) }'; then break; fi
  if [ "$waited" -ge "$wait" ]; then
    echo "fidelity.sh: load average still $load after ${wait}s; running anyway (numbers will be noisy)" >&2
    break
  fi
  echo "fidelity.sh: load average $load >= $quiet; waiting" >&2
  sleep 30
  waited=$((waited + 30))
done
export LUT_BENCH_OUT=${LUT_BENCH_OUT:-bench/lut/fidelity.md}
echo "fidelity.sh: $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg), results appended to $LUT_BENCH_OUT" >&2
go test -tags bench -run '^TestFidelity$' -v -timeout 3h ./lut
