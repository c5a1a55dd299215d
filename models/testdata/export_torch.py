#!/usr/bin/python3
"""Export small, randomly initialised torchvision CNNs to ONNX test fixtures.

Run from the repository root with Debian's PyTorch (python3-torch 1.13,
python3-torchvision 0.14; the onnx Python package is not needed):

    /usr/bin/python3 models/testdata/export_torch.py

It writes models/testdata/torch/<name>.<form>.onnx for every model below and
models/testdata/torch/manifest.json, which records for each file its input
shape, torch's parameter count (sum of p.numel() over model.parameters():
weights, biases, BN gamma/beta; not BN running statistics) and torch's output
on a deterministic input, so the Go tests can check onnxruntime against
PyTorch.

Forms:
  folded  torch.onnx.export(..., training=EVAL, do_constant_folding=True):
          the exporter folds each BatchNormalization that follows a Conv into
          the Conv's weights and bias.
  bn      training=PRESERVE, do_constant_folding=False: with the model in
          eval mode this keeps every BatchNormalization node (in inference
          mode) and its four parameter tensors.

Everything is seeded: weights by torch.manual_seed, BN affine parameters and
running statistics are set to non-trivial random values (var > 0, spread),
so that folding BN actually changes the weights.
"""

import json
import math
import os
import sys

import torch
import torch.nn as nn
import torchvision
from torchvision.models.densenet import DenseNet
from torchvision.models.googlenet import BasicConv2d, Inception
from torchvision.models.resnet import BasicBlock

OPSET = 13
BATCH = 2  # the batch of the reference input; the exported batch axis is dynamic
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch")
MAX_BYTES = 2 << 20

FOLDED = [("folded", torch.onnx.TrainingMode.EVAL, True)]
BOTH = FOLDED + [("bn", torch.onnx.TrainingMode.PRESERVE, False)]


class SmallResNet18(nn.Module):
    """torchvision's resnet18 at a fraction of its width (inplanes 64*width),
    built from torchvision's BasicBlock the way torchvision's ResNet does,
    but flattening with x.view(x.size(0), -1) as older code does, so the
    export holds Shape->Gather->Unsqueeze->Concat->Reshape instead of
    Flatten."""

    def __init__(self, width=0.125, num_classes=10):
        super().__init__()
        planes = [int(64 * width * 2**i) for i in range(4)]
        self.inplanes = planes[0]
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(planes[0], 2, 1)
        self.layer2 = self._make_layer(planes[1], 2, 2)
        self.layer3 = self._make_layer(planes[2], 2, 2)
        self.layer4 = self._make_layer(planes[3], 2, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes[3], num_classes)

    def _make_layer(self, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        for _ in range(1, blocks):
            layers.append(BasicBlock(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(x)
        x = x.view(x.size(0), -1)
        return self.fc(x)


class TinyInception(nn.Module):
    """Two torchvision GoogLeNet Inception blocks (four branches concatenated
    on channels, one of them a ceil-mode MaxPool followed by a 1x1 conv)
    between a stem and a Flatten->Gemm head."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = BasicConv2d(3, 16, kernel_size=3, stride=2, padding=1)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(16, 8, 8, 16, 4, 8, 8)  # -> 40
        self.inception3b = Inception(40, 16, 16, 24, 4, 8, 8)  # -> 56
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(56, num_classes)

    def forward(self, x):
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.inception3b(self.inception3a(x)))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def models():
    """(name, constructor, input H=W, forms). Widths and class counts are cut
    so that every file stays under MAX_BYTES; the larger MobileNetV3 is only
    exported folded, to keep the repository small."""
    tv = torchvision.models
    return [
        # Inverted residuals, ReLU6 as Clip, residual Adds, Flatten->Gemm.
        ("mobilenet_v2_w035", lambda: tv.mobilenet_v2(width_mult=0.35, num_classes=10), 96, BOTH),
        # Hardswish, SE blocks (GlobalAveragePool->Conv->Relu->Conv->HardSigmoid->Mul).
        ("mobilenet_v3_small_w035", lambda: tv.mobilenet_v3_small(width_mult=0.35, num_classes=10), 96, BOTH),
        ("mobilenet_v3_large_w025", lambda: tv.mobilenet_v3_large(width_mult=0.25, num_classes=10), 96, FOLDED),
        # Basic blocks, 1x1 stride-2 downsample shortcuts, view-style reshape.
        ("resnet18_w0125", lambda: SmallResNet18(width=0.125, num_classes=10), 64, BOTH),
        # Dense blocks: each layer concats onto the running features, BN on a
        # concat (pre-activation, not foldable into a conv), AvgPool transition.
        ("densenet_tiny", lambda: DenseNet(growth_rate=8, block_config=(2, 3, 2), num_init_features=16,
                                           bn_size=2, num_classes=10), 64, BOTH),
        # Inception branches with a pooling branch.
        ("inception_tiny", lambda: TinyInception(num_classes=10), 64, BOTH),
    ]


def randomize_bn(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            with torch.no_grad():
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)  # [0.5, 1.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_var.copy_(torch.exp(torch.rand(c, generator=gen) * 2 - 1))  # [1/e, e)


def reference_input(h):
    """The input the Go test regenerates: x[i] = sin(0.1*i) over the flat
    row-major index of a [BATCH, 3, h, h] tensor."""
    n = BATCH * 3 * h * h
    return torch.sin(0.1 * torch.arange(n, dtype=torch.float64)).float().reshape(BATCH, 3, h, h)


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    for i, (name, ctor, h, forms) in enumerate(models()):
        torch.manual_seed(1000 + i)
        model = ctor()
        gen = torch.Generator().manual_seed(2000 + i)
        randomize_bn(model, gen)
        model.eval()
        params = sum(p.numel() for p in model.parameters())
        x = reference_input(h)
        with torch.no_grad():
            y = model(x)
        for form, training, fold in forms:
            path = os.path.join(OUT, f"{name}.{form}.onnx")
            torch.onnx.export(
                model, x, path,
                opset_version=OPSET,
                input_names=["input"], output_names=["output"],
                dynamic_axes={"input": {0: "N"}, "output": {0: "N"}},
                training=training,
                do_constant_folding=fold,
            )
            size = os.path.getsize(path)
            if size > MAX_BYTES:
                sys.exit(f"{path} is {size} bytes, over {MAX_BYTES}: shrink the model")
            manifest.append({
                "file": f"{name}.{form}.onnx",
                "form": form,
                "input_shape": [BATCH, 3, h, h],
                "torch_params": params,
                "output": [float(v) for v in y.flatten()],
            })
            print(f"{name}.{form}.onnx: {size} bytes, {params} parameters")
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump({
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "opset": OPSET,
            "reference_input": "x[i] = sin(0.1*i), i the flat row-major index (float64 then float32)",
            "models": manifest,
        }, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
