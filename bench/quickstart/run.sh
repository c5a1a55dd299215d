#!/usr/bin/env bash
# Runs the README's first command as a new user would, and reports what
# issue 9 asks of it: a fresh clone of this repository, an empty user cache
# (so the lookup table is built from nothing), ./scripts/quickstart timed
# whole, optionally with a busy loop pinned to one of the machine's cores
# for the whole run. Prints one Markdown row (wall time, the source's and
# the final test top-1, the worst held-out loss of a chosen candidate
# against the previous iteration, the final latency check with its noise
# and verdict, iterations, rejected steps) and keeps the run's folder.
#
#   bench/quickstart/run.sh [quiet|busy] [OUTDIR]
#
# "busy" runs `taskset -c 1 sh -c 'while :; do :; done'` alongside.
set -euo pipefail
mode="${1:-quiet}"
keep="${2:-$(mktemp -d /tmp/quickstart-XXXX)}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PATH="/usr/local/go/bin:$PATH"

mkdir -p "$keep"
rm -rf "$keep/clone" "$keep/cache"
git clone -q "$ROOT" "$keep/clone"
busy=""
if [[ $mode == busy ]]; then
  taskset -c 1 sh -c 'while :; do :; done' &
  busy=$!
  trap 'kill $busy 2>/dev/null || true' EXIT
fi
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s.%N)
set +e
(cd "$keep/clone" && XDG_CACHE_HOME="$keep/cache" ./scripts/quickstart >"$keep/stdout" 2>"$keep/stderr")
code=$?
set -e
end=$(date +%s.%N)
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
wall=$(echo "$end - $start" | bc)

# The same model measured three ways in a row, under the same load: the
# search's final check (history.json), measure, estimate --measure; in
# milliseconds and as the ratio to the source timed alongside.
bin="$keep/clone/bin/onnx-adapt"
if [[ -f $keep/clone/out/adapted.onnx ]]; then
  XDG_CACHE_HOME="$keep/cache" "$bin" measure "$keep/clone/out/adapted.onnx" --json >"$keep/measure.json"
  XDG_CACHE_HOME="$keep/cache" "$bin" estimate "$keep/clone/out/adapted.onnx" --measure --json >"$keep/estimate.json"
  python3 - "$keep/clone/out/history.json" "$keep/measure.json" "$keep/estimate.json" >&2 <<'PY'
import json, sys
h, m, e = (json.load(open(p)) for p in sys.argv[1:])
f = h["final"]
v = (h.get("checks") or [{}])[-1].get("verdict", {})
def ratio(j):
    a = j.get("against") or {}
    r = a.get("ratio") or {}
    return f"{r.get('value', 0):.3f} ± {r.get('noise', 0):.3f}×"
print(f"same model, three ways: search {f['measured_ms']:.4f} ± {f['noise_ms']:.4f} ms, {v.get('value', 0):.3f} ± {v.get('noise', 0):.3f}× ({(h.get('checks') or [{}])[-1].get('processes', 1)} fresh process(es) pooled); "
      f"measure {m['latency']['ms']:.4f} ± {m['latency']['noise_ms']:.4f} ms, {ratio(m)}; "
      f"estimate --measure {e['measured']['ms']:.4f} ± {e['measured']['noise_ms']:.4f} ms, {ratio(e)} "
      f"(estimate {e['resources']['latency_ms']:.4f}, calibration: {e['calibration']})")
PY
fi
[[ -n $busy ]] && kill "$busy" 2>/dev/null || true

python3 - "$keep/clone/out/history.json" "$mode" "$wall" "$code" "$load_before" "$load_after" "$(git -C "$keep/clone" rev-parse --short HEAD)" <<'PY'
import json, sys
path, mode, wall, code, lb, la, rev = sys.argv[1:]
h = json.load(open(path))
src, fin = h["source"], h.get("final") or {}
def top1(f, k): return 100 * f[k]["Top1"] if f.get(k) else float("nan")
prev, worst = top1(src, "held_out"), 0.0
for it in h["iterations"]:
    cur = top1(it["figures"], "held_out")
    worst = max(worst, prev - cur)
    prev = cur
shrunk = sum(len(it.get("shrunk") or []) for it in h["iterations"])
c = (h.get("checks") or [{}])[-1]
v = c.get("verdict", {})
print(f"| {rev} | {mode} | {float(wall):.0f} s | {code} | {top1(src,'test'):.2f}% → {top1(fin,'test'):.2f}% "
      f"| {worst:.2f} | {c.get('measured_ms',0):.4f} ± {c.get('noise_ms',0):.4f} ms, {v.get('value',0):.3f} ± {v.get('noise',0):.3f}× "
      f"vs {v.get('limit',0):.2f} ({100*v.get('confidence',0):.1f}% sure) | {len(h['iterations'])} | {shrunk} | {lb} → {la} |")
PY
echo "kept in $keep" >&2
