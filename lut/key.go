package lut

import (
	"fmt"
	"strings"
)

// Unit kinds (Key.Op).
const (
	OpConv     = "conv"    // Conv [+BatchNormalization] [+Add] [+activation]
	OpGemm     = "gemm"    // [Flatten/Reshape →] Gemm or MatMul [+Add bias] [+activation]
	OpMaxPool  = "maxpool" // MaxPool
	OpAvgPool  = "avgpool" // AveragePool
	OpGAP      = "gap"     // GlobalAveragePool
	OpGMP      = "gmp"     // GlobalMaxPool
	OpAdd      = "add"     // a stand-alone element-wise Add (and Sub)
	OpMul      = "mul"     // a stand-alone element-wise Mul (and Div), e.g. squeeze-excite scaling
	OpAct      = "act"     // a stand-alone activation
	OpConcat   = "concat"  // a channel Concat
	OpNode     = "node"    // any other single node, measured at its own shapes
	OpFree     = "free"    // layout-only nodes (Flatten, Reshape, Identity, Dropout, shape arithmetic): no entry, latency 0
	OpOverhead = "overhead"
	// OpReorderIn is onnxruntime's NCHWc ReorderInput of a C×H×W tensor
	// alone; OpReorderPair is ReorderInput followed by ReorderOutput.
	// They price the layout changes at unit boundaries (see Estimate).
	OpReorderIn   = "reorder_in"
	OpReorderPair = "reorder_pair"
)

// Group kinds (Key.Group) of convolutions.
const (
	GroupDense     = "dense"
	GroupDepthwise = "dw"
)

// Key identifies one measured unit configuration: the operator kind and
// every attribute that changes what onnxruntime runs. Identical units (in one
// model or across models) have equal keys and share one table entry.
//
// Key is comparable and is used as a map key.
type Key struct {
	Op       string `json:"op"`
	Kernel   [2]int `json:"kernel,omitzero"`
	Stride   [2]int `json:"stride,omitzero"`
	Pads     [4]int `json:"pads,omitzero"` // begin H, begin W, end H, end W
	Dilation [2]int `json:"dilation,omitzero"`
	// Group is "dense", "dw" (depthwise: groups = Cin = Cout) or "g<N>"
	// for N groups; empty for operators that are not convolutions.
	Group string `json:"group,omitempty"`
	Batch int    `json:"batch"`
	// H and W are the main input's spatial size (1×1 for 2-D inputs).
	H int `json:"h"`
	W int `json:"w"`
	// Cin and Cout are the input and output channels (features for Gemm).
	// For channel-preserving kinds (depthwise conv, pooling, element-wise,
	// reorders) they are equal.
	Cin  int `json:"cin"`
	Cout int `json:"cout"`
	// Act is the fused activation with its parameters, e.g. "Relu",
	// "Clip(0,6)", "HardSigmoid(0.2,0.5)", "HardSwish", "LeakyRelu(0.01)".
	Act string `json:"act,omitempty"`
	// BN says a BatchNormalization node follows the Conv in the source, so
	// the measured graph keeps it and onnxruntime folds it the same way.
	BN bool `json:"bn,omitempty"`
	// Add says the unit ends in a residual Add of a same-shaped tensor,
	// which onnxruntime's NCHWc transformer fuses into the convolution.
	Add bool `json:"add,omitempty"`
	// Extra holds what else matters for the kind, canonically written:
	// pooling flags, Gemm form, broadcast pattern, Concat parts, or the
	// operator, attributes and shapes of an OpNode.
	Extra string `json:"extra,omitempty"`
}

func (k Key) String() string {
	var b strings.Builder
	b.WriteString(k.Op)
	if k.Kernel != [2]int{} {
		fmt.Fprintf(&b, " k%dx%d", k.Kernel[0], k.Kernel[1])
	}
	if k.Stride != [2]int{} {
		fmt.Fprintf(&b, " s%dx%d", k.Stride[0], k.Stride[1])
	}
	if k.Pads != [4]int{} {
		fmt.Fprintf(&b, " p%d,%d,%d,%d", k.Pads[0], k.Pads[1], k.Pads[2], k.Pads[3])
	}
	if k.Dilation != [2]int{} && k.Dilation != [2]int{1, 1} {
		fmt.Fprintf(&b, " d%dx%d", k.Dilation[0], k.Dilation[1])
	}
	if k.Group != "" {
		b.WriteString(" " + k.Group)
	}
	fmt.Fprintf(&b, " %dx%d c%d→%d", k.H, k.W, k.Cin, k.Cout)
	if k.BN {
		b.WriteString(" +bn")
	}
	if k.Add {
		b.WriteString(" +add")
	}
	if k.Act != "" {
		b.WriteString(" +" + k.Act)
	}
	if k.Batch != 1 {
		fmt.Fprintf(&b, " b%d", k.Batch)
	}
	if k.Extra != "" {
		b.WriteString(" [" + k.Extra + "]")
	}
	return b.String()
}

// chanMode says how a kind's channels vary.
type chanMode int

const (
	// modeFixed: the key is valid only at its own channels (OpNode,
	// OpConcat, grouped convolutions whose group count does not divide the
	// grid step).
	modeFixed chanMode = iota
	// modeInOut: Cin and Cout vary independently (dense conv, Gemm).
	modeInOut
	// modeSame: one channel count, Cin = Cout (depthwise, pooling,
	// element-wise, reorders).
	modeSame
)

func (k Key) mode() chanMode {
	switch k.Op {
	case OpConv:
		switch {
		case k.Group == GroupDense:
			return modeInOut
		case k.Group == GroupDepthwise:
			return modeSame
		}
		return modeFixed
	case OpGemm:
		return modeInOut
	case OpMaxPool, OpAvgPool, OpGAP, OpGMP, OpAdd, OpMul, OpAct, OpReorderIn, OpReorderPair:
		return modeSame
	}
	return modeFixed
}

// withChannels returns k at other channel counts. For channel-preserving
// kinds cout is used for both. Kinds with fixed channels return k itself.
func (k Key) withChannels(cin, cout int) Key {
	switch k.mode() {
	case modeInOut:
		k.Cin, k.Cout = cin, cout
	case modeSame:
		k.Cin, k.Cout = cout, cout
	}
	return k
}

// family is k without its channels: the keys along one unit's lines.
func (k Key) family() Key {
	k.Cin, k.Cout = 0, 0
	return k
}

// work is a rough cost proportional to what the unit computes at its
// channels, used only to scale a neighbouring entry when a foreign table
// has no grid points around a key (see Table.Latency).
func (k Key) work() float64 {
	switch k.mode() {
	case modeInOut:
		return float64(max(k.Cin, 1)) * float64(max(k.Cout, 1))
	case modeSame:
		return float64(max(k.Cout, 1))
	}
	return 1
}
