// Package pretrained embeds onnx-adapt's default model: a MobileNetV2
// (α = 1.0, 32×32 grayscale input, 10 classes; 6M MACs, 2.2M parameters)
// trained from scratch on Fashion-MNIST by onnx-adapt's own trainer, to
// 90.48% top-1 on the Fashion-MNIST test set. `onnx-adapt adapt` with no
// MODEL adapts it, with Debian's dataset-fashion-mnist as its data, so that
// a fresh clone can run the whole NetAdapt job in minutes.
//
// How the file was made (16 epochs, about 40 minutes on 2 shared cores):
//
//	onnx-adapt zoo mobilenetv2 --width 1.0 --resolution 32 --classes 10 \
//	    --in-channels 1 --seed 7 -o init.onnx
//	onnx-adapt finetune init.onnx --data /usr/share/datasets/fashion-mnist \
//	    --epochs 12 --lr 0.08 --batch 128 --wd 4e-5 --nesterov \
//	    --augment pad=2:flip -o stage1.onnx            # 89.77%
//	onnx-adapt finetune stage1.onnx --data /usr/share/datasets/fashion-mnist \
//	    --epochs 4 --lr 0.02 --batch 128 --wd 4e-5 --nesterov \
//	    --augment flip -o fmnist-mobilenetv2.onnx      # 90.48%
package pretrained
