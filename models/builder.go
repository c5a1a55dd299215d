package models

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxpb"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// feat is a feature map flowing through a model under construction: its
// value, channel count and spatial size (NCHW), and m2, the expected mean
// square of its elements when the model's input is standard normal, as
// propagated by moments (see drawBN).
type feat struct {
	v       *onnxio.Value
	c, h, w int64
	m2      float64
}

// actKind is an activation function.
type actKind int

const (
	actNone actKind = iota
	actReLU
	actReLU6
	actHardSwish
	actHardSigmoid
)

// builder emits one model. Every helper draws its random numbers in a fixed
// order that does not depend on BN mode, style or opset, so those options
// never change the function computed (see the package documentation).
type builder struct {
	cfg   Config
	eps   float64 // BatchNormalization epsilon
	m     *onnxio.Model
	g     *onnxio.Graph
	rng   *rand.Rand
	err   error          // the first error; reported by finish
	names map[string]int // node names used, for torch-style _1, _2 suffixes

	clipLo, clipHi *onnxio.Value // shared Clip bounds (tf2onnx style, opset ≥ 11)
}

// newBuilder checks cfg, creates the model and its input, and returns the
// NCHW feature map the network starts from.
func newBuilder(cfg Config, eps float64) (*builder, feat, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, feat{}, err
	}
	b := &builder{
		cfg:   cfg,
		eps:   eps,
		m:     onnxio.NewModel(cfg.Opset),
		rng:   rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6f6e6e782d616470)),
		names: map[string]int{},
	}
	b.g = b.m.Graph
	batch := onnxio.Dim{Value: cfg.Batch}
	if cfg.Batch == 0 {
		batch = onnxio.Dim{Value: -1, Param: "N"}
	}
	r, c := int64(cfg.Resolution), int64(cfg.InChannels)
	if cfg.Style == StyleTF2ONNX {
		b.g.Name = "tf2onnx"
		x := b.g.NewValue("input_1")
		x.Type = onnxio.Type{Elem: onnxio.Float, Shape: onnxio.Shape{batch, {Value: r}, {Value: r}, {Value: c}}, HasShape: true}
		b.g.Inputs = append(b.g.Inputs, x)
		t := b.node("Transpose", "", "", []*onnxio.Value{x}, onnxio.AttrInts("perm", []int64{0, 3, 1, 2}))
		return b, feat{t, c, r, r, 1}, nil
	}
	b.g.Name = "torch_jit"
	x := b.g.NewValue("input")
	x.Type = onnxio.Type{Elem: onnxio.Float, Shape: onnxio.Shape{batch, {Value: c}, {Value: r}, {Value: r}}, HasShape: true}
	b.g.Inputs = append(b.g.Inputs, x)
	return b, feat{x, c, r, r, 1}, nil
}

