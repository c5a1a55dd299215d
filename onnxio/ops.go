package onnxio

// DefaultDomain reports whether n belongs to the default ONNX operator set,
// which a file names "" or "ai.onnx".
func (n *Node) DefaultDomain() bool { return n.Domain == "" || n.Domain == "ai.onnx" }

// OpClass says how an operator of the default ONNX domain maps the
// elements of its inputs to those of its outputs. Shape inference and the
// channel analysis of package surgery both dispatch on it.
type OpClass uint8

// The operator classes.
const (
	// OpOther is every operator not in a class below.
	OpOther OpClass = iota
	// OpUnary operators are element-wise on input 0: output 0 has its
	// shape, and each output element depends on the input element at the
	// same position only. Their other inputs are scalars or types (Clip's
	// bounds, Dropout's ratio, CastLike's target). The element type may
	// change (Cast, CastLike, IsNaN, IsInf); Dropout has a mask of the same
	// shape as a second output.
	OpUnary
	// OpBroadcast operators are element-wise over all their inputs, with
	// multidirectional (NumPy) broadcasting (PRelu's slope broadcasts to X).
	OpBroadcast
	// OpNormalize operators keep input 0's shape and element type in their
	// only output, but mix elements along some axes (Softmax, LRN, instance
	// normalisation, CumSum).
	OpNormalize
	// OpPool operators slide a window over the spatial axes of each
	// channel (kernel_shape, strides, pads, dilations, auto_pad).
	OpPool
	// OpGlobalPool operators pool each channel's spatial axes down to 1.
	OpGlobalPool
	// OpReduce operators reduce the axes their axes attribute or input
	// names (keepdims, noop_with_empty_axes).
	OpReduce
)

func (c OpClass) String() string {
	return [...]string{"other", "unary", "broadcast", "normalize", "pool", "global pool", "reduce"}[c]
}

// opInfo is an operator's class and the opset that introduced it.
type opInfo struct {
	class OpClass
	since int64
}

// opTable classifies the operators of the default domain (ONNX
// Operators.md, opset 24). The since versions let TestOpTable check the
// names against ONNX's own node tests.
var opTable = map[string]opInfo{
	// Element-wise, one data input.
	"Abs": {OpUnary, 1}, "Acos": {OpUnary, 7}, "Acosh": {OpUnary, 9}, "Asin": {OpUnary, 7},
	"Asinh": {OpUnary, 9}, "Atan": {OpUnary, 7}, "Atanh": {OpUnary, 9}, "BitwiseNot": {OpUnary, 18},
	"Cast": {OpUnary, 1}, "CastLike": {OpUnary, 15}, "Ceil": {OpUnary, 1}, "Celu": {OpUnary, 12},
	"Clip": {OpUnary, 1}, "Cos": {OpUnary, 7}, "Cosh": {OpUnary, 9}, "Dropout": {OpUnary, 1},
	"Elu": {OpUnary, 1}, "Erf": {OpUnary, 9}, "Exp": {OpUnary, 1}, "Floor": {OpUnary, 1},
	"Gelu": {OpUnary, 20}, "HardSigmoid": {OpUnary, 1}, "HardSwish": {OpUnary, 14},
	"Identity": {OpUnary, 1}, "IsInf": {OpUnary, 10}, "IsNaN": {OpUnary, 9}, "LeakyRelu": {OpUnary, 1},
	"Log": {OpUnary, 1}, "Mish": {OpUnary, 18}, "Neg": {OpUnary, 1}, "Not": {OpUnary, 1},
	"Reciprocal": {OpUnary, 1}, "Relu": {OpUnary, 1}, "Round": {OpUnary, 11}, "Selu": {OpUnary, 1},
	"Shrink": {OpUnary, 9}, "Sigmoid": {OpUnary, 1}, "Sign": {OpUnary, 9}, "Sin": {OpUnary, 7},
	"Sinh": {OpUnary, 9}, "Softplus": {OpUnary, 1}, "Softsign": {OpUnary, 1}, "Sqrt": {OpUnary, 1},
	"Swish": {OpUnary, 24}, "Tan": {OpUnary, 7}, "Tanh": {OpUnary, 1}, "ThresholdedRelu": {OpUnary, 10},

	// Element-wise with broadcasting.
	"Add": {OpBroadcast, 1}, "And": {OpBroadcast, 1}, "BitShift": {OpBroadcast, 11},
	"BitwiseAnd": {OpBroadcast, 18}, "BitwiseOr": {OpBroadcast, 18}, "BitwiseXor": {OpBroadcast, 18},
	"Div": {OpBroadcast, 1}, "Equal": {OpBroadcast, 1}, "Greater": {OpBroadcast, 1},
	"GreaterOrEqual": {OpBroadcast, 12}, "Less": {OpBroadcast, 1}, "LessOrEqual": {OpBroadcast, 12},
	"Max": {OpBroadcast, 1}, "Mean": {OpBroadcast, 1}, "Min": {OpBroadcast, 1}, "Mod": {OpBroadcast, 10},
	"Mul": {OpBroadcast, 1}, "Or": {OpBroadcast, 1}, "Pow": {OpBroadcast, 1}, "PRelu": {OpBroadcast, 1},
	"Sub": {OpBroadcast, 1}, "Sum": {OpBroadcast, 1}, "Where": {OpBroadcast, 9}, "Xor": {OpBroadcast, 1},

	// Same shape, elements mixed along axes.
	"CumSum": {OpNormalize, 11}, "Hardmax": {OpNormalize, 1}, "InstanceNormalization": {OpNormalize, 1},
	"LogSoftmax": {OpNormalize, 1}, "LpNormalization": {OpNormalize, 1}, "LRN": {OpNormalize, 1},
	"MeanVarianceNormalization": {OpNormalize, 9}, "Softmax": {OpNormalize, 1},

	// Pooling.
	"AveragePool": {OpPool, 1}, "LpPool": {OpPool, 2}, "MaxPool": {OpPool, 1},
	"GlobalAveragePool": {OpGlobalPool, 1}, "GlobalLpPool": {OpGlobalPool, 2}, "GlobalMaxPool": {OpGlobalPool, 1},

	// Reductions.
	"ReduceL1": {OpReduce, 1}, "ReduceL2": {OpReduce, 1}, "ReduceLogSum": {OpReduce, 1},
	"ReduceLogSumExp": {OpReduce, 1}, "ReduceMax": {OpReduce, 1}, "ReduceMean": {OpReduce, 1},
	"ReduceMin": {OpReduce, 1}, "ReduceProd": {OpReduce, 1}, "ReduceSum": {OpReduce, 1},
	"ReduceSumSquare": {OpReduce, 1},
}

// ClassOf returns the class of the default-domain operator op.
func ClassOf(op string) OpClass { return opTable[op].class }

// boolResult lists the element-wise operators whose output is bool whatever
// their inputs' type.
var boolResult = map[string]bool{
	"Equal": true, "Less": true, "Greater": true, "LessOrEqual": true, "GreaterOrEqual": true,
	"And": true, "Or": true, "Xor": true, "Not": true, "IsNaN": true, "IsInf": true,
}
