package models

import (
	"fmt"
	"math"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// MobileNetV1 builds MobileNet (Howard et al. 2017, Table 1): a 3×3
// stride-2 stem conv with 32 channels, 13 depthwise-separable blocks (3×3
// depthwise conv + 1×1 pointwise conv, each followed by BN and ReLU6),
// global average pooling and a fully connected classifier. ReLU6 (Clip
// 0..6) follows the reference TensorFlow implementation and Keras; the
// paper says ReLU. Channels are scaled by Config.Width and rounded to
// multiples of 8. Module paths follow a torchvision-like layout:
// features.0 is the stem, features.i (i = 1..13) the blocks with the
// depthwise conv at .0/.1/.2 and the pointwise conv at .3/.4/.5.
func MobileNetV1(cfg Config) (*onnxio.Model, error) {
	b, x, err := newBuilder(cfg, 1e-3)
	if err != nil {
		return nil, err
	}
	x = b.convBNAct("features.0", x, b.cfg.ch(32), 3, 2, 1, actReLU6)
	blocks := []struct{ c, s int64 }{
		{64, 1}, {128, 2}, {128, 1}, {256, 2}, {256, 1}, {512, 2},
		{512, 1}, {512, 1}, {512, 1}, {512, 1}, {512, 1}, {1024, 2}, {1024, 1},
	}
	for i, blk := range blocks {
		p := fmt.Sprintf("features.%d", i+1)
		x = b.convBN(p+".0", p+".1", x, x.c, 3, blk.s, x.c)
		x = b.act(p+".2", actReLU6, x)
		x = b.convBN(p+".3", p+".4", x, b.cfg.ch(blk.c), 1, 1, 1)
		x = b.act(p+".5", actReLU6, x)
	}
	x = b.globalAvgPool("avgpool", x)
	x = b.flatten("", x)
	return b.finish(b.classifier("classifier", x))
}

// MobileNetV2 builds MobileNetV2 as torchvision's mobilenet_v2 does
// (Sandler et al. 2018): a 3×3 stride-2 stem, 17 inverted residual blocks
// (1×1 expansion ×6, 3×3 depthwise, linear 1×1 projection; ReLU6 as Clip;
// a residual Add when the stride is 1 and the channel count is kept), a
// 1×1 conv to 1280·max(1, α) channels, global average pooling, Flatten and
// a Gemm classifier (dropout is absent, as in an eval-mode export).
func MobileNetV2(cfg Config) (*onnxio.Model, error) {
	b, x, err := newBuilder(cfg, 1e-5)
	if err != nil {
		return nil, err
	}
	x = b.convBNAct("features.0", x, b.cfg.ch(32), 3, 2, 1, actReLU6)
	setting := []struct{ t, c, n, s int64 }{
		{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
		{6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1},
	}
	idx := 1
	for _, st := range setting {
		out := b.cfg.ch(st.c)
		for i := range st.n {
			stride := int64(1)
			if i == 0 {
				stride = st.s
			}
			p := fmt.Sprintf("features.%d", idx)
			in := x
			hidden := x.c * st.t
			j := 0
			if st.t != 1 {
				x = b.convBNAct(fmt.Sprintf("%s.conv.%d", p, j), x, hidden, 1, 1, 1, actReLU6)
				j++
			}
			x = b.convBNAct(fmt.Sprintf("%s.conv.%d", p, j), x, hidden, 3, stride, hidden, actReLU6)
			x = b.convBN(fmt.Sprintf("%s.conv.%d", p, j+1), fmt.Sprintf("%s.conv.%d", p, j+2), x, out, 1, 1, 1)
			if stride == 1 && in.c == out {
				x = b.add(p, in, x)
			}
			idx++
		}
	}
	last := MakeDivisible(1280*math.Max(1, b.cfg.Width), 8)
	x = b.convBNAct(fmt.Sprintf("features.%d", idx), x, last, 1, 1, 1, actReLU6)
	x = b.globalAvgPool("", x)
	x = b.flatten("", x)
	return b.finish(b.classifier("classifier.1", x))
}

// v3Block is one row of torchvision's MobileNetV3 inverted_residual_setting
// before width scaling: input, kernel, expanded and output channels,
// squeeze-excite, activation (hard-swish or ReLU) and stride.
type v3Block struct {
	in, k, exp, out int64
	se, hs          bool
	s               int64
}

// MobileNetV3Large builds torchvision's mobilenet_v3_large (Howard et al.
// 2019): hard-swish stem, 15 bottlenecks with squeeze-excite in some
// (GlobalAveragePool → 1×1 Conv → Relu → 1×1 Conv → HardSigmoid(1/6, 0.5)
// → Mul, squeeze channels _make_divisible(exp/4, 8)), a 1×1 conv to 6× the
// last block's channels, pooling, and the classifier torchvision uses in
// place of the paper's 1×1 convs: Flatten → Gemm(1280·α) → HardSwish → Gemm.
func MobileNetV3Large(cfg Config) (*onnxio.Model, error) {
	return mobileNetV3(cfg, []v3Block{
		{16, 3, 16, 16, false, false, 1},
		{16, 3, 64, 24, false, false, 2},
		{24, 3, 72, 24, false, false, 1},
		{24, 5, 72, 40, true, false, 2},
		{40, 5, 120, 40, true, false, 1},
		{40, 5, 120, 40, true, false, 1},
		{40, 3, 240, 80, false, true, 2},
		{80, 3, 200, 80, false, true, 1},
		{80, 3, 184, 80, false, true, 1},
		{80, 3, 184, 80, false, true, 1},
		{80, 3, 480, 112, true, true, 1},
		{112, 3, 672, 112, true, true, 1},
		{112, 5, 672, 160, true, true, 2},
		{160, 5, 960, 160, true, true, 1},
		{160, 5, 960, 160, true, true, 1},
	}, 1280)
}

// MobileNetV3Small builds torchvision's mobilenet_v3_small: as
// MobileNetV3Large, with 11 bottlenecks and a 1024·α classifier.
func MobileNetV3Small(cfg Config) (*onnxio.Model, error) {
	return mobileNetV3(cfg, []v3Block{
		{16, 3, 16, 16, true, false, 2},
		{16, 3, 72, 24, false, false, 2},
		{24, 3, 88, 24, false, false, 1},
		{24, 5, 96, 40, true, true, 2},
		{40, 5, 240, 40, true, true, 1},
		{40, 5, 240, 40, true, true, 1},
		{40, 5, 120, 48, true, true, 1},
		{48, 5, 144, 48, true, true, 1},
		{48, 5, 288, 96, true, true, 2},
		{96, 5, 576, 96, true, true, 1},
		{96, 5, 576, 96, true, true, 1},
	}, 1024)
}

func mobileNetV3(cfg Config, blocks []v3Block, lastChannel int64) (*onnxio.Model, error) {
	b, x, err := newBuilder(cfg, 1e-3)
	if err != nil {
		return nil, err
	}
	ch := b.cfg.ch
	x = b.convBNAct("features.0", x, ch(blocks[0].in), 3, 2, 1, actHardSwish)
	for i, blk := range blocks {
		p := fmt.Sprintf("features.%d.block", i+1)
		in := x
		exp, out := ch(blk.exp), ch(blk.out)
		a := actReLU
		if blk.hs {
			a = actHardSwish
		}
		j := 0
		if exp != x.c {
			x = b.convBNAct(fmt.Sprintf("%s.%d", p, j), x, exp, 1, 1, 1, a)
			j++
		}
		x = b.convBNAct(fmt.Sprintf("%s.%d", p, j), x, exp, blk.k, blk.s, exp, a)
		j++
		if blk.se {
			x = b.squeezeExcite(fmt.Sprintf("%s.%d", p, j), x, MakeDivisible(float64(exp/4), 8))
			j++
		}
		x = b.convBNAct(fmt.Sprintf("%s.%d", p, j), x, out, 1, 1, 1, actNone)
		if blk.s == 1 && in.c == out {
			x = b.add(fmt.Sprintf("features.%d", i+1), x, in)
		}
	}
	x = b.convBNAct(fmt.Sprintf("features.%d", len(blocks)+1), x, 6*x.c, 1, 1, 1, actHardSwish)
	x = b.globalAvgPool("avgpool", x)
	x = b.flatten("", x)
	x = b.linear("classifier.0", "", x, ch(lastChannel), 2)
	x = b.act("classifier.1", actHardSwish, x)
	return b.finish(b.classifier("classifier.3", x))
}

// squeezeExcite is torchvision's SqueezeExcitation with ReLU and
// hard-sigmoid: scale = hardsigmoid(fc2(relu(fc1(avgpool(x))))); scale·x.
func (b *builder) squeezeExcite(path string, x feat, squeeze int64) feat {
	s := b.globalAvgPool(path+".avgpool", x)
	s = b.convBias(path+".fc1", s, squeeze, 1, 1, 1)
	s = b.act(path+".activation", actReLU, s)
	s = b.convBias(path+".fc2", s, x.c, 1, 1, 1)
	s = b.act(path+".scale_activation", actHardSigmoid, s)
	return b.scale(path, s, x)
}