func (b *builder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

func (b *builder) torch() bool { return b.cfg.Style == StyleTorch }

// nodeName names a node the way its exporter would: torch.onnx (1.13+)
// nests module scopes ("/features/features.3/conv/conv.0/conv.0.0/Conv"),
// tf2onnx uses the Keras layer path. Repeats get _1, _2 suffixes.
func (b *builder) nodeName(path, op string) string {
	var sb strings.Builder
	if b.torch() {
		// A child module's scope is its attribute name, or, for an index
		// into a Sequential, the parent's scope + "." + index:
		// features.3.conv.0.0 → /features/features.3/conv/conv.0/conv.0.0.
		scope := ""
		for part := range strings.SplitSeq(path, ".") {
			if part == "" {
				continue
			}
			if part[0] >= '0' && part[0] <= '9' && scope != "" {
				scope += "." + part
			} else {
				scope = part
			}
			sb.WriteString("/")
			sb.WriteString(scope)
		}
		sb.WriteString("/")
		sb.WriteString(op)
	} else {
		sb.WriteString("StatefulPartitionedCall/model/")
		if path != "" {
			sb.WriteString(strings.ReplaceAll(path, ".", "/"))
			sb.WriteString("/")
		}
		sb.WriteString(op)
	}
	name := sb.String()
	k := b.names[name]
	b.names[name]++
	if k > 0 {
		name = fmt.Sprintf("%s_%d", name, k)
	}
	return name
}

// node appends a node with one output and returns that output. out names
// the output; "" derives it from the node's name as the exporter does.
func (b *builder) node(op, path, out string, inputs []*onnxio.Value, attrs ...*onnxpb.AttributeProto) *onnxio.Value {
	name := b.nodeName(path, op)
	if out == "" {
		if b.torch() {
			out = name + "_output_0"
		} else {
			out = name + ":0"
		}
	}
	return b.g.AddNode(op, name, inputs, []string{out}, attrs...).Output(0)
}

// floatInit adds a float32 initializer.
func (b *builder) floatInit(name string, dims []int64, data []float64) *onnxio.Value {
	f := make([]float32, len(data))
	for i, x := range data {
		f[i] = float32(x)
	}
	t, err := onnxio.NewFloat32Tensor(dims, f)
	if err != nil {
		b.fail(fmt.Errorf("models: initializer %s: %w", name, err))
		t, _ = onnxio.NewFloat32Tensor([]int64{}, []float32{0})
	}
	return b.g.AddInitializer(name, t)
}

// int64Const is an int64 constant: a Constant node in torch style (as
// torch.onnx emits for shape arithmetic), an initializer in tf2onnx style.
func (b *builder) int64Const(path, name string, dims, data []int64) *onnxio.Value {
	t, err := onnxio.NewInt64Tensor(dims, data)
	if err != nil {
		b.fail(fmt.Errorf("models: constant %s: %w", name, err))
		t, _ = onnxio.NewInt64Tensor([]int64{}, []int64{0})
	}
	if b.torch() {
		return b.node("Constant", path, "", nil, onnxio.AttrTensor("value", t))
	}
	return b.g.AddInitializer(name, t)
}

// normal draws n values from N(0, std²).
func (b *builder) normal(n int64, std float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = b.rng.NormFloat64() * std
	}
	return out
}

// uniform draws n values from [lo, hi).
func (b *builder) uniform(n int64, lo, hi float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = lo + (hi-lo)*b.rng.Float64()
	}
	return out
}

// bnParams are a BatchNormalization's scale, bias and running statistics.
type bnParams struct{ gamma, beta, mean, variance []float64 }

// bnVarianceNorm is E[γ²]·E[e^−u] for γ ~ U[0.5, 1.5), u ~ U[−1, 1): the
// factor that makes E[γ²/var] = 1/m2 below.
var bnVarianceNorm = 13.0 / 12 * math.Sinh(1)

// drawBN draws the parameters of a BatchNormalization whose input has mean
// square m2: γ ∈ [0.5, 1.5), β ~ N(0, 0.1²), running mean ~ N(0, 0.1²·m2)
// and running variance m2·k·e^u, u ∈ [−1, 1), with k = bnVarianceNorm.
//
// A trained network's running variance is its input's variance; here it is
// that of the moment-propagated input, spread log-uniformly over a factor
// e² per channel. With statistics that ignore the input's scale, the
// expected gain E[γ²/var] of each BN is not 1, and over the 50 layers of a
// MobileNet the activations grow by orders of magnitude until rounding
// differences between equivalent graphs exceed any tolerance. With this
// choice each BN's output has mean square ≈ 1 on average, while the per-
// channel scales γ/√var still vary over a factor of ~8.
func (b *builder) drawBN(c int64, m2 float64) bnParams {
	p := bnParams{
		gamma: b.uniform(c, 0.5, 1.5),
		beta:  b.normal(c, 0.1),
		mean:  b.normal(c, 0.1*math.Sqrt(m2)),
	}
	p.variance = b.uniform(c, -1, 1)
	for i, x := range p.variance {
		p.variance[i] = m2 * bnVarianceNorm * math.Exp(x)
	}
	return p
}

// bnOutM2 is the mean square of BN's output for a zero-mean input of mean
// square m2, averaged over channels.
func bnOutM2(p bnParams, m2, eps float64) float64 {
	var s float64
	for c := range p.gamma {
		s += p.gamma[c]*p.gamma[c]*(m2+p.mean[c]*p.mean[c])/(p.variance[c]+eps) + p.beta[c]*p.beta[c]
	}
	return s / float64(len(p.gamma))
}

// linearM2 is the mean square of the outputs of a conv or fully connected
// layer with weights w (cout rows) and bias (may be nil) whose inputs are
// uncorrelated with mean square m2: mean over rows of Σw²·m2 + b².
func linearM2(w, bias []float64, cout int64, m2 float64) float64 {
	var sw, sb float64
	for _, x := range w {
		sw += x * x
	}
	for _, x := range bias {
		sb += x * x
	}
	return (sw*m2 + sb) / float64(cout)
}

