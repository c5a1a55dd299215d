package lut

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxpb"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// unitOpset is the opset of the single-unit models (HardSwish needs 14).
const unitOpset = 17

// nchwcDomain is onnxruntime's domain of its NCHWc layout operators.
const nchwcDomain = "com.microsoft.nchwc"

// UnitModel builds the single-unit ONNX model that is timed for key k, with
// seeded random weights. tmpl is the node to copy for an OpNode key (nil
// otherwise). Inputs are named "x" (main), "r" (a fused Add's residual)
// and "x1", "x2"... (other operands); the output is "y".
func UnitModel(k Key, tmpl *onnxio.Node) ([]byte, error) {
	return unitModel(k, tmpl, false)
}

// unitModel is UnitModel; with feed, a fused Add's residual input goes
// through a 1×1 depthwise convolution first (see strip), so that
// onnxruntime sees an NCHWc residual and fuses the Add as it does inside a
// model.
func unitModel(k Key, tmpl *onnxio.Node, feed bool) ([]byte, error) {
	b := &builder{m: onnxio.NewModel(unitOpset), feed: feed}
	h := fnv.New64a()
	h.Write([]byte(k.String()))
	b.rng = rand.New(rand.NewPCG(h.Sum64(), 0x6c7574))
	b.g = b.m.Graph
	if err := b.build(k, tmpl); err != nil {
		return nil, fmt.Errorf("lut: building a model for %s: %w", k, err)
	}
	// onnxio's shape inference does not know the NCHWc operators; the
	// reorder models declare their types by hand.
	if k.Op != OpReorderIn && k.Op != OpReorderPair {
		if err := b.g.InferShapes(); err != nil {
			return nil, fmt.Errorf("lut: building a model for %s: %w", k, err)
		}
	}
	return b.encode()
}

type builder struct {
	feed    bool
	m       *onnxio.Model
	g       *onnxio.Graph
	rng     *rand.Rand
	domains []string
}

