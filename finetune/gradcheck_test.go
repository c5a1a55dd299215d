package finetune

import (
	"math"
	"slices"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxpb"
	"github.com/onnx-adapt/onnx-adapt/models"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// gradCase is a small graph whose gradients are checked by finite
// differences through the engine, in float64.
type gradCase struct {
	name  string
	opset int64
	build func(b *gb)
	opts  Options
}

func conv(b *gb, x *onnxio.Value, name string, cin, cout, k int64, group int64, bias bool, attrs ...*onnxpb.AttributeProto) *onnxio.Value {
	w := b.init(name+".w", 0, 1/math.Sqrt(float64(cin/group*k*k)), cout, cin/group, k, k)
	ins := vals(x, w)
	if bias {
		ins = append(ins, b.init(name+".b", 0, 0.5, cout))
	}
	return b.node("Conv", ins, append(attrs, aInt("group", group))...)
}

func bn(b *gb, x *onnxio.Value, name string, c int64) *onnxio.Value {
	return b.node("BatchNormalization", vals(x,
		b.initU(name+".scale", 0.5, 1.5, c), b.init(name+".bias", 0, 0.3, c),
		b.init(name+".mean", 0, 0.3, c), b.initU(name+".var", 0.5, 2, c)), aFloat("epsilon", 1e-3))
}

// gradCases are the gradient checks, by kind of operator.
func gradCases() []gradCase {
	return slices.Concat(convGradCases(), bnGradCases(), unaryGradCases(), mixGradCases(), poolGradCases(), graphGradCases())
}

// convCase is one Conv on a 2×c×hw×hw input.
func convCase(name string, c, m, k, group int64, hw int64, bias bool, attrs ...*onnxpb.AttributeProto) gradCase {
	return gradCase{name: name, build: func(b *gb) {
		x := b.input("x", 2, c, hw, hw)
		b.output(conv(b, x, "c", c, m, k, group, bias, attrs...))
	}}
}

// unaryCase applies f to a 2×3×4×5 input.
func unaryCase(name string, opset int64, f func(b *gb, x *onnxio.Value) *onnxio.Value) gradCase {
	return gradCase{name: name, opset: opset, build: func(b *gb) {
		x := b.input("x", 2, 3, 4, 5)
		b.output(f(b, x))
	}}
}

// poolCase is one pooling op on a 2×3×hw×hw input.
func poolCase(name, op string, hw int64, attrs ...*onnxpb.AttributeProto) gradCase {
	return gradCase{name: name, build: func(b *gb) {
		x := b.input("x", 2, 3, hw, hw)
		b.output(b.node(op, vals(x), attrs...))
	}}
}

// convGradCases: convolutions, every padding and grouping form.
func convGradCases() []gradCase {
	return []gradCase{
		convCase("conv/3x3-bias", 3, 4, 3, 1, 6, true, aInts("pads", []int64{1, 1, 1, 1})),
		convCase("conv/3x3-nobias-valid", 3, 4, 3, 1, 6, false),
		convCase("conv/stride2-asym-pads", 3, 5, 3, 1, 7, true, aInts("strides", []int64{2, 2}), aInts("pads", []int64{0, 1, 2, 1})),
		convCase("conv/dilation2", 2, 3, 3, 1, 7, true, aInts("dilations", []int64{2, 2}), aInts("pads", []int64{2, 2, 2, 2})),
		convCase("conv/groups2", 4, 6, 3, 2, 5, true, aInts("pads", []int64{1, 1, 1, 1})),
		convCase("conv/depthwise3x3-s1", 4, 4, 3, 4, 6, false, aInts("pads", []int64{1, 1, 1, 1})),
		convCase("conv/depthwise3x3-s2", 4, 4, 3, 4, 7, true, aInts("strides", []int64{2, 2}), aInts("pads", []int64{1, 1, 1, 1})),
		convCase("conv/depthwise-multiplier2", 3, 6, 3, 3, 5, true, aInts("pads", []int64{1, 1, 1, 1})),
		convCase("conv/depthwise5x5-s2", 3, 3, 5, 3, 8, false, aInts("strides", []int64{2, 2}), aInts("pads", []int64{2, 2, 2, 2})),
		convCase("conv/pointwise", 5, 4, 1, 1, 4, true),
		convCase("conv/pointwise-stride2", 5, 4, 1, 1, 5, false, aInts("strides", []int64{2, 2})),
		convCase("conv/auto-same-upper", 3, 4, 3, 1, 6, false, aString("auto_pad", "SAME_UPPER"), aInts("strides", []int64{2, 2})),
		convCase("conv/auto-same-lower", 3, 4, 4, 1, 6, false, aString("auto_pad", "SAME_LOWER")),
		convCase("conv/auto-valid", 3, 4, 3, 1, 6, true, aString("auto_pad", "VALID"), aInts("kernel_shape", []int64{3, 3})),
		{name: "conv/1d", build: func(b *gb) {
			x := b.input("x", 2, 3, 9)
			w := b.init("w", 0, 0.5, 4, 3, 3)
			b.output(b.node("Conv", vals(x, w, b.init("b", 0, 0.5, 4)), aInts("strides", []int64{2}), aInts("pads", []int64{1, 0})))
		}},
	}
}

// bnGradCases: BatchNormalization, alone and fused with its activation.
func bnGradCases() []gradCase {
	return []gradCase{
		{name: "batchnorm/train", build: func(b *gb) {
			x := b.input("x", 3, 4, 3, 3)
			b.output(bn(b, x, "bn", 4))
		}},
		{name: "batchnorm/train-2d", build: func(b *gb) {
			x := b.input("x", 5, 4)
			b.output(bn(b, x, "bn", 4))
		}},
		{name: "batchnorm/frozen", opts: Options{FreezeBN: true}, build: func(b *gb) {
			x := b.input("x", 3, 4, 3, 3)
			b.output(bn(b, x, "bn", 4))
		}},
		{name: "batchnorm/relu", build: func(b *gb) {
			x := b.input("x", 3, 4, 3, 3)
			b.output(b.node("Relu", vals(bn(b, x, "bn", 4))))
		}},
		{name: "batchnorm/hardswish", build: func(b *gb) {
			x := b.input("x", 3, 4, 3, 3)
			b.output(b.node("HardSwish", vals(bn(b, b.node("Mul", vals(x, b.initVals("three", nil, []float32{3}))), "bn", 4))))
		}},
		{name: "batchnorm/frozen-relu6", opts: Options{FreezeBN: true}, build: func(b *gb) {
			x := b.input("x", 3, 4, 3, 3)
			b.output(b.node("Clip", vals(bn(b, x, "bn", 4), b.initVals("lo", nil, []float32{0}), b.initVals("hi", nil, []float32{1}))))
		}},
		// Planes larger than smallHW take the channel-by-channel path.
		{name: "batchnorm/relu-large-plane", build: func(b *gb) {
			x := b.input("x", 2, 3, 5, 6)
			b.output(b.node("Relu", vals(bn(b, x, "bn", 3))))
		}},
		{name: "batchnorm/hardswish-large-plane", build: func(b *gb) {
			x := b.input("x", 2, 3, 5, 6)
			b.output(b.node("HardSwish", vals(bn(b, b.node("Mul", vals(x, b.initVals("three", nil, []float32{3}))), "bn", 3))))
		}},
		{name: "batchnorm/frozen-relu6-large-plane", opts: Options{FreezeBN: true}, build: func(b *gb) {
			x := b.input("x", 2, 3, 5, 6)
			b.output(b.node("Clip", vals(bn(b, x, "bn", 3), b.initVals("lo", nil, []float32{0}), b.initVals("hi", nil, []float32{1}))))
		}},
		{name: "batchnorm/output-used-twice", build: func(b *gb) {
			x := b.input("x", 3, 4, 3, 3)
			y := bn(b, x, "bn", 4)
			b.output(b.node("Add", vals(b.node("Relu", vals(y)), y)))
		}},
		{name: "batchnorm/conv-bn-relu6", build: func(b *gb) {
			x := b.input("x", 3, 3, 5, 5)
			y := bn(b, conv(b, x, "c", 3, 4, 3, 1, false, aInts("pads", []int64{1, 1, 1, 1})), "bn", 4)
			b.output(b.node("Clip", vals(y, b.initVals("lo", nil, []float32{0}), b.initVals("hi", nil, []float32{6}))))
		}},
	}
}

// unaryGradCases: activations and element-wise ops with a constant.
func unaryGradCases() []gradCase {
	return []gradCase{
		unaryCase("relu", 17, func(b *gb, x *onnxio.Value) *onnxio.Value { return b.node("Relu", vals(x)) }),
		unaryCase("sigmoid", 17, func(b *gb, x *onnxio.Value) *onnxio.Value { return b.node("Sigmoid", vals(x)) }),
		unaryCase("hardsigmoid/default", 17, func(b *gb, x *onnxio.Value) *onnxio.Value { return b.node("HardSigmoid", vals(x)) }),
		unaryCase("hardsigmoid/torch", 17, func(b *gb, x *onnxio.Value) *onnxio.Value {
			return b.node("HardSigmoid", vals(x), aFloat("alpha", 1.0/6), aFloat("beta", 0.5))
		}),
		unaryCase("hardswish", 17, func(b *gb, x *onnxio.Value) *onnxio.Value {
			return b.node("HardSwish", vals(b.node("Mul", vals(x, b.initVals("three", nil, []float32{3})))))
		}),
		unaryCase("clip/attrs-opset9", 9, func(b *gb, x *onnxio.Value) *onnxio.Value {
			return b.node("Clip", vals(x), aFloat("min", -0.5), aFloat("max", 0.7))
		}),
		unaryCase("clip/inputs", 13, func(b *gb, x *onnxio.Value) *onnxio.Value {
			return b.node("Clip", vals(x, b.initVals("lo", nil, []float32{-0.5}), b.initVals("hi", nil, []float32{0.7})))
		}),
		unaryCase("clip/min-only", 13, func(b *gb, x *onnxio.Value) *onnxio.Value {
			return b.node("Clip", vals(x, b.initVals("lo", nil, []float32{-0.2})))
		}),
		unaryCase("clip/constant-node-bounds", 13, func(b *gb, x *onnxio.Value) *onnxio.Value {
			lo := b.node("Constant", nil, &onnxpb.AttributeProto{Name: ptr("value_float"), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: ptr(float32(0))})
			hi := b.node("Constant", nil, &onnxpb.AttributeProto{Name: ptr("value_float"), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: ptr(float32(0.6))})
			return b.node("Clip", vals(x, lo, hi))
		}),
		unaryCase("sub-div-by-constant", 17, func(b *gb, x *onnxio.Value) *onnxio.Value {
			y := b.node("Sub", vals(x, b.init("s", 0, 1, 5)))
			return b.node("Div", vals(y, b.initU("d", 1, 2, 4, 1)))
		}),
		unaryCase("mul-by-constant", 17, func(b *gb, x *onnxio.Value) *onnxio.Value {
			return b.node("Mul", vals(b.init("k", 0, 1, 3, 1, 1), x))
		}),
	}
}

// mixGradCases: Add and Mul of activations, and gradients that accumulate.
func mixGradCases() []gradCase {
	return []gradCase{
		{name: "add/residual-accumulate", build: func(b *gb) {
			x := b.input("x", 2, 3, 5, 5)
			y := b.node("Relu", vals(conv(b, x, "c1", 3, 4, 3, 1, true, aInts("pads", []int64{1, 1, 1, 1}))))
			z := conv(b, y, "c2", 4, 4, 1, 1, false)
			b.output(b.node("Add", vals(y, z)))
		}},
		{name: "shared-weight-accumulates", build: func(b *gb) {
			x := b.input("x", 2, 3, 5, 5)
			w := b.init("w", 0, 0.3, 3, 3, 3, 3)
			pads := aInts("pads", []int64{1, 1, 1, 1})
			y := b.node("Relu", vals(b.node("Conv", vals(x, w), pads)))
			b.output(b.node("Conv", vals(y, w), pads))
		}},
		{name: "add/same-value-twice", build: func(b *gb) {
			x := b.input("x", 2, 3, 4)
			y := b.node("Sigmoid", vals(x))
			b.output(b.node("Add", vals(y, y)))
		}},
		{name: "add/broadcast-activations", build: func(b *gb) {
			x := b.input("x", 2, 3, 4, 4)
			g := b.node("GlobalAveragePool", vals(b.node("Sigmoid", vals(x))))
			b.output(b.node("Add", vals(g, x)))
		}},
		{name: "mul/squeeze-excite", build: func(b *gb) {
			x := b.input("x", 2, 4, 5, 5)
			y := b.node("Relu", vals(conv(b, x, "c", 4, 4, 3, 4, false, aInts("pads", []int64{1, 1, 1, 1}))))
			s := b.node("GlobalAveragePool", vals(y))
			s = b.node("Relu", vals(conv(b, s, "fc1", 4, 2, 1, 1, true)))
			s = b.node("HardSigmoid", vals(conv(b, s, "fc2", 2, 4, 1, 1, true)), aFloat("alpha", 1.0/6))
			b.output(b.node("Mul", vals(y, s)))
		}},
		{name: "mul/same-value-twice", build: func(b *gb) {
			x := b.input("x", 2, 3, 4)
			y := b.node("Sigmoid", vals(x))
			b.output(b.node("Mul", vals(y, y)))
		}},
	}
}

// poolGradCases: pooling.
func poolGradCases() []gradCase {
	return []gradCase{
		poolCase("globalaveragepool", "GlobalAveragePool", 5),
		poolCase("averagepool/3x3-s2-pads", "AveragePool", 7, aInts("kernel_shape", []int64{3, 3}), aInts("strides", []int64{2, 2}), aInts("pads", []int64{1, 1, 1, 1})),
		poolCase("averagepool/count-include-pad", "AveragePool", 6, aInts("kernel_shape", []int64{3, 3}), aInts("pads", []int64{1, 0, 1, 2}), aInt("count_include_pad", 1)),
		poolCase("averagepool/ceil", "AveragePool", 6, aInts("kernel_shape", []int64{3, 3}), aInts("strides", []int64{2, 2}), aInt("ceil_mode", 1)),
		poolCase("averagepool/same-upper", "AveragePool", 5, aInts("kernel_shape", []int64{2, 2}), aInts("strides", []int64{2, 2}), aString("auto_pad", "SAME_UPPER")),
		{name: "averagepool/1d", build: func(b *gb) {
			x := b.input("x", 2, 3, 8)
			b.output(b.node("AveragePool", vals(x), aInts("kernel_shape", []int64{3}), aInts("strides", []int64{2}), aInts("pads", []int64{1, 1})))
		}},
		poolCase("maxpool/2x2", "MaxPool", 6, aInts("kernel_shape", []int64{2, 2}), aInts("strides", []int64{2, 2})),
		poolCase("maxpool/3x3-s2-pads", "MaxPool", 7, aInts("kernel_shape", []int64{3, 3}), aInts("strides", []int64{2, 2}), aInts("pads", []int64{1, 1, 1, 1})),
		poolCase("maxpool/dilations", "MaxPool", 7, aInts("kernel_shape", []int64{2, 2}), aInts("dilations", []int64{2, 2})),
		poolCase("maxpool/ceil", "MaxPool", 6, aInts("kernel_shape", []int64{3, 3}), aInts("strides", []int64{2, 2}), aInt("ceil_mode", 1)),
		poolCase("maxpool/same-lower", "MaxPool", 5, aInts("kernel_shape", []int64{3, 3}), aInts("strides", []int64{2, 2}), aString("auto_pad", "SAME_LOWER")),
	}
}

// graphGradCases: Gemm, MatMul, views, Dropout, Concat, Pad, Softmax and a whole block.
func graphGradCases() []gradCase {
	return []gradCase{
		{name: "flatten-gemm/transB-bias", build: func(b *gb) {
			x := b.input("x", 3, 2, 3, 3)
			f := b.node("Flatten", vals(x), aInt("axis", 1))
			b.output(b.node("Gemm", vals(f, b.init("w", 0, 0.3, 5, 18), b.init("b", 0, 0.3, 5)), aInt("transB", 1)))
		}},
		{name: "gemm/transA-alpha-beta-rowbias", build: func(b *gb) {
			x := b.input("x", 4, 3)
			b.output(b.node("Gemm", vals(x, b.init("w", 0, 0.3, 4, 5), b.init("b", 0, 0.3, 1, 5)),
				aInt("transA", 1), aFloat("alpha", 0.7), aFloat("beta", 1.3)))
		}},
		{name: "gemm/scalar-bias-no-trans", build: func(b *gb) {
			x := b.input("x", 3, 4)
			b.output(b.node("Gemm", vals(x, b.init("w", 0, 0.3, 4, 2), b.init("b", 0, 0.3, 1))))
		}},
		{name: "gemm/column-bias", build: func(b *gb) {
			x := b.input("x", 3, 4)
			b.output(b.node("Gemm", vals(x, b.init("w", 0, 0.3, 2, 4), b.init("b", 0, 0.3, 3, 1)), aInt("transB", 1)))
		}},
		{name: "reshape-chain-matmul-add", build: func(b *gb) {
			// torch's Flatten as Shape→Gather→Unsqueeze→Concat→Reshape,
			// then tf2onnx's Dense as MatMul + Add.
			x := b.input("x", 3, 4, 2, 2)
			gp := b.node("GlobalAveragePool", vals(x))
			sh := b.node("Shape", vals(gp))
			n0 := b.node("Gather", vals(sh, b.g.AddInitializer("zero", must(onnxio.NewInt64Tensor(nil, []int64{0})))), aInt("axis", 0))
			u := b.node("Unsqueeze", vals(n0, b.initInts("axes", 0)))
			target := b.node("Concat", vals(u, b.initInts("minus1", -1)), aInt("axis", 0))
			r := b.node("Reshape", vals(gp, target))
			mm := b.node("MatMul", vals(r, b.init("w", 0, 0.4, 4, 3)))
			b.output(b.node("Add", vals(mm, b.init("bias", 0, 0.3, 3))))
		}},
		{name: "squeeze-unsqueeze-identity", build: func(b *gb) {
			x := b.input("x", 2, 3, 1, 1)
			s := b.node("Squeeze", vals(x, b.initInts("ax", 2, 3)))
			s = b.node("Identity", vals(b.node("Sigmoid", vals(s))))
			b.output(b.node("Unsqueeze", vals(s, b.initInts("ax2", 1))))
		}},
		{name: "dropout/train", build: func(b *gb) {
			x := b.input("x", 4, 6)
			y := b.node("Dropout", vals(x, b.initVals("ratio", nil, []float32{0.3})))
			b.output(b.node("Gemm", vals(y, b.init("w", 0, 0.3, 6, 3))))
		}},
		{name: "concat-transpose", build: func(b *gb) {
			x := b.input("x", 2, 3, 4, 4)
			y := b.node("Transpose", vals(x), aInts("perm", []int64{0, 2, 3, 1}))
			y = b.node("Transpose", vals(b.node("Sigmoid", vals(y))), aInts("perm", []int64{0, 3, 1, 2}))
			c := conv(b, x, "c", 3, 2, 3, 1, true, aInts("pads", []int64{1, 1, 1, 1}))
			b.output(b.node("Concat", vals(y, c, x), aInt("axis", 1)))
		}},
		{name: "pad-constant", build: func(b *gb) {
			x := b.input("x", 2, 3, 4, 4)
			p := b.node("Pad", vals(x, b.initInts("pads", 0, 0, 1, 2, 0, 0, 2, 1), b.initVals("v", nil, []float32{0.5})))
			b.output(b.node("AveragePool", vals(p), aInts("kernel_shape", []int64{2, 2}), aInts("strides", []int64{2, 2})))
		}},
		{name: "pad-attr-opset9", opset: 9, build: func(b *gb) {
			x := b.input("x", 2, 3, 4)
			b.output(b.node("Sigmoid", vals(b.node("Pad", vals(x), aInts("pads", []int64{0, 1, 2, 1, 0, 3})))))
		}},
		{name: "softmax-head-stripped", build: func(b *gb) {
			x := b.input("x", 3, 4)
			l := b.node("Gemm", vals(x, b.init("w", 0, 0.3, 4, 5), b.init("b", 0, 0.3, 5)))
			b.output(b.node("Softmax", vals(l), aInt("axis", 1)))
		}},
		{name: "mini-mobilenet-block", build: func(b *gb) {
			x := b.input("x", 3, 4, 6, 6)
			h := b.node("Clip", vals(bn(b, conv(b, x, "e", 4, 8, 1, 1, false), "bn1", 8), b.initVals("z", nil, []float32{0}), b.initVals("six", nil, []float32{6})))
			h = b.node("Clip", vals(bn(b, conv(b, h, "d", 8, 8, 3, 8, false, aInts("pads", []int64{1, 1, 1, 1})), "bn2", 8), b.g.Value("z"), b.g.Value("six")))
			h = bn(b, conv(b, h, "p", 8, 4, 1, 1, false), "bn3", 4)
			h = b.node("Add", vals(x, h))
			f := b.node("Flatten", vals(b.node("GlobalAveragePool", vals(h))))
			b.output(b.node("Gemm", vals(f, b.init("fc.w", 0, 0.3, 3, 4), b.init("fc.b", 0, 0.1, 3)), aInt("transB", 1)))
		}},
	}
}

func ptr[V any](v V) *V { return &v }

func must[V any](v V, err error) V {
	if err != nil {
		panic(err)
	}
	return v
}

// TestGradients checks every op's gradients through the engine against
// central differences in float64, for the parameters and the input.
func TestGradients(t *testing.T) {
	for _, tc := range gradCases() {
		for _, fuse := range []bool{true, false} {
			name := tc.name
			if !fuse {
				name += "/unfused"
			}
			tc := tc
			tc.opts.NoFusion = !fuse
			testGradCase(t, name, tc)
		}
	}
}

func testGradCase(t *testing.T, name string, tc gradCase) {
	{
		t.Run(name, func(t *testing.T) {
			opset := tc.opset
			if opset == 0 {
				opset = 17
			}
			b := newGB(opset, 7)
			tc.build(b)
			o := tc.opts
			o.Train, o.InputGrad = true, true
			e := mustCompile[float64](t, b.m, o)
			r := newRNG(11)
			for i := range e.inputs {
				fill64(r, e.Input(i))
			}
			proj := make([]float64, len(e.Logits()))
			fill64(r, proj)
			loss := func() float64 {
				e.calls = 0 // the same Dropout mask every time
				e.Forward(true)
				s := 0.0
				for i, v := range e.Logits() {
					s += proj[i] * v
				}
				return s
			}
			loss()
			copy(e.LogitsGrad(), proj)
			e.Backward()
			type target struct {
				name string
				x    []float64
				grad []float64
			}
			var targets []target
			for _, p := range e.Params() {
				targets = append(targets, target{p.Name, p.Data, slices.Clone(p.Grad)})
			}
			for i, name := range e.Inputs() {
				targets = append(targets, target{name, e.Input(i), slices.Clone(e.InputGrad(i))})
			}
			if len(targets) == 0 {
				t.Fatal("nothing to check")
			}
			worst := 0.0
			for _, tg := range targets {
				num := make([]float64, len(tg.x))
				for i := range tg.x {
					v := tg.x[i]
					tg.x[i] = v + fdStep
					lp := loss()
					tg.x[i] = v - fdStep
					lm := loss()
					tg.x[i] = v
					num[i] = (lp - lm) / (2 * fdStep)
				}
				err := relErr(tg.grad, num)
				worst = math.Max(worst, err)
				if !(err <= gradTol) {
					t.Errorf("d/d%s: ∞-norm relative error %.3g > %g (|num|∞ = %.3g)", tg.name, err, gradTol, infNorm(num))
				}
				if infNorm(num) == 0 {
					t.Errorf("d/d%s: gradient is identically zero; the case checks nothing", tg.name)
				}
			}
			t.Logf("%d tensors, max ∞-norm relative error %.2e", len(targets), worst)
		})
	}
}

// TestFusionMatchesUnfused: a training step of whole models gives the same
// gradients and running statistics with BatchNormalization+activation
// fused as with the two run apart (float64).
func TestFusionMatchesUnfused(t *testing.T) {
	for _, name := range []string{"mobilenetv2", "mobilenetv3-small", "resnet"} {
		t.Run(name, func(t *testing.T) {
			m, err := models.Build(name, models.Config{Width: 0.35, Resolution: 32, Classes: 10})
			if err != nil {
				t.Fatal(err)
			}
			var grads [2][][]float64
			var stats [2][][]float64
			for i, nofuse := range []bool{false, true} {
				e := mustCompile[float64](t, m, Options{Batch: 4, Train: true, NoFusion: nofuse})
				fused := 0
				for _, st := range e.steps {
					if _, ok := st.(*bnActStep[float64]); ok {
						fused++
					}
				}
				if (fused > 0) == nofuse {
					t.Fatalf("NoFusion %v: %d fused steps", nofuse, fused)
				}
				r := newRNG(8)
				fill64(r, e.Input(0))
				e.Forward(true)
				fill64(r, e.LogitsGrad())
				e.Backward()
				for _, p := range e.Params() {
					grads[i] = append(grads[i], slices.Clone(p.Grad))
				}
				for _, b := range e.buffers {
					stats[i] = append(stats[i], slices.Clone(b.data))
				}
			}
			if len(grads[0]) != len(grads[1]) || len(stats[0]) != len(stats[1]) || len(stats[0]) == 0 {
				t.Fatalf("%d/%d parameters, %d/%d buffers", len(grads[0]), len(grads[1]), len(stats[0]), len(stats[1]))
			}
			worst := 0.0
			for i := range grads[0] {
				worst = math.Max(worst, relErr(grads[0][i], grads[1][i]))
			}
			for i := range stats[0] {
				worst = math.Max(worst, relErr(stats[0][i], stats[1][i]))
			}
			t.Logf("max relative difference %.2e", worst)
			if !(worst < 1e-9) {
				t.Errorf("fused and unfused differ by %.3g", worst)
			}
		})
	}
}