// gaussM2 is E[f(x)²] for x ~ N(0, m2), by the midpoint rule over ±8σ.
func gaussM2(f func(float64) float64, m2 float64) float64 {
	const n = 800
	sigma := math.Sqrt(m2)
	if sigma == 0 {
		return f(0) * f(0)
	}
	var s float64
	h := 16.0 / n
	for i := range n {
		z := -8 + (float64(i)+0.5)*h
		y := f(z * sigma)
		s += y * y * math.Exp(-z*z/2)
	}
	return s * h / math.Sqrt(2*math.Pi)
}

// drawConv draws He-normal weights for a conv with cin/group input channels
// per group.
func (b *builder) drawConv(cout, cinPerGroup, k int64) []float64 {
	fanIn := cinPerGroup * k * k
	return b.normal(cout*cinPerGroup*k*k, math.Sqrt(2/float64(fanIn)))
}

const biasStd = 0.05

// pads returns a layer's ONNX pads [top, left, bottom, right]: torch's
// symmetric p, or, in tf2onnx style, Keras "same" padding (the extra row
// and column go bottom/right) for layers torch pads.
func (b *builder) pads(x feat, k, stride, p int64) []int64 {
	if b.torch() || p == 0 {
		return []int64{p, p, p, p}
	}
	same := func(n int64) (lo, hi int64) {
		out := (n + stride - 1) / stride
		total := max((out-1)*stride+k-n, 0)
		return total / 2, total - total/2
	}
	t, bo := same(x.h)
	l, r := same(x.w)
	return []int64{t, l, bo, r}
}

// outSize is the spatial size after a window of k with stride and pads.
func outSize(n, k, stride, lo, hi int64) int64 { return (n+lo+hi-k)/stride + 1 }

// emitConv adds a Conv node with the given weights (and bias, if not nil).
func (b *builder) emitConv(path string, x feat, cout, k, stride, group int64, w, bias []float64) feat {
	pads := b.pads(x, k, stride, (k-1)/2)
	inputs := []*onnxio.Value{x.v, b.floatInit(path+".weight", []int64{cout, x.c / group, k, k}, w)}
	if bias != nil {
		inputs = append(inputs, b.floatInit(path+".bias", []int64{cout}, bias))
	}
	if x.c%group != 0 || cout%group != 0 {
		b.fail(fmt.Errorf("models: %s: %d→%d channels do not divide into %d groups", path, x.c, cout, group))
	}
	v := b.node("Conv", path, "", inputs,
		onnxio.AttrInts("dilations", []int64{1, 1}),
		onnxio.AttrInt("group", group),
		onnxio.AttrInts("kernel_shape", []int64{k, k}),
		onnxio.AttrInts("pads", pads),
		onnxio.AttrInts("strides", []int64{stride, stride}))
	return feat{v, cout, outSize(x.h, k, stride, pads[0], pads[2]), outSize(x.w, k, stride, pads[1], pads[3]),
		linearM2(w, bias, cout, x.m2)}
}

// emitBN adds a BatchNormalization node (inference mode).
func (b *builder) emitBN(path string, x feat, p bnParams) feat {
	d := []int64{x.c}
	v := b.node("BatchNormalization", path, "", []*onnxio.Value{
		x.v,
		b.floatInit(path+".weight", d, p.gamma),
		b.floatInit(path+".bias", d, p.beta),
		b.floatInit(path+".running_mean", d, p.mean),
		b.floatInit(path+".running_var", d, p.variance),
	}, onnxio.AttrFloat("epsilon", float32(b.eps)), onnxio.AttrFloat("momentum", 0.9))
	return feat{v, x.c, x.h, x.w, bnOutM2(p, x.m2, b.eps)}
}

// convBN is a bias-free Conv followed by BatchNormalization: two nodes when
// BN is kept, one Conv with folded weights and bias otherwise.
func (b *builder) convBN(convPath, bnPath string, x feat, cout, k, stride, group int64) feat {
	w := b.drawConv(cout, x.c/group, k)
	m2 := linearM2(w, nil, cout, x.m2)
	p := b.drawBN(cout, m2)
	if b.cfg.BN == BNKept {
		return b.emitBN(bnPath, b.emitConv(convPath, x, cout, k, stride, group, w, nil), p)
	}
	wf, bf := foldBN(w, p, b.eps)
	y := b.emitConv(convPath, x, cout, k, stride, group, wf, bf)
	y.m2 = bnOutM2(p, m2, b.eps) // as the kept graph's, whatever rounding
	return y
}

