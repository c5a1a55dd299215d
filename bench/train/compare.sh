#!/bin/sh
# Training throughput of the Go engine (finetune) and of PyTorch on the CPU,
# measured in the same run, alternating, at the same thread count:
#   MobileNetV2 α=1.0, 32×32 input, 10 classes, batch 128
#   MobileNetV2 α=1.0, 224×224 input, 1000 classes, batch 16
# One step = forward (training mode) + cross-entropy + backward + SGD
# (momentum 0.9, weight decay 4e-5) on random inputs.
#
#   bench/train/compare.sh [threads] [rounds]      (defaults 2 and 2)
#
# Each round runs Go then PyTorch for each configuration; the table gives
# the median over rounds of each round's median img/s, and uptime's load
# before and after (the machine is shared: take numbers when it is low).
set -e
cd "$(dirname "$0")/../.."
threads=${1:-2}
rounds=${2:-2}
out=$(mktemp)
go build -o "$out.bin" ./bench/train/throughput
echo "load before: $(uptime)"
for round in $(seq "$rounds"); do
	for cfg in "1 32 10 128 10" "1 224 1000 16 4"; do
		set -- $cfg
		"$out.bin" -json -width "$1" -res "$2" -classes "$3" -batch "$4" -threads "$threads" -steps "$5" -reps 3 | tee -a "$out"
		/usr/bin/python3 bench/train/torch_throughput.py --json --width "$1" --res "$2" --classes "$3" --batch "$4" --threads "$threads" --steps "$5" --reps 3 | tee -a "$out"
	done
done
echo "load after: $(uptime)"
/usr/bin/python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
keys = sorted({(r["width"], r["resolution"], r["classes"], r["batch"]) for r in rows})
print("| model | batch | threads | Go img/s | PyTorch img/s | Go / PyTorch |")
print("|---|---|---|---|---|---|")
for k in keys:
    go = [r["Median"] for r in rows if r["engine"] == "go" and (r["width"], r["resolution"], r["classes"], r["batch"]) == k]
    th = [r["Median"] for r in rows if r["engine"] == "torch" and (r["width"], r["resolution"], r["classes"], r["batch"]) == k]
    g, t = statistics.median(go), statistics.median(th)
    thr = rows[0]["threads"]
    print("| MobileNetV2 α=%g %d×%d, %d classes | %d | %d | %.1f | %.1f | %.2f× |" % (k[0], k[1], k[1], k[2], k[3], thr, g, t, g / t))
PY
rm -f "$out" "$out.bin"
