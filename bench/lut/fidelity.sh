#!/bin/sh
# Fidelity of the latency lookup tables (package lut): 20 random pruned
# variants each of MobileNetV1 and MobileNetV2 @224, plus 5 that the
# calibration is fitted on, at 1 and 2 threads. It compares the table
# estimate with whole-model onnxruntime latency, next to a
# MACs-proportional estimate. It prints the Markdown rows of BENCHMARKS.md's
# "Latency lookup tables" section and appends them to $LUT_BENCH_OUT
# (default bench/lut/fidelity.md).
#
#   bench/lut/fidelity.sh                                   # all four rows
#   bench/lut/fidelity.sh mobilenetv2:1 mobilenetv1:2       # chosen rows
#
# Latency numbers mean something only on a quiet machine. Before each row
# the script waits until the 1-minute load average is below $LUT_QUIET
# (default 0.5). Before a 2-thread row it also waits until a reference
# convolution runs at least $LUT_MIN_SPEEDUP (default 1.7) times faster on 2
# threads than on 1. On a VM, the hypervisor sometimes runs the two vCPUs
# on SMT siblings of one core (speedup about 1.4 instead of 1.9), and
# 2-thread timings taken then do not compare with those taken otherwise.
# Each row records the load average and the speedup before and after. It
# polls every 30 s, for at most $LUT_WAIT seconds (default 7200) per row,
# then runs anyway. A row whose calibrated estimate misses the targets
# (median |error| ≤ 3%, Spearman's ρ ≥ 0.98) fails TestFidelity; the script
# then exits 1 after the remaining rows. See lut/fidelity_bench_test.go for
# the LUT_BENCH_* settings.
set -e
cd "$(dirname "$0")/../.."
quiet=${LUT_QUIET:-0.5}
minspeed=${LUT_MIN_SPEEDUP:-1.7}
wait=${LUT_WAIT:-7200}
export LUT_BENCH_OUT=${LUT_BENCH_OUT:-$PWD/bench/lut/fidelity.md}
bin=$(mktemp -d)/lut.test
go test -tags bench -c -o "$bin" ./lut
# speedup prints the reference convolution's 2-thread speedup
# (BenchmarkParallelSpeedup's "speedup" metric).
speedup() {
  (cd lut && "$bin" -test.run '^$' -test.bench '^BenchmarkParallelSpeedup$' -test.benchtime 1x) |
    awk '$NF == "speedup" { print $(NF-1) }'
}
rows=${*:-mobilenetv2:1 mobilenetv1:1 mobilenetv2:2 mobilenetv1:2}
status=0
for row in $rows; do
  model=${row%:*}
  threads=${row#*:}
  waited=0
  while :; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    if awk -v l="$load" -v q="$quiet" 'BEGIN { exit !(l < q) }'; then
      if [ "$threads" = 1 ] || awk -v s="$(speedup)" -v m="$minspeed" 'BEGIN { exit !(s != "" && s + 0 >= m + 0) }'; then
        break
      fi
    fi
    if [ "$waited" -ge "$wait" ]; then
      echo "fidelity.sh: $row: still not quiet after ${wait}s (load $load); running anyway" >&2
      break
    fi
    sleep 30
    waited=$((waited + 30))
  done
  echo "fidelity.sh: $row: $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  (cd lut && LUT_BENCH_MODELS=$model LUT_BENCH_THREADS=$threads "$bin" -test.run '^TestFidelity$' -test.v -test.timeout 3h) ||
    status=1 # a row missed the targets: the others still run
done
exit $status