// foldBN folds BN parameters into the weights (cout rows) of the conv
// before it: W' = W·γ/√(var+ε), b' = β − mean·γ/√(var+ε).
func foldBN(w []float64, p bnParams, eps float64) (wf, bias []float64) {
	cout := len(p.gamma)
	per := len(w) / cout
	wf = make([]float64, len(w))
	bias = make([]float64, cout)
	for o := range cout {
		s := p.gamma[o] / math.Sqrt(p.variance[o]+eps)
		for i := range per {
			wf[o*per+i] = w[o*per+i] * s
		}
		bias[o] = p.beta[o] - p.mean[o]*s
	}
	return wf, bias
}

// convBias is a Conv with a bias and no BN (squeeze-excite's 1×1 convs).
func (b *builder) convBias(path string, x feat, cout, k, stride, group int64) feat {
	w := b.drawConv(cout, x.c/group, k)
	bias := b.normal(cout, biasStd)
	return b.emitConv(path, x, cout, k, stride, group, w, bias)
}

// bn is a BatchNormalization that follows no conv (DenseNet's
// pre-activation BN). It stays a node in both BN modes, as it does in real
// exports: there is no conv to fold it into.
func (b *builder) bn(path string, x feat) feat {
	return b.emitBN(path, x, b.drawBN(x.c, x.m2))
}

// convBNAct is torchvision's Conv2dNormActivation: path.0 conv, path.1 BN,
// path.2 activation.
func (b *builder) convBNAct(path string, x feat, cout, k, stride, group int64, a actKind) feat {
	y := b.convBN(path+".0", path+".1", x, cout, k, stride, group)
	return b.act(path+".2", a, y)
}

// act applies an activation. ReLU6 is Clip(0, 6); hard-swish is HardSwish
// from opset 14 and x·HardSigmoid(x) before, as torch.onnx exports it.
func (b *builder) act(path string, a actKind, x feat) feat {
	if f := actFuncs[a]; f != nil {
		x.m2 = gaussM2(f, x.m2)
	}
	switch a {
	case actNone:
		return x
	case actReLU:
		x.v = b.node("Relu", path, "", []*onnxio.Value{x.v})
	case actReLU6:
		x.v = b.clip(path, x.v, 0, 6)
	case actHardSigmoid:
		x.v = b.hardSigmoid(path, x.v)
	case actHardSwish:
		if b.cfg.Opset >= 14 {
			x.v = b.node("HardSwish", path, "", []*onnxio.Value{x.v})
		} else {
			hs := b.hardSigmoid(path, x.v)
			x.v = b.node("Mul", path, "", []*onnxio.Value{x.v, hs})
		}
	default:
		b.fail(fmt.Errorf("models: unknown activation %d", a))
	}
	return x
}

func hardSigmoid(x float64) float64 { return min(max(x/6+0.5, 0), 1) }

// actFuncs are the activations as functions, for moment propagation.
var actFuncs = map[actKind]func(float64) float64{
	actReLU:        func(x float64) float64 { return max(x, 0) },
	actReLU6:       func(x float64) float64 { return min(max(x, 0), 6) },
	actHardSigmoid: hardSigmoid,
	actHardSwish:   func(x float64) float64 { return x * hardSigmoid(x) },
}

// hardSigmoid is torch's hardsigmoid, relu6(x+3)/6 = HardSigmoid(α=1/6, β=0.5).
func (b *builder) hardSigmoid(path string, x *onnxio.Value) *onnxio.Value {
	return b.node("HardSigmoid", path, "", []*onnxio.Value{x},
		onnxio.AttrFloat("alpha", float32(1.0/6)), onnxio.AttrFloat("beta", 0.5))
}

