package models

import (
	"fmt"
	"math"
	"sort"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// BNMode says how batch normalisation appears in the graph.
type BNMode int

const (
	// BNKept emits Conv (no bias) → BatchNormalization, as
	// torch.onnx.export does with training=PRESERVE.
	BNKept BNMode = iota
	// BNFolded folds each BatchNormalization that follows a Conv into the
	// Conv's weights and bias, as exporters do with constant folding. A BN
	// that follows no Conv (ConcatNet's pre-activation BN on a concat) stays
	// a BatchNormalization node, as it does in real exports.
	BNFolded
)

func (m BNMode) String() string {
	switch m {
	case BNKept:
		return "bn-kept"
	case BNFolded:
		return "bn-folded"
	}
	return fmt.Sprintf("BNMode(%d)", int(m))
}

// Style is the exporter whose graph layout a model imitates.
type Style int

const (
	// StyleTorch lays the graph out as torch.onnx.export does (default).
	StyleTorch Style = iota
	// StyleTF2ONNX imitates tf2onnx's output for Keras models: NHWC input
	// and Transpose, BN folded, MatMul+Add, Reshape, Softmax. See the
	// package documentation.
	StyleTF2ONNX
)

func (s Style) String() string {
	switch s {
	case StyleTorch:
		return "torch"
	case StyleTF2ONNX:
		return "tf2onnx"
	}
	return fmt.Sprintf("Style(%d)", int(s))
}

// Config selects a model's size, layout and weights. The zero value asks
// for the published model: α = 1, 224×224 RGB input, 1000 classes, BN kept,
// torch layout, opset 17, symbolic batch, seed 0.
type Config struct {
	// Width is the channel multiplier α (0 means 1). Channel counts are
	// rounded as torchvision's _make_divisible(ch·α, 8).
	Width float64
	// Resolution is the input height and width (0 means 224; at least 32).
	Resolution int
	// Classes is the number of outputs (0 means 1000).
	Classes int
	// InChannels is the number of input channels (0 means 3).
	InChannels int
	// BN says whether BatchNormalization is kept or folded. StyleTF2ONNX
	// always folds.
	BN BNMode
	// Style is the exporter layout to imitate.
	Style Style
	// Seed seeds every weight.
	Seed int64
	// Opset is the ONNX opset (0 means 17; MinOpset..MaxOpset). Below 11,
	// Clip takes min/max attributes; from 11 it takes them as inputs.
	// Below 14, hard-swish is x·HardSigmoid(x); from 14 it is HardSwish.
	// Below 13, Unsqueeze takes axes as an attribute.
	Opset int64
	// Batch is the input's batch size; 0 makes it the symbolic dim "N".
	Batch int64
}

// The opsets the builders can emit.
const (
	MinOpset     = 9
	MaxOpset     = 21
	DefaultOpset = 17
)

// withDefaults fills in zero fields and checks the result.
func (c Config) withDefaults() (Config, error) {
	if c.Width == 0 {
		c.Width = 1
	}
	if c.Resolution == 0 {
		c.Resolution = 224
	}
	if c.Classes == 0 {
		c.Classes = 1000
	}
	if c.InChannels == 0 {
		c.InChannels = 3
	}
	if c.Opset == 0 {
		c.Opset = DefaultOpset
	}
	switch {
	case c.Width < 0 || math.IsNaN(c.Width) || math.IsInf(c.Width, 0) || c.Width > 16:
		return c, fmt.Errorf("models: width %v must be in (0, 16]", c.Width)
	case c.Resolution < 32 || c.Resolution > 4096:
		return c, fmt.Errorf("models: resolution %d must be in [32, 4096] (the networks downsample 32×)", c.Resolution)
	case c.Classes < 0 || c.Classes > 1<<20:
		return c, fmt.Errorf("models: %d classes is out of range", c.Classes)
	case c.InChannels < 0 || c.InChannels > 1024:
		return c, fmt.Errorf("models: %d input channels is out of range", c.InChannels)
	case c.Opset < MinOpset || c.Opset > MaxOpset:
		return c, fmt.Errorf("models: opset %d is not supported (%d..%d)", c.Opset, MinOpset, MaxOpset)
	case c.Batch < 0:
		return c, fmt.Errorf("models: batch %d must be >= 0 (0 = symbolic)", c.Batch)
	case c.BN != BNKept && c.BN != BNFolded:
		return c, fmt.Errorf("models: unknown BN mode %d", int(c.BN))
	case c.Style != StyleTorch && c.Style != StyleTF2ONNX:
		return c, fmt.Errorf("models: unknown style %d", int(c.Style))
	}
	if c.Style == StyleTF2ONNX {
		c.BN = BNFolded
	}
	return c, nil
}

// MakeDivisible is torchvision's _make_divisible(v, divisor): v rounded to
// the nearest multiple of divisor, at least divisor, and never more than
// 10% below v.
func MakeDivisible(v float64, divisor int64) int64 {
	n := max(divisor, int64(v+float64(divisor)/2)/divisor*divisor)
	if float64(n) < 0.9*v {
		n += divisor
	}
	return n
}

// ch scales a channel count by the configured width.
func (c Config) ch(n int64) int64 { return MakeDivisible(float64(n)*c.Width, 8) }

// registry maps Build names to builders.
var registry = map[string]func(Config) (*onnxio.Model, error){
	"mobilenetv1":       MobileNetV1,
	"mobilenetv2":       MobileNetV2,
	"mobilenetv3-small": MobileNetV3Small,
	"mobilenetv3-large": MobileNetV3Large,
	"resnet":            ResNet,
	"concatnet":         ConcatNet,
}

// Names returns the names Build accepts, sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Build builds the model registered under name (see Names).
func Build(name string, cfg Config) (*onnxio.Model, error) {
	f, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("models: unknown model %q (known: %v)", name, Names())
	}
	return f(cfg)
}
