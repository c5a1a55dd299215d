package models

import (
	"fmt"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// ConcatNet builds a small Inception/DenseNet-style network of our own
// design whose feature maps meet in channel Concats, to exercise the
// offset mapping of channel groups through Concat:
//
//	stem        3×3/2 conv 32, 3×3 conv 64, 3×3/2 MaxPool            → R/4
//	mixed       Inception-A: 1×1 64 | 1×1 48 → 3×3 64 |
//	            1×1 64 → 3×3 96 → 3×3 96 | 3×3 AvgPool → 1×1 32      → 256 ch
//	reduction   3×3/2 conv 128 | 1×1 64 → 3×3 96 → 3×3/2 96 |
//	            3×3/2 MaxPool (a pure pooling branch: the input's
//	            channels pass straight into the Concat)              → 480 ch, R/8
//	dense       DenseNet block of 4 layers (1×1 conv 128 → 3×3 conv 32),
//	            each concatenated onto the running features          → 608 ch
//	transition  DenseNet transition: BN → ReLU → 1×1 conv 304 (no bias)
//	            → 2×2/2 AvgPool                                       → R/16
//	head        1×1 conv 512, global average pool, Flatten, Gemm
//
// Every conv but the transition's is followed by BN and ReLU. The
// transition's BN sits on a Concat and precedes its ReLU, so no conv can
// absorb it: it stays a BatchNormalization node even with BNFolded, as in a
// real exported DenseNet. Channel counts scale with Config.Width.
func ConcatNet(cfg Config) (*onnxio.Model, error) {
	b, x, err := newBuilder(cfg, 1e-5)
	if err != nil {
		return nil, err
	}
	ch := b.cfg.ch
	cbr := func(path string, x feat, c, k, s int64) feat {
		return b.convBNAct(path, x, ch(c), k, s, 1, actReLU)
	}
	x = cbr("stem.0", x, 32, 3, 2)
	x = cbr("stem.1", x, 64, 3, 1)
	x = b.maxPool("stem.2", x, 3, 2, 1)

	b1 := cbr("mixed.branch1x1", x, 64, 1, 1)
	b2 := cbr("mixed.branch3x3.1", cbr("mixed.branch3x3.0", x, 48, 1, 1), 64, 3, 1)
	b3 := cbr("mixed.branch3x3dbl.0", x, 64, 1, 1)
	b3 = cbr("mixed.branch3x3dbl.2", cbr("mixed.branch3x3dbl.1", b3, 96, 3, 1), 96, 3, 1)
	b4 := cbr("mixed.branch_pool.1", b.avgPool("mixed.branch_pool.0", x, 3, 1, 1), 32, 1, 1)
	x = b.concat("mixed", b1, b2, b3, b4)

	r1 := cbr("reduction.branch3x3", x, 128, 3, 2)
	r2 := cbr("reduction.branch3x3dbl.0", x, 64, 1, 1)
	r2 = cbr("reduction.branch3x3dbl.2", cbr("reduction.branch3x3dbl.1", r2, 96, 3, 1), 96, 3, 2)
	r3 := b.maxPool("reduction.branch_pool", x, 3, 2, 1)
	x = b.concat("reduction", r1, r2, r3)

	for i := range 4 {
		p := fmt.Sprintf("dense.denselayer%d", i+1)
		y := cbr(p+".conv1", x, 128, 1, 1)
		y = cbr(p+".conv2", y, 32, 3, 1)
		x = b.concat(p, x, y)
	}

	x = b.bn("transition.norm", x)
	x = b.act("transition.relu", actReLU, x)
	x = b.emitConv("transition.conv", x, ch(304), 1, 1, 1, b.drawConv(ch(304), x.c, 1), nil)
	x = b.avgPool("transition.pool", x, 2, 2, 0)

	x = cbr("head", x, 512, 1, 1)
	x = b.globalAvgPool("avgpool", x)
	x = b.flatten("", x)
	return b.finish(b.classifier("fc", x))
}
