#!/usr/bin/python3
"""Gradient check of the Go engine against PyTorch, in float64.

finetune's TestAgainstPyTorch (run with FINETUNE_TORCH=1) writes, into DIR,
the initial weights of a models.MobileNetV2 (names.txt plus one raw
little-endian float32 file per initializer, named as torchvision's
state_dict keys), one batch (x.bin float32 N×C×H×W, y.bin labels as
float32) and the engine's float64 gradients of the mean cross-entropy
(grad_NAME.bin). This script loads the same weights into
torchvision.models.mobilenet_v2 (first convolution adapted to the input
channels, dropout off), computes the gradients in float64 and prints the
largest difference relative to each tensor's largest gradient.

Usage: torch_grad_check.py DIR WIDTH CHANNELS RES CLASSES BATCH
"""
import os
import sys

import numpy as np
import torch
import torchvision


def main():
    d = sys.argv[1]
    width, chans, res, classes, batch = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    m = torchvision.models.mobilenet_v2(num_classes=classes, width_mult=width)
    first = m.features[0][0]
    m.features[0][0] = torch.nn.Conv2d(chans, first.out_channels, 3, 2, 1, bias=False)
    m.classifier[0].p = 0.0
    sd = m.state_dict()
    names = [l.split()[0] for l in open(os.path.join(d, "names.txt"))]
    for n in names:
        a = np.fromfile(os.path.join(d, n + ".bin"), dtype=np.float32)
        if sd[n].numel() != a.size:
            sys.exit("shape mismatch for %s: torch %s, go %d values" % (n, tuple(sd[n].shape), a.size))
        sd[n] = torch.from_numpy(a.reshape(sd[n].shape))
    m.load_state_dict(sd)
    m = m.double().train()
    x = torch.from_numpy(np.fromfile(os.path.join(d, "x.bin"), dtype=np.float32).reshape(batch, chans, res, res)).double()
    y = torch.from_numpy(np.fromfile(os.path.join(d, "y.bin"), dtype=np.float32).astype(np.int64))
    loss = torch.nn.functional.cross_entropy(m(x), y)
    loss.backward()
    worst, where = 0.0, ""
    for n, p in m.named_parameters():
        a = np.fromfile(os.path.join(d, "grad_" + n + ".bin"), dtype=np.float64)
        b = p.grad.numpy().ravel()
        e = np.abs(a - b).max() / max(1e-6, np.abs(b).max())
        if e > worst:
            worst, where = e, n
    print("%.6g %.17g %s" % (worst, loss.item(), where))


if __name__ == "__main__":
    main()
