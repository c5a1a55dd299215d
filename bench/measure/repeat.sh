#!/usr/bin/env bash
# How much does a measured latency move between processes? Runs
# `onnx-adapt measure MODEL --json` N times for each model, alternating the
# models, each time in a new process (a user's next command, a search's
# next check), and prints, per model: the mean of the figures, their
# standard deviation across processes, the median standard error each
# measurement reported (the spread of its own blocks), and the ratio of
# the two; the same for the ratio to the source timed alongside (measure
# --against, by default the source found through the lineage). A ratio
# near 1 means the reported noise covers what the next process will read;
# above 1, processes differ by more than one measurement can see.
#
#   bench/measure/repeat.sh N MODEL...
#
# MEASURE_FLAGS adds flags to every measure (e.g. "--blocks 40 --block-ms 6").
set -euo pipefail
n="$1"; shift
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${ONNX_ADAPT:-$ROOT/bin/onnx-adapt}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for i in $(seq "$n"); do
  k=0
  for m in "$@"; do
    # shellcheck disable=SC2086
    "$bin" measure "$m" --json --quiet ${MEASURE_FLAGS:-} >"$tmp/$k.$i.json"
    k=$((k+1))
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 - "$tmp" "$n" "$@" <<'PY'
import json, statistics as st, sys, glob
tmp, n, models = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
print("| model | processes | mean ms | SD across processes | median reported noise | SD / noise | mean ratio to source | SD across processes | median reported noise | SD / noise |")
print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
for k, m in enumerate(models):
    js = [json.load(open(f"{tmp}/{k}.{i}.json")) for i in range(1, n + 1)]
    ms = [j["latency"]["ms"] for j in js]
    noise = st.median(j["latency"]["noise_ms"] for j in js)
    mean, sd = st.mean(ms), st.stdev(ms)
    row = f"| {m} | {n} | {mean:.4f} | {sd:.4f} ({100*sd/mean:.1f}%) | {noise:.4f} ({100*noise/mean:.1f}%) | {sd/noise:.1f} |"
    if all(j.get("against") for j in js):
        rs = [j["against"]["ratio"]["value"] for j in js]
        rn = st.median(j["against"]["ratio"]["noise"] for j in js)
        rm, rsd = st.mean(rs), st.stdev(rs)
        row += f" {rm:.4f} | {rsd:.4f} ({100*rsd/rm:.1f}%) | {rn:.4f} ({100*rn/rm:.1f}%) | {rsd/rn:.1f} |"
    else:
        row += " – | – | – | – |"
    print(row)
PY
