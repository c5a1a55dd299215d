#!/bin/sh
# The real-training acceptance run: a MobileNetV2 from random weights,
# trained on Fashion-MNIST by onnx-adapt's Go engine, then evaluated
# through onnxruntime. Not part of the test suite (it takes a while).
#
#   bench/train/fashion_mnist.sh [OUTDIR] [WIDTH] [EPOCHS]
#
# Recipe: α=WIDTH (default 0.5), 32×32 grayscale input (the 28×28 images
# stretched by the "none" preset; InChannels 1), 10 classes; SGD with
# Nesterov momentum 0.9, LR 0.05 with 1 epoch of linear warm-up then cosine
# decay, weight decay 4e-5 (weights only), batch 128, augmentation pad-2
# random crop + horizontal flip, EPOCHS epochs (default 15), seed 1,
# 2 threads. The test accuracy is printed after every epoch (Go engine)
# and at the end through onnxruntime on the saved model.
set -e
cd "$(dirname "$0")/../.."
outdir=${1:-/tmp/fashion-mnist-run}
width=${2:-0.5}
epochs=${3:-15}
data=/usr/share/datasets/fashion-mnist
mkdir -p "$outdir"
go build -o "$outdir/onnx-adapt" ./cmd/onnx-adapt
# The binary finds onnxruntime from the working directory (the repository).
bin="$outdir/onnx-adapt"
"$bin" zoo mobilenetv2 --width "$width" --resolution 32 --classes 10 --in-channels 1 --seed 1 -o "$outdir/init.onnx"
echo "load before: $(uptime)"
"$bin" finetune "$outdir/init.onnx" --data "$data" --epochs "$epochs" --batch 128 \
	--lr 0.05 --nesterov --momentum 0.9 --wd 4e-5 --schedule cosine --warmup 1 \
	--augment pad=2:flip --eval epoch --threads 2 --seed 1 \
	-o "$outdir/trained.onnx" --json > "$outdir/finetune.json"
echo "load after: $(uptime)"
cat "$outdir/finetune.json"
"$bin" eval "$outdir/trained.onnx" --data "$data" --split test --engine