func (b *builder) encode() ([]byte, error) {
	data, err := onnxio.Encode(b.m)
	if err != nil || len(b.domains) == 0 {
		return data, err
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(data, &mp); err != nil {
		return nil, fmt.Errorf("lut: %w", err)
	}
	for _, d := range b.domains {
		mp.OpsetImport = append(mp.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: proto.String(d), Version: proto.Int64(1)})
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(&mp)
}

func (b *builder) input(name string, shape ...int) *onnxio.Value {
	v := b.g.NewValue(name)
	v.Type = onnxio.Type{Elem: onnxio.Float, Shape: ints64(shape), HasShape: true}
	b.g.Inputs = append(b.g.Inputs, v)
	return v
}

func ints64(s []int) onnxio.Shape {
	d := make([]int64, len(s))
	for i, v := range s {
		d[i] = int64(v)
	}
	return onnxio.ShapeOf(d...)
}

// normalPool holds seeded standard-normal numbers that weights are copied
// from: drawing millions of normals per measured unit would cost more than
// timing it, and the values only need to be ordinary floats.
var normalPool = sync.OnceValue(func() []float32 {
	rng := rand.New(rand.NewPCG(0x6c7574, 0x706f6f6c))
	p := make([]float32, 1<<16+1)
	for i := range p {
		p[i] = float32(rng.NormFloat64())
	}
	return p
})

// weights adds an initializer of normal values with standard deviation std
// (plus offset).
func (b *builder) weights(name string, std, offset float64, shape ...int) *onnxio.Value {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	pool := normalPool()
	// A prime stride through the pool keeps neighbouring weights unrelated.
	j, stride := b.rng.IntN(len(pool)), 7919
	for i := range v {
		v[i] = pool[j]*float32(std) + float32(offset)
		if j += stride; j >= len(pool) {
			j -= len(pool)
		}
	}
	d := make([]int64, len(shape))
	for i, s := range shape {
		d[i] = int64(s)
	}
	t, err := onnxio.NewFloat32Tensor(d, v)
	if err != nil {
		panic(err) // shapes are built here and always match
	}
	return b.g.AddInitializer(name, t)
}

func (b *builder) scalar(name string, f float32) *onnxio.Value {
	t, _ := onnxio.NewFloat32Tensor(nil, []float32{f})
	return b.g.AddInitializer(name, t)
}

func (b *builder) output(v *onnxio.Value) {
	b.g.Outputs = append(b.g.Outputs, v)
}

func (b *builder) build(k Key, tmpl *onnxio.Node) error {
	if k.Batch < 1 || k.Cin < 1 || k.Cout < 1 || k.H < 1 || k.W < 1 {
		if k.Op != OpNode {
			return fmt.Errorf("batch, channels and spatial size must be positive")
		}
	}
	const maxElems = 1 << 28
	if float64(k.Batch)*float64(max(k.Cin, k.Cout))*float64(k.H)*float64(k.W) > maxElems {
		return fmt.Errorf("tensor too large")
	}
	switch k.Op {
	case OpConv:
		return b.conv(k)
	case OpGemm:
		return b.gemm(k)
	case OpMaxPool, OpAvgPool:
		return b.pool(k)
	case OpGAP, OpGMP:
		x := b.input("x", k.Batch, k.Cin, k.H, k.W)
		op := "GlobalAveragePool"
		if k.Op == OpGMP {
			op = "GlobalMaxPool"
		}
		b.output(b.g.AddNode(op, "pool", []*onnxio.Value{x}, []string{"y"}).Output(0))
		return nil
	case OpAdd, OpMul:
		return b.binary(k)
	case OpAct:
		shape := []int{k.Batch, k.Cin, k.H, k.W}
		if k.Extra == "2d" {
			shape = shape[:2]
		}
		y, err := b.act(k.Act, b.input("x", shape...))
		if err != nil {
			return err
		}
		b.output(y)
		return nil
	case OpConcat:
		var ins []*onnxio.Value
		total := 0
		for i, p := range strings.Split(k.Extra, "+") {
			c, err := strconv.Atoi(p)
			if err != nil || c < 1 {
				return fmt.Errorf("bad concat parts %q", k.Extra)
			}
			total += c
			ins = append(ins, b.input(inputName(i), k.Batch, c, k.H, k.W))
		}
		if total != k.Cout {
			return fmt.Errorf("concat parts %q do not add up to %d", k.Extra, k.Cout)
		}
		b.output(b.g.AddNode("Concat", "concat", ins, []string{"y"}, onnxio.AttrInt("axis", 1)).Output(0))
		return nil
	case OpReorderIn, OpReorderPair:
		x := b.input("x", k.Batch, k.Cin, k.H, k.W)
		b.domains = append(b.domains, nchwcDomain)
		n := b.g.AddNode("ReorderInput", "reorder_in", []*onnxio.Value{x}, []string{"nchwc"})
		n.Domain = nchwcDomain
		// The blocked tensor keeps rank 4, its channels padded up to the
		// block size of this CPU: the channel count is left unknown, but
		// the shape is declared, since ONNX requires one on a graph output.
		y := n.Output(0)
		y.Type = onnxio.Type{Elem: onnxio.Float, HasShape: true,
			Shape: onnxio.Shape{{Value: int64(k.Batch)}, {Value: -1}, {Value: int64(k.H)}, {Value: int64(k.W)}}}
		if k.Op == OpReorderPair {
			n = b.g.AddNode("ReorderOutput", "reorder_out", []*onnxio.Value{y}, []string{"y"}, onnxio.AttrInt("channels", int64(k.Cin)))
			n.Domain = nchwcDomain
			y = n.Output(0)
			y.Type = x.Type
		}
		b.output(y)
		return nil
	case OpOverhead:
		x := b.input("x", 1, 1, 1, 1)
		b.output(b.g.AddNode("Relu", "relu", []*onnxio.Value{x}, []string{"y"}).Output(0))
		return nil
	case OpNode:
		return b.node(k, tmpl)
	}
	return fmt.Errorf("unknown unit kind %q", k.Op)
}

func inputName(i int) string {
	if i == 0 {
		return "x"
	}
	return "x" + strconv.Itoa(i)
}

func (b *builder) conv(k Key) error {
	groups := 1
	switch {
	case k.Group == GroupDense:
	case k.Group == GroupDepthwise:
		if k.Cin != k.Cout {
			return fmt.Errorf("depthwise with cin %d != cout %d", k.Cin, k.Cout)
		}
		groups = k.Cin
	case strings.HasPrefix(k.Group, "g"):
		g, err := strconv.Atoi(k.Group[1:])
		if err != nil || g < 1 || k.Cin%g != 0 || k.Cout%g != 0 {
			return fmt.Errorf("bad group %q for %d→%d channels", k.Group, k.Cin, k.Cout)
		}
		groups = g
	default:
		return fmt.Errorf("bad group %q", k.Group)
	}
	if k.Kernel[0] < 1 || k.Kernel[1] < 1 || k.Stride[0] < 1 || k.Stride[1] < 1 || k.Dilation[0] < 1 || k.Dilation[1] < 1 {
		return fmt.Errorf("bad window")
	}
	x := b.input("x", k.Batch, k.Cin, k.H, k.W)
	fanIn := k.Cin / groups * k.Kernel[0] * k.Kernel[1]
	ins := []*onnxio.Value{x, b.weights("w", math.Sqrt(2/float64(fanIn)), 0, k.Cout, k.Cin/groups, k.Kernel[0], k.Kernel[1])}
	if !k.BN {
		ins = append(ins, b.weights("bias", 0.05, 0, k.Cout))
	}
	y := b.g.AddNode("Conv", "conv", ins, []string{"conv"},
		onnxio.AttrInts("kernel_shape", []int64{int64(k.Kernel[0]), int64(k.Kernel[1])}),
		onnxio.AttrInts("strides", []int64{int64(k.Stride[0]), int64(k.Stride[1])}),
		onnxio.AttrInts("pads", []int64{int64(k.Pads[0]), int64(k.Pads[1]), int64(k.Pads[2]), int64(k.Pads[3])}),
		onnxio.AttrInts("dilations", []int64{int64(k.Dilation[0]), int64(k.Dilation[1])}),
		onnxio.AttrInt("group", int64(groups))).Output(0)
	if k.BN {
		y = b.g.AddNode("BatchNormalization", "bn", []*onnxio.Value{y,
			b.weights("gamma", 0.25, 1, k.Cout), b.weights("beta", 0.1, 0, k.Cout),
			b.weights("mean", 0.1, 0, k.Cout), b.weights("var", 0.1, 1, k.Cout)}, []string{"bn"}).Output(0)
	}
	if k.Add {
		ho := (k.H+k.Pads[0]+k.Pads[2]-k.Dilation[0]*(k.Kernel[0]-1)-1)/k.Stride[0] + 1
		wo := (k.W+k.Pads[1]+k.Pads[3]-k.Dilation[1]*(k.Kernel[1]-1)-1)/k.Stride[1] + 1
		if ho < 1 || wo < 1 {
			return fmt.Errorf("empty output")
		}
		r := b.input("r", k.Batch, k.Cout, ho, wo)
		if b.feed {
			r = b.g.AddNode("Conv", feedName, []*onnxio.Value{r, b.weights("feed_w", 0.5, 1, k.Cout, 1, 1, 1)}, []string{feedName},
				onnxio.AttrInts("kernel_shape", []int64{1, 1}), onnxio.AttrInt("group", int64(k.Cout))).Output(0)
		}
		y = b.g.AddNode("Add", "add", []*onnxio.Value{y, r}, []string{"sum"}).Output(0)
	}
	y, err := b.act(k.Act, y)
	if err != nil {
		return err
	}
	b.output(y)
	return nil
}

// act appends the activation described by s ("" for none).
func (b *builder) act(s string, x *onnxio.Value) (*onnxio.Value, error) {
	if s == "" {
		return x, nil
	}
	name, args, _ := strings.Cut(strings.TrimSuffix(s, ")"), "(")
	var vals []float32
	if args != "" {
		for _, a := range strings.Split(args, ",") {
			f, err := strconv.ParseFloat(a, 32)
			if err != nil {
				return nil, fmt.Errorf("bad activation %q", s)
			}
			vals = append(vals, float32(f))
		}
	}
	want := map[string]int{"Relu": 0, "Sigmoid": 0, "Tanh": 0, "HardSwish": 0, "LeakyRelu": 1, "HardSigmoid": 2, "Clip": 2}
	n, ok := want[name]
	if !ok || n != len(vals) {
		return nil, fmt.Errorf("bad activation %q", s)
	}
	var node *onnxio.Node
	switch name {
	case "LeakyRelu":
		node = b.g.AddNode(name, "act", []*onnxio.Value{x}, []string{"y"}, onnxio.AttrFloat("alpha", vals[0]))
	case "HardSigmoid":
		node = b.g.AddNode(name, "act", []*onnxio.Value{x}, []string{"y"}, onnxio.AttrFloat("alpha", vals[0]), onnxio.AttrFloat("beta", vals[1]))
	case "Clip":
		ins := []*onnxio.Value{x, nil, nil}
		if !math.IsInf(float64(vals[0]), 0) {
			ins[1] = b.scalar("clip_min", vals[0])
		}
		if !math.IsInf(float64(vals[1]), 0) {
			ins[2] = b.scalar("clip_max", vals[1])
		}
		for len(ins) > 1 && ins[len(ins)-1] == nil {
			ins = ins[:len(ins)-1]
		}
		node = b.g.AddNode(name, "act", ins, []string{"y"})
	default:
		node = b.g.AddNode(name, "act", []*onnxio.Value{x}, []string{"y"})
	}
	return node.Output(0), nil
}

func (b *builder) gemm(k Key) error {
	opts := map[string]bool{}
	for _, o := range strings.Split(k.Extra, ",") {
		if o != "" {
			opts[o] = true
		}
	}
	var x, a *onnxio.Value
	features := k.Cin
	if opts["flatten"] {
		x = b.input("x", k.Batch, k.Cin, k.H, k.W)
		a = b.g.AddNode("Flatten", "flatten", []*onnxio.Value{x}, []string{"flat"}, onnxio.AttrInt("axis", 1)).Output(0)
		features = k.Cin * k.H * k.W
	} else {
		x = b.input("x", k.Batch, k.Cin)
		a = x
	}
	std := math.Sqrt(1 / float64(features))
	var y *onnxio.Value
	if opts["matmul"] {
		y = b.g.AddNode("MatMul", "matmul", []*onnxio.Value{a, b.weights("w", std, 0, features, k.Cout)}, []string{"mm"}).Output(0)
		if opts["bias"] {
			y = b.g.AddNode("Add", "bias", []*onnxio.Value{y, b.weights("b", 0.05, 0, k.Cout)}, []string{"gemm"}).Output(0)
		}
	} else {
		var w *onnxio.Value
		transB := int64(1)
		if opts["notransB"] {
			transB = 0
			w = b.weights("w", std, 0, features, k.Cout)
		} else {
			w = b.weights("w", std, 0, k.Cout, features)
		}
		ins := []*onnxio.Value{a, w}
		if !opts["nobias"] {
			ins = append(ins, b.weights("b", 0.05, 0, k.Cout))
		}
		y = b.g.AddNode("Gemm", "gemm", ins, []string{"gemm"}, onnxio.AttrInt("transB", transB)).Output(0)
	}
	y, err := b.act(k.Act, y)
	if err != nil {
		return err
	}
	b.output(y)
	return nil
}

func (b *builder) pool(k Key) error {
	if k.Kernel[0] < 1 || k.Kernel[1] < 1 || k.Stride[0] < 1 || k.Stride[1] < 1 {
		return fmt.Errorf("bad window")
	}
	x := b.input("x", k.Batch, k.Cin, k.H, k.W)
	attrs := []*onnxpb.AttributeProto{
		onnxio.AttrInts("kernel_shape", []int64{int64(k.Kernel[0]), int64(k.Kernel[1])}),
		onnxio.AttrInts("strides", []int64{int64(k.Stride[0]), int64(k.Stride[1])}),
		onnxio.AttrInts("pads", []int64{int64(k.Pads[0]), int64(k.Pads[1]), int64(k.Pads[2]), int64(k.Pads[3])}),
	}
	op := "MaxPool"
	if k.Op == OpAvgPool {
		op = "AveragePool"
	} else if k.Dilation != [2]int{1, 1} && k.Dilation != [2]int{} {
		attrs = append(attrs, onnxio.AttrInts("dilations", []int64{int64(k.Dilation[0]), int64(k.Dilation[1])}))
	}
	for _, o := range strings.Split(k.Extra, ",") {
		switch o {
		case "ceil":
			attrs = append(attrs, onnxio.AttrInt("ceil_mode", 1))
		case "count_include_pad":
			attrs = append(attrs, onnxio.AttrInt("count_include_pad", 1))
		}
	}
	b.output(b.g.AddNode(op, "pool", []*onnxio.Value{x}, []string{"y"}, attrs...).Output(0))
	return nil
}

func (b *builder) binary(k Key) error {
	op, pats, ok := strings.Cut(k.Extra, " ")
	if !ok {
		return fmt.Errorf("bad element-wise description %q", k.Extra)
	}
	switch op {
	case "Add", "Sub", "Mul", "Div":
	default:
		return fmt.Errorf("bad element-wise operator %q", op)
	}
	var ins []*onnxio.Value
	for i, p := range strings.Split(pats, ",") {
		isConst := strings.HasPrefix(p, "const-")
		p = strings.TrimPrefix(p, "const-")
		if len(p) != 3 {
			return fmt.Errorf("bad broadcast pattern %q", p)
		}
		shape := []int{k.Batch, 1, 1, 1}
		for j, want := range []int{k.Cout, k.H, k.W} {
			switch p[j] {
			case "chw"[j]:
				shape[j+1] = want
			case '1':
			default:
				return fmt.Errorf("bad broadcast pattern %q", p)
			}
		}
		if isConst {
			shape[0] = 1
			ins = append(ins, b.weights("c"+strconv.Itoa(i), 0.1, 1, shape...))
		} else {
			ins = append(ins, b.input(inputName(i), shape...))
		}
	}
	if len(ins) != 2 {
		return fmt.Errorf("element-wise %q needs two operands", k.Extra)
	}
	y := b.g.AddNode(op, "binary", ins, []string{"bin"}).Output(0)
	y, err := b.act(k.Act, y)
	if err != nil {
		return err
	}
	b.output(y)
	return nil
}

// node copies tmpl into the model: its constant inputs as initializers, its
// other inputs as graph inputs of their shapes.
func (b *builder) node(k Key, tmpl *onnxio.Node) error {
	if tmpl == nil {
		return fmt.Errorf("no node to copy")
	}
	if tmpl.HasSubgraph() {
		return fmt.Errorf("%v has subgraphs", tmpl)
	}
	if !tmpl.DefaultDomain() {
		return fmt.Errorf("%v is in domain %q", tmpl, tmpl.Domain)
	}
	var ins []*onnxio.Value
	for i, in := range tmpl.Inputs() {
		switch {
		case in == nil:
			ins = append(ins, nil)
		case onnxio.ConstValue(in) != nil:
			ins = append(ins, b.g.AddInitializer("c"+strconv.Itoa(i), onnxio.ConstValue(in)))
		default:
			d, err := dims(in)
			if err != nil {
				return err
			}
			v := b.input(inputName(i), d...)
			v.Type.Elem = in.Type.Elem
			ins = append(ins, v)
		}
	}
	var outs []string
	for i := range tmpl.Outputs() {
		outs = append(outs, "y"+strconv.Itoa(i))
	}
	n := b.g.AddNode(tmpl.Op, "node", ins, outs, tmpl.Attrs...)
	for i, o := range n.Outputs() {
		t := tmpl.Output(i)
		if t != nil {
			o.Type = t.Type
			if d, err := dims(t); err == nil {
				o.Type.Shape = ints64(d)
			}
		}
		b.output(o)
	}
	return nil
}
