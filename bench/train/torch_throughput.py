#!/usr/bin/python3
"""PyTorch half of bench/train/compare.sh: training images per second of
torchvision's MobileNetV2 (the architecture models.MobileNetV2 builds, same
parameter count) on the CPU, with the same step as the Go benchmark
(bench/train/throughput): forward in training mode, cross-entropy,
backward, SGD with momentum 0.9 and weight decay 4e-5, on random inputs.

Usage: torch_throughput.py --width 1 --res 32 --classes 10 --batch 128 --threads 2
       [--steps 10 --reps 3 --warmup 2] [--json]
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torchvision


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--res", type=int, default=32)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    m = torchvision.models.mobilenet_v2(num_classes=a.classes, width_mult=a.width)
    m.train()
    params = sum(p.numel() for p in m.parameters())
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=4e-5)
    x = torch.randn(a.batch, 3, a.res, a.res)
    y = torch.randint(0, a.classes, (a.batch,))
    lossf = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        lossf(m(x), y).backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    runs = []
    for _ in range(a.reps):
        t = time.perf_counter()
        for _ in range(a.steps):
            step()
        runs.append(a.steps * a.batch / (time.perf_counter() - t))
    out = {"engine": "torch", "torch": torch.__version__, "threads": torch.get_num_threads(),
           "width": a.width, "resolution": a.res, "classes": a.classes, "batch": a.batch,
           "params": params, "images_per_sec": runs,
           "Median": statistics.median(runs), "Best": max(runs)}
    if a.json:
        print(json.dumps(out))
    else:
        print("torch mobilenet_v2 α=%g %d×%d batch %d, %d threads: median %.1f img/s (best %.1f; runs %s)"
              % (a.width, a.res, a.res, a.batch, out["threads"], out["Median"], out["Best"],
                 ["%.1f" % r for r in runs]))


if __name__ == "__main__":
    sys.exit(main())