// clip is Clip(x, lo, hi): attributes below opset 11; from 11, scalar
// inputs, as Constant nodes per Clip in torch style (what torch.onnx
// emits) and shared initializers in tf2onnx style.
func (b *builder) clip(path string, x *onnxio.Value, lo, hi float32) *onnxio.Value {
	if b.cfg.Opset < 11 {
		return b.node("Clip", path, "", []*onnxio.Value{x}, onnxio.AttrFloat("min", lo), onnxio.AttrFloat("max", hi))
	}
	scalar := func(v float32) *onnxio.Tensor {
		t, err := onnxio.NewFloat32Tensor([]int64{}, []float32{v})
		if err != nil {
			b.fail(err)
		}
		return t
	}
	var vlo, vhi *onnxio.Value
	if b.torch() {
		vlo = b.node("Constant", path, "", nil, onnxio.AttrTensor("value", scalar(lo)))
		vhi = b.node("Constant", path, "", nil, onnxio.AttrTensor("value", scalar(hi)))
	} else {
		if b.clipLo == nil {
			b.clipLo = b.g.AddInitializer("const_fold_opt__clip_min", scalar(lo))
			b.clipHi = b.g.AddInitializer("const_fold_opt__clip_max", scalar(hi))
		}
		vlo, vhi = b.clipLo, b.clipHi
	}
	return b.node("Clip", path, "", []*onnxio.Value{x, vlo, vhi})
}

// add is a residual Add.
func (b *builder) add(path string, x, y feat) feat {
	x.v = b.node("Add", path, "", []*onnxio.Value{x.v, y.v})
	x.m2 += y.m2
	return x
}

// scale is squeeze-excite's scale·x, with scale [N, C, 1, 1] first as in
// torchvision.
func (b *builder) scale(path string, s, x feat) feat {
	x.v = b.node("Mul", path, "", []*onnxio.Value{s.v, x.v})
	x.m2 *= s.m2
	return x
}

// concat joins feature maps on channels.
func (b *builder) concat(path string, xs ...feat) feat {
	out := xs[0]
	vs := []*onnxio.Value{xs[0].v}
	sum := xs[0].m2 * float64(xs[0].c)
	for _, x := range xs[1:] {
		out.c += x.c
		vs = append(vs, x.v)
		sum += x.m2 * float64(x.c)
	}
	out.m2 = sum / float64(out.c)
	out.v = b.node("Concat", path, "", vs, onnxio.AttrInt("axis", 1))
	return out
}

// maxPool is MaxPool(k, stride, torch padding p).
func (b *builder) maxPool(path string, x feat, k, stride, p int64) feat {
	pads := b.pads(x, k, stride, p)
	v := b.node("MaxPool", path, "", []*onnxio.Value{x.v},
		onnxio.AttrInts("kernel_shape", []int64{k, k}),
		onnxio.AttrInts("pads", pads),
		onnxio.AttrInts("strides", []int64{stride, stride}))
	// The maximum of a window of non-negative activations: roughly twice
	// their mean square.
	return feat{v, x.c, outSize(x.h, k, stride, pads[0], pads[2]), outSize(x.w, k, stride, pads[1], pads[3]), 2 * x.m2}
}

// avgPool is AveragePool(k, stride, torch padding p). Torch counts the
// padding in the average (count_include_pad=1, nn.AvgPool2d's default);
// Keras does not.
func (b *builder) avgPool(path string, x feat, k, stride, p int64) feat {
	pads := b.pads(x, k, stride, p)
	include := int64(0)
	if b.torch() && p > 0 {
		include = 1
	}
	v := b.node("AveragePool", path, "", []*onnxio.Value{x.v},
		onnxio.AttrInt("count_include_pad", include),
		onnxio.AttrInts("kernel_shape", []int64{k, k}),
		onnxio.AttrInts("pads", pads),
		onnxio.AttrInts("strides", []int64{stride, stride}))
	// Averages of positively correlated activations keep most of their
	// mean square.
	return feat{v, x.c, outSize(x.h, k, stride, pads[0], pads[2]), outSize(x.w, k, stride, pads[1], pads[3]), x.m2}
}

// globalAvgPool averages each channel to [N, C, 1, 1]. Over a large map
// the mean square of the average is the squared mean; for rectified
// Gaussian activations that is 1/π of their mean square.
func (b *builder) globalAvgPool(path string, x feat) feat {
	return feat{b.node("GlobalAveragePool", path, "", []*onnxio.Value{x.v}), x.c, 1, 1, x.m2 / math.Pi}
}

// flatten turns [N, C, H, W] into [N, C·H·W]: torch.flatten(x, 1) is
// Flatten; tf2onnx emits Reshape with a constant [-1, C·H·W].
func (b *builder) flatten(path string, x feat) feat {
	n := x.c * x.h * x.w
	if b.torch() {
		return feat{b.node("Flatten", path, "", []*onnxio.Value{x.v}, onnxio.AttrInt("axis", 1)), n, 1, 1, x.m2}
	}
	return b.reshapeConst(path, x)
}

