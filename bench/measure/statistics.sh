#!/usr/bin/env bash
# Which statistic of a ratio to the source moves least between processes?
# Runs `onnx-adapt measure MODEL --json --blocks 40` 12 times for each
# model (alternating; the source found through the lineage is timed
# alongside) and prints, per model, the mean and SD across processes of:
# the median of the round-by-round ratios (the protocol's), its reported
# noise, the ratio of the two models' 10% quantiles of block figures, of
# their runs' p10, of their fastest blocks, and the source's milliseconds.
#
#   bench/measure/statistics.sh MODEL...
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${ONNX_ADAPT:-$ROOT/bin/onnx-adapt}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for i in $(seq 12); do
  k=0
  for m in "$@"; do
    "$bin" measure "$m" --json --quiet --blocks 40 >"$tmp/$k.$i.json"
    k=$((k+1))
  done
done
python3 - "$tmp" "$@" <<'PY'
import glob, json, statistics as st, sys
tmp, models = sys.argv[1], sys.argv[2:]
q = lambda x, p: sorted(x)[int(p * (len(x) - 1))]
for k, m in enumerate(models):
    rows = []
    for f in glob.glob(f"{tmp}/{k}.*.json"):
        j = json.load(open(f))
        a, s = j["latency"], j["against"]["latency"]
        rows.append((j["against"]["ratio"]["value"], j["against"]["ratio"]["noise"],
                     q(a["blocks_ms"], .1) / q(s["blocks_ms"], .1), a["p10_ms"] / s["p10_ms"],
                     min(a["blocks_ms"]) / min(s["blocks_ms"]), s["ms"]))
    print(m)
    for c, name in enumerate(["median ratio", "reported noise", "q10 blocks ratio", "p10 runs ratio", "fastest blocks ratio", "source ms"]):
        v = [r[c] for r in rows]
        print(f"  {name:22s} mean {st.mean(v):.4f}  SD {st.stdev(v):.4f} ({100 * st.stdev(v) / st.mean(v):.1f}%)")
PY
