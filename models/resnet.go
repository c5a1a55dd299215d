package models

import (
	"fmt"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// ResNet builds ResNet-18 (He et al. 2016) as torchvision's resnet18 does:
// a 7×7 stride-2 stem conv, BN, ReLU and 3×3 stride-2 MaxPool, four stages
// of two basic blocks (two 3×3 convs with BN; a residual Add of the block's
// input, or, where the stride is 2 or the channel count changes, of a 1×1
// stride-2 downsample conv + BN; then ReLU), global average pooling, and a
// fully connected classifier. Stage widths are 64, 128, 256, 512 scaled by
// Config.Width (rounded to multiples of 8).
//
// Unlike torchvision (torch.flatten → Flatten) the pooled features are
// flattened the way older code does, x.view(x.size(0), -1), which
// torch.onnx exports as Shape → Gather → Unsqueeze → Concat → Reshape: the
// chain shape inference and channel surgery must see through.
func ResNet(cfg Config) (*onnxio.Model, error) {
	b, x, err := newBuilder(cfg, 1e-5)
	if err != nil {
		return nil, err
	}
	x = b.convBN("conv1", "bn1", x, b.cfg.ch(64), 7, 2, 1)
	x = b.act("relu", actReLU, x)
	x = b.maxPool("maxpool", x, 3, 2, 1)
	for stage := range 4 {
		planes := b.cfg.ch(64 << stage)
		for blk := range 2 {
			stride := int64(1)
			if stage > 0 && blk == 0 {
				stride = 2
			}
			p := fmt.Sprintf("layer%d.%d", stage+1, blk)
			in := x
			y := b.convBN(p+".conv1", p+".bn1", x, planes, 3, stride, 1)
			y = b.act(p+".relu", actReLU, y)
			y = b.convBN(p+".conv2", p+".bn2", y, planes, 3, 1, 1)
			if stride != 1 || in.c != planes {
				in = b.convBN(p+".downsample.0", p+".downsample.1", in, planes, 1, stride, 1)
			}
			x = b.act(p+".relu_1", actReLU, b.add(p, y, in))
		}
	}
	x = b.globalAvgPool("avgpool", x)
	x = b.viewFlatten("", x)
	return b.finish(b.classifier("fc", x))
}