func (b *builder) reshapeConst(path string, x feat) feat {
	n := x.c * x.h * x.w
	shape := b.int64Const(path, "new_shape__"+path, []int64{2}, []int64{-1, n})
	return feat{b.node("Reshape", path, "", []*onnxio.Value{x.v, shape}), n, 1, 1, x.m2}
}

// viewFlatten is x.view(x.size(0), -1) as torch.onnx exports it:
// Shape → Gather(0) gives the batch size and a Constant −1 the rest, each
// Unsqueezed to rank 1, Concatenated into the target shape of a Reshape.
// tf2onnx style uses a constant Reshape, as for flatten.
func (b *builder) viewFlatten(path string, x feat) feat {
	if !b.torch() {
		return b.reshapeConst(path, x)
	}
	n := x.c * x.h * x.w
	shape := b.node("Shape", path, "", []*onnxio.Value{x.v})
	idx := b.int64Const(path, "", []int64{}, []int64{0})
	batch := b.node("Gather", path, "", []*onnxio.Value{shape, idx}, onnxio.AttrInt("axis", 0))
	rest := b.int64Const(path, "", []int64{}, []int64{-1})
	unsqueeze := func(v *onnxio.Value) *onnxio.Value {
		if b.cfg.Opset < 13 {
			return b.node("Unsqueeze", path, "", []*onnxio.Value{v}, onnxio.AttrInts("axes", []int64{0}))
		}
		axes := b.int64Const(path, "", []int64{1}, []int64{0})
		return b.node("Unsqueeze", path, "", []*onnxio.Value{v, axes})
	}
	target := b.node("Concat", path, "", []*onnxio.Value{unsqueeze(batch), unsqueeze(rest)}, onnxio.AttrInt("axis", 0))
	return feat{b.node("Reshape", path, "", []*onnxio.Value{x.v, target}), n, 1, 1, x.m2}
}

// linear is a fully connected layer on [N, K]: Gemm(transB=1) with
// torch's [out, in] weights, or MatMul with [in, out] weights then Add in
// tf2onnx style. gain is the weight variance times fan-in (2 before a ReLU,
// 1 for logits). out names the output ("" for automatic).
func (b *builder) linear(path, out string, x feat, nout int64, gain float64) feat {
	k := x.c
	w := b.normal(nout*k, math.Sqrt(gain/float64(k))) // [nout, k], row-major
	bias := b.normal(nout, biasStd)
	m2 := linearM2(w, bias, nout, x.m2)
	if b.torch() {
		v := b.node("Gemm", path, out, []*onnxio.Value{
			x.v,
			b.floatInit(path+".weight", []int64{nout, k}, w),
			b.floatInit(path+".bias", []int64{nout}, bias),
		}, onnxio.AttrFloat("alpha", 1), onnxio.AttrFloat("beta", 1), onnxio.AttrInt("transB", 1))
		return feat{v, nout, 1, 1, m2}
	}
	wt := make([]float64, len(w))
	for o := range nout {
		for i := range k {
			wt[i*nout+o] = w[o*k+i]
		}
	}
	mm := b.node("MatMul", path, "", []*onnxio.Value{x.v, b.floatInit(path+"/kernel", []int64{k, nout}, wt)})
	v := b.node("Add", path, out, []*onnxio.Value{mm, b.floatInit(path+"/bias", []int64{nout}, bias)})
	return feat{v, nout, 1, 1, m2}
}

// classifier is the final linear layer, named "output" in torch style; in
// tf2onnx style a Softmax follows, producing "predictions", as in Keras
// applications.
func (b *builder) classifier(path string, x feat) feat {
	if b.torch() {
		return b.linear(path, "output", x, int64(b.cfg.Classes), 1)
	}
	y := b.linear(path, "", x, int64(b.cfg.Classes), 1)
	y.v = b.node("Softmax", "predictions", "predictions", []*onnxio.Value{y.v}, onnxio.AttrInt("axis", 1))
	return y
}

// finish makes y the graph output and verifies the model (links and shape
// inference), so every model handed out has inferred types.
func (b *builder) finish(y feat) (*onnxio.Model, error) {
	if b.err != nil {
		return nil, b.err
	}
	b.g.Outputs = append(b.g.Outputs, y.v)
	if err := b.g.Verify(); err != nil {
		return nil, fmt.Errorf("models: built graph does not verify: %w", err)
	}
	return b.m, nil
}
