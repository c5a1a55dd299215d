package lut

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxpb"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// Unit is a group of nodes that onnxruntime executes as one kernel after its
// graph optimisations, with what the kernel fuses:
//
//   - Conv, then an optional BatchNormalization (folded by onnxruntime), an
//     optional residual Add of a same-shaped tensor (fused into the NCHWc
//     convolution as its "Sum" input) and an optional activation. onnxruntime
//     1.24's CPU provider fuses Relu, Clip, HardSigmoid, LeakyRelu, Sigmoid
//     and Tanh into the convolution (checked by dumping its optimised
//     graphs). It does not fuse HardSwish (written as HardSwish or as
//     x·HardSigmoid(x)): it runs it as HardSigmoid and Mul after turning the
//     NCHWc tensor back to NCHW. The unit still takes the HardSwish, so that
//     its measurement includes that layout change, which the whole model pays
//     as well.
//   - [Flatten/Reshape →] Gemm or MatMul [+ Add of a constant bias] [+
//     activation].
//   - MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool.
//   - stand-alone element-wise Add, Sub, Mul, Div (for example the
//     squeeze-excite scaling), with a following activation.
//   - stand-alone activations, channel Concats.
//   - any other node, measured at its own shapes (Key.Op OpNode).
//   - layout-only nodes (Identity, Dropout, Flatten, Reshape, Squeeze,
//     Unsqueeze, Shape and integer shape arithmetic) are "free" units with
//     no table entry: onnxruntime removes them or runs them as aliases, and
//     their microseconds go into the calibration's intercept.
type Unit struct {
	// Name is the name of the unit's main node (or its output).
	Name string
	// Nodes are the graph nodes the unit covers, in execution order.
	Nodes []*onnxio.Node
	// Inputs are the activations the unit reads: [0] is the main input,
	// then the residual of a fused Add or the other operands.
	Inputs []*onnxio.Value
	// Output is the activation the unit produces.
	Output *onnxio.Value

	key  Key
	tmpl *onnxio.Node // OpNode: the node to copy into its measured graph
	// fixedIn and fixedOut say the unit reads a graph input or writes a
	// graph output, whose channels pruning never changes.
	fixedIn, fixedOut bool
}

// Key returns the unit's key at the channels it has in the graph.
func (u *Unit) Key() Key { return u.key }

// KeyFor returns the unit's key with cin input and cout output channels, so
// that a planner can ask for a unit's latency at other channel counts
// without rebuilding the graph. For channel-preserving units (depthwise
// convolution, pooling, element-wise operations) cout is the channel count
// and cin is ignored. Units of kind OpNode and OpConcat, and grouped
// convolutions, keep their own channels.
func (u *Unit) KeyFor(cin, cout int) Key { return u.key.withChannels(cin, cout) }

// Free reports whether the unit has no table entry (latency 0).
func (u *Unit) Free() bool { return u.key.Op == OpFree }

func (u *Unit) String() string {
	return fmt.Sprintf("%s (%s)", u.Name, u.key)
}

// Units partitions the graph into the units onnxruntime executes, in
// topological order. Every node belongs to exactly one unit. It runs shape
// inference (recording inferred types, changing nothing else); every
// activation must have a known shape, with at most a symbolic batch
// dimension, which is taken as 1.
func Units(g *onnxio.Graph) ([]*Unit, error) {
	if err := g.InferShapes(); err != nil {
		return nil, fmt.Errorf("lut: %w", err)
	}
	order, err := g.Topo()
	if err != nil {
		return nil, fmt.Errorf("lut: %w", err)
	}
	p := &partitioner{g: g, claimed: map[*onnxio.Node]bool{}, index: map[*onnxio.Node]int{}, outputs: map[*onnxio.Value]bool{}}
	for i, n := range order {
		p.index[n] = i
	}
	for _, o := range g.Outputs {
		p.outputs[o] = true
	}
	var units []*Unit
	for _, n := range order {
		if p.claimed[n] {
			continue
		}
		u, err := p.unit(n)
		if err != nil {
			return nil, fmt.Errorf("lut: %v: %w", n, err)
		}
		for _, m := range u.Nodes {
			p.claimed[m] = true
		}
		if u.Name == "" {
			u.Name = n.Name
			if u.Name == "" && u.Output != nil {
				u.Name = u.Output.Name
			}
		}
		for _, in := range u.Inputs {
			if slices.Contains(g.Inputs, in) {
				u.fixedIn = true
			}
		}
		if u.Output != nil && p.outputs[u.Output] {
			u.fixedOut = true
		}
		units = append(units, u)
	}
	return units, nil
}

type partitioner struct {
	g       *onnxio.Graph
	claimed map[*onnxio.Node]bool
	index   map[*onnxio.Node]int
	outputs map[*onnxio.Value]bool
}

// sole returns the only consumer of v when it has exactly one and is not a
// graph output.
func (p *partitioner) sole(v *onnxio.Value) *onnxio.Node {
	if v == nil || p.outputs[v] {
		return nil
	}
	c := v.Consumers()
	if len(c) != 1 || p.claimed[c[0]] {
		return nil
	}
	return c[0]
}

// isConstLike reports whether v is absent or a constant (onnxio.ConstValue).
func isConstLike(v *onnxio.Value) bool { return v == nil || onnxio.ConstValue(v) != nil }

// dims returns v's shape with a symbolic batch dimension taken as 1.
func dims(v *onnxio.Value) ([]int, error) {
	if v == nil || !v.Type.HasShape {
		return nil, fmt.Errorf("value %q has no known shape", name(v))
	}
	out := make([]int, len(v.Type.Shape))
	for i, d := range v.Type.Shape {
		switch {
		case d.Known():
			out[i] = int(d.Value)
		case i == 0:
			out[i] = 1
		default:
			return nil, fmt.Errorf("value %q has shape %v: only the batch dimension may be symbolic", v.Name, v.Type.Shape)
		}
	}
	return out, nil
}

func name(v *onnxio.Value) string {
	if v == nil {
		return "<nil>"
	}
	return v.Name
}

var freeOps = map[string]bool{
	"Identity": true, "Dropout": true, "Flatten": true, "Reshape": true, "Squeeze": true,
	"Unsqueeze": true, "Shape": true, "Size": true, "Constant": true, "ConstantOfShape": true,
}

func isFloat(t onnxio.DataType) bool {
	return t == onnxio.Float || t == onnxio.Double || t == onnxio.Float16 || t == onnxio.BFloat16
}

func (p *partitioner) unit(n *onnxio.Node) (*Unit, error) {
	if !n.DefaultDomain() {
		return p.nodeUnit(n)
	}
	out := n.Output(0)
	if freeOps[n.Op] || out == nil || (out.Type.Elem != 0 && !isFloat(out.Type.Elem)) || allConstInputs(n) {
		if (n.Op == "Flatten" || n.Op == "Reshape") && p.gemmAfterFlatten(n) != nil {
			return p.gemmUnit(p.gemmAfterFlatten(n), n)
		}
		return &Unit{Nodes: []*onnxio.Node{n}, Inputs: activations(n), Output: out, key: Key{Op: OpFree, Extra: n.Op}}, nil
	}
	switch n.Op {
	case "Conv":
		if u, ok, err := p.convUnit(n); ok || err != nil {
			return u, err
		}
	case "Gemm", "MatMul":
		if u, err := p.gemmUnit(n, nil); u != nil || err != nil {
			return u, err
		}
	case "MaxPool", "AveragePool":
		if u, ok, err := p.poolUnit(n); ok || err != nil {
			return u, err
		}
	case "GlobalAveragePool", "GlobalMaxPool":
		x, err := dims(n.Input(0))
		if err == nil && len(x) == 4 {
			op := OpGAP
			if n.Op == "GlobalMaxPool" {
				op = OpGMP
			}
			return &Unit{Nodes: []*onnxio.Node{n}, Inputs: []*onnxio.Value{n.Input(0)}, Output: out,
				key: Key{Op: op, Batch: x[0], H: x[2], W: x[3], Cin: x[1], Cout: x[1]}}, nil
		}
	case "Add", "Sub", "Mul", "Div":
		if u, ok, err := p.binaryUnit(n); ok || err != nil {
			return u, err
		}
	case "Concat":
		if u, ok, err := p.concatUnit(n); ok || err != nil {
			return u, err
		}
	}
	if act, ok := actOf(n); ok {
		x, err := dims(n.Input(0))
		if err == nil && (len(x) == 4 || len(x) == 2) {
			h, w := spatial(x)
			u := &Unit{Nodes: []*onnxio.Node{n}, Inputs: []*onnxio.Value{n.Input(0)}, Output: out,
				key: Key{Op: OpAct, Act: act, Batch: x[0], H: h, W: w, Cin: x[1], Cout: x[1]}}
			if len(x) == 2 {
				u.key.Extra = "2d"
			}
			return u, nil
		}
	}
	return p.nodeUnit(n)
}

func allConstInputs(n *onnxio.Node) bool {
	for _, in := range n.Inputs() {
		if in != nil && !isConstLike(in) {
			return false
		}
	}
	return len(n.Inputs()) > 0
}

// activations returns the non-constant inputs of n.
func activations(n *onnxio.Node) []*onnxio.Value {
	var out []*onnxio.Value
	for _, in := range n.Inputs() {
		if in != nil && !isConstLike(in) {
			out = append(out, in)
		}
	}
	return out
}

func spatial(x []int) (h, w int) {
	if len(x) == 4 {
		return x[2], x[3]
	}
	return 1, 1
}

// window reads strides, pads (resolved for auto_pad) and dilations of a
// 2-D Conv or pool on input x (NCHW).
func window(n *onnxio.Node, x []int, kernel [2]int) (stride [2]int, pads [4]int, dil [2]int, err error) {
	w, err := onnxio.ReadWindow(n, []int64{int64(kernel[0]), int64(kernel[1])})
	if err != nil {
		return stride, pads, dil, err
	}
	for i := range 2 {
		begin, end := w.Padding(i, int64(x[2+i]))
		stride[i], dil[i] = int(w.Strides[i]), int(w.Dilations[i])
		pads[i], pads[2+i] = int(begin), int(end)
	}
	return stride, pads, dil, nil
}

func (p *partitioner) convUnit(n *onnxio.Node) (*Unit, bool, error) {
	x, err := dims(n.Input(0))
	if err != nil {
		return nil, false, err
	}
	w := onnxio.ConstValue(n.Input(1))
	if len(x) != 4 || w == nil || len(w.Dims) != 4 || (n.Input(2) != nil && !isConstLike(n.Input(2))) {
		return nil, false, nil // dynamic weights or not 2-D: measured as a plain node
	}
	kernel := [2]int{int(w.Dims[2]), int(w.Dims[3])}
	stride, pads, dil, err := window(n, x, kernel)
	if err != nil {
		return nil, false, err
	}
	group := int(n.AttrInt("group", 1))
	cin, cout := x[1], int(w.Dims[0])
	k := Key{Op: OpConv, Kernel: kernel, Stride: stride, Pads: pads, Dilation: dil,
		Batch: x[0], H: x[2], W: x[3], Cin: cin, Cout: cout}
	switch {
	case group == 1:
		k.Group = GroupDense
	case group == cin && cout == cin:
		k.Group = GroupDepthwise
	default:
		k.Group = "g" + strconv.Itoa(group)
	}
	u := &Unit{Nodes: []*onnxio.Node{n}, Inputs: []*onnxio.Value{n.Input(0)}}
	cur := n.Output(0)
	if c := p.sole(cur); c != nil && c.Op == "BatchNormalization" && c.DefaultDomain() && c.Input(0) == cur &&
		len(c.Outputs()) == 1 && allConst(c.Inputs()[1:]) {
		u.Nodes = append(u.Nodes, c)
		cur = c.Output(0)
		k.BN = true
	}
	if c := p.sole(cur); c != nil && c.Op == "Add" && c.DefaultDomain() && len(c.Inputs()) == 2 {
		other := c.Input(0)
		if other == cur {
			other = c.Input(1)
		}
		if other != cur && !isConstLike(other) && sameShape(other, cur) && p.takesAdd(cur, c, other) {
			u.Nodes = append(u.Nodes, c)
			u.Inputs = append(u.Inputs, other)
			cur = c.Output(0)
			k.Add = true
		}
	}
	cur, k.Act = p.absorbAct(u, cur)
	u.Output = cur
	u.key = k
	return u, true, nil
}

// takesAdd decides whether the unit whose output is cur fuses the Add c.
// onnxruntime fuses an Add into the convolution producing its first input
// when it can, else into the one producing its second; the other operand
// must be computed before the unit runs.
func (p *partitioner) takesAdd(cur *onnxio.Value, c *onnxio.Node, other *onnxio.Value) bool {
	if prod := other.Producer(); prod != nil && p.index[prod] > p.index[c] {
		return false
	}
	if c.Input(0) == cur {
		return true
	}
	// cur is the second operand: take the Add only when the first operand's
	// producer cannot (it is not a Conv[+BN] used only by this Add) or has
	// already been placed in a unit.
	return !p.convChainHead(c.Input(0), c) || p.claimed[c.Input(0).Producer()]
}

// convChainHead reports whether v is the output of Conv or Conv→BN used only
// by the node add.
func (p *partitioner) convChainHead(v *onnxio.Value, add *onnxio.Node) bool {
	pr := v.Producer()
	if pr == nil || len(v.Consumers()) != 1 || v.Consumers()[0] != add || p.outputs[v] {
		return false
	}
	if pr.Op == "BatchNormalization" {
		in := pr.Input(0)
		if in == nil || in.Producer() == nil || len(in.Consumers()) != 1 {
			return false
		}
		pr = in.Producer()
	}
	return pr.Op == "Conv"
}

func allConst(vs []*onnxio.Value) bool {
	for _, v := range vs {
		if v != nil && !isConstLike(v) {
			return false
		}
	}
	return true
}

func sameShape(a, b *onnxio.Value) bool {
	da, err1 := dims(a)
	db, err2 := dims(b)
	return err1 == nil && err2 == nil && slices.Equal(da, db)
}

// absorbAct appends a fusable activation consuming cur (or the x·HardSigmoid(x)
// form of hard-swish) to u and returns the new output and the activation.
func (p *partitioner) absorbAct(u *Unit, cur *onnxio.Value) (*onnxio.Value, string) {
	if c := p.sole(cur); c != nil && c.Input(0) == cur {
		if act, ok := actOf(c); ok {
			u.Nodes = append(u.Nodes, c)
			return c.Output(0), act
		}
	}
	// x * HardSigmoid(x) with alpha 1/6, beta 0.5 is hard-swish (opset < 14).
	cons := cur.Consumers()
	if len(cons) == 2 && !p.outputs[cur] {
		for i, h := range cons {
			m := cons[1-i]
			if h.Op != "HardSigmoid" || m.Op != "Mul" || h == m || p.claimed[h] || p.claimed[m] {
				continue
			}
			hs := h.Output(0)
			if p.sole(hs) != m || math.Abs(float64(h.AttrFloat("alpha", 0.2))-1.0/6) > 1e-3 ||
				math.Abs(float64(h.AttrFloat("beta", 0.5))-0.5) > 1e-6 {
				continue
			}
			if (m.Input(0) == cur && m.Input(1) == hs) || (m.Input(1) == cur && m.Input(0) == hs) {
				u.Nodes = append(u.Nodes, h, m)
				return m.Output(0), "HardSwish"
			}
		}
	}
	return cur, ""
}

// actOf returns the canonical activation string of n when it is an
// activation that onnxruntime can fuse (or HardSwish).
func actOf(n *onnxio.Node) (string, bool) {
	if !n.DefaultDomain() || len(n.Outputs()) != 1 {
		return "", false
	}
	f := func(v float32) string { return strconv.FormatFloat(float64(v), 'g', -1, 32) }
	switch n.Op {
	case "Relu", "Sigmoid", "Tanh", "HardSwish":
		return n.Op, true
	case "LeakyRelu":
		return "LeakyRelu(" + f(n.AttrFloat("alpha", 0.01)) + ")", true
	case "HardSigmoid":
		return "HardSigmoid(" + f(n.AttrFloat("alpha", 0.2)) + "," + f(n.AttrFloat("beta", 0.5)) + ")", true
	case "Clip":
		lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
		if n.Attr("min") != nil || n.Attr("max") != nil {
			lo, hi = n.AttrFloat("min", lo), n.AttrFloat("max", hi)
		}
		for i, dst := range []*float32{&lo, &hi} {
			v := n.Input(i + 1)
			if v == nil {
				continue
			}
			t := onnxio.ConstValue(v)
			if t == nil {
				return "", false
			}
			vals, err := t.Float32()
			if err != nil || len(vals) != 1 {
				return "", false
			}
			*dst = vals[0]
		}
		return "Clip(" + f(lo) + "," + f(hi) + ")", true
	}
	return "", false
}

// gemmAfterFlatten returns the Gemm or MatMul that is the only consumer of a
// Flatten or Reshape to 2-D, if any.
func (p *partitioner) gemmAfterFlatten(n *onnxio.Node) *onnxio.Node {
	c := p.sole(n.Output(0))
	if c == nil || (c.Op != "Gemm" && c.Op != "MatMul") || c.Input(0) != n.Output(0) {
		return nil
	}
	o, err := dims(n.Output(0))
	x, err2 := dims(n.Input(0))
	if err != nil || err2 != nil || len(o) != 2 || len(x) != 4 || o[0] != x[0] {
		return nil
	}
	return c
}

func (p *partitioner) gemmUnit(n, flatten *onnxio.Node) (*Unit, error) {
	a := n.Input(0)
	if flatten != nil {
		a = flatten.Input(0)
	}
	x, err := dims(a)
	if err != nil {
		return nil, err
	}
	b := onnxio.ConstValue(n.Input(1))
	if b == nil || len(b.Dims) != 2 {
		return nil, nil
	}
	var extra []string
	var cout int
	if n.Op == "Gemm" {
		if n.AttrInt("transA", 0) != 0 || n.AttrFloat("alpha", 1) != 1 || n.AttrFloat("beta", 1) != 1 ||
			(n.Input(2) != nil && !isConstLike(n.Input(2))) {
			return nil, nil
		}
		cout = int(b.Dims[0])
		if n.AttrInt("transB", 0) == 0 {
			extra = append(extra, "notransB")
			cout = int(b.Dims[1])
		}
		if n.Input(2) == nil {
			extra = append(extra, "nobias")
		}
	} else {
		extra = append(extra, "matmul")
		cout = int(b.Dims[1])
	}
	u := &Unit{Name: n.Name, Nodes: []*onnxio.Node{n}, Inputs: []*onnxio.Value{a}}
	if flatten != nil {
		u.Nodes = []*onnxio.Node{flatten, n}
		extra = append(extra, "flatten")
	}
	k := Key{Op: OpGemm, Batch: x[0]}
	switch {
	case len(x) == 4 && flatten != nil:
		k.H, k.W, k.Cin = x[2], x[3], x[1]
	case len(x) == 2:
		k.H, k.W, k.Cin = 1, 1, x[1]
	default:
		return nil, nil
	}
	k.Cout = cout
	cur := n.Output(0)
	if n.Op == "MatMul" {
		if c := p.sole(cur); c != nil && c.Op == "Add" && len(c.Inputs()) == 2 {
			bias := c.Input(1)
			if bias == cur {
				bias = c.Input(0)
			}
			if t := onnxio.ConstValue(bias); t != nil && t.NumElements() == int64(cout) {
				u.Nodes = append(u.Nodes, c)
				cur = c.Output(0)
				extra = append(extra, "bias")
			}
		}
	}
	cur, k.Act = p.absorbAct(u, cur)
	u.Output = cur
	k.Extra = strings.Join(extra, ",")
	u.key = k
	return u, nil
}

func (p *partitioner) poolUnit(n *onnxio.Node) (*Unit, bool, error) {
	x, err := dims(n.Input(0))
	ks := n.AttrInts("kernel_shape")
	if err != nil || len(x) != 4 || len(ks) != 2 || len(n.Outputs()) != 1 {
		return nil, false, nil
	}
	kernel := [2]int{int(ks[0]), int(ks[1])}
	stride, pads, dil, err := window(n, x, kernel)
	if err != nil {
		return nil, false, err
	}
	k := Key{Op: OpMaxPool, Kernel: kernel, Stride: stride, Pads: pads, Dilation: dil,
		Batch: x[0], H: x[2], W: x[3], Cin: x[1], Cout: x[1]}
	var extra []string
	if n.Op == "AveragePool" {
		k.Op = OpAvgPool
		if n.AttrInt("count_include_pad", 0) != 0 {
			extra = append(extra, "count_include_pad")
		}
	}
	if n.AttrInt("ceil_mode", 0) != 0 {
		extra = append(extra, "ceil")
	}
	k.Extra = strings.Join(extra, ",")
	return &Unit{Nodes: []*onnxio.Node{n}, Inputs: []*onnxio.Value{n.Input(0)}, Output: n.Output(0), key: k}, true, nil
}

// broadcastPattern describes how an operand of shape d broadcasts against
// an output of shape o (both rank 4): "chw", "c11", "1hw", "111".
func broadcastPattern(d, o []int) (string, bool) {
	if len(d) > 4 {
		return "", false
	}
	full := make([]int, 4-len(d), 4)
	for i := range full {
		full[i] = 1
	}
	full = append(full, d...)
	var b strings.Builder
	for i, c := range []string{"c", "h", "w"} {
		switch full[i+1] {
		case o[i+1]:
			b.WriteString(c)
		case 1:
			b.WriteString("1")
		default:
			return "", false
		}
	}
	if full[0] != 1 && full[0] != o[0] {
		return "", false
	}
	return b.String(), true
}

func (p *partitioner) binaryUnit(n *onnxio.Node) (*Unit, bool, error) {
	if len(n.Inputs()) != 2 || n.Input(0) == nil || n.Input(1) == nil {
		return nil, false, nil
	}
	o, err := dims(n.Output(0))
	if err != nil || len(o) != 4 {
		return nil, false, nil
	}
	var pats []string
	var acts []*onnxio.Value
	for _, in := range n.Inputs() {
		d, err := dims(in)
		if err != nil {
			if t := onnxio.ConstValue(in); t != nil {
				d = make([]int, len(t.Dims))
				for i, v := range t.Dims {
					d[i] = int(v)
				}
			} else {
				return nil, false, nil
			}
		}
		pat, ok := broadcastPattern(d, o)
		if !ok {
			return nil, false, nil
		}
		if isConstLike(in) {
			pat = "const-" + pat
		} else {
			acts = append(acts, in)
		}
		pats = append(pats, pat)
	}
	if len(acts) == 0 {
		return nil, false, nil
	}
	op := OpAdd
	if n.Op == "Mul" || n.Op == "Div" {
		op = OpMul
	}
	k := Key{Op: op, Batch: o[0], H: o[2], W: o[3], Cin: o[1], Cout: o[1],
		Extra: n.Op + " " + strings.Join(pats, ",")}
	u := &Unit{Nodes: []*onnxio.Node{n}, Inputs: acts}
	var cur *onnxio.Value
	cur, k.Act = p.absorbAct(u, n.Output(0))
	u.Output = cur
	u.key = k
	return u, true, nil
}

func (p *partitioner) concatUnit(n *onnxio.Node) (*Unit, bool, error) {
	o, err := dims(n.Output(0))
	if err != nil || len(o) != 4 {
		return nil, false, nil
	}
	if ax := n.AttrInt("axis", 0); ax != 1 && ax != -3 {
		return nil, false, nil
	}
	var parts []string
	for _, in := range n.Inputs() {
		d, err := dims(in)
		if err != nil || len(d) != 4 || isConstLike(in) {
			return nil, false, nil
		}
		parts = append(parts, strconv.Itoa(d[1]))
	}
	k := Key{Op: OpConcat, Batch: o[0], H: o[2], W: o[3], Cin: o[1], Cout: o[1], Extra: strings.Join(parts, "+")}
	return &Unit{Nodes: []*onnxio.Node{n}, Inputs: activations(n), Output: n.Output(0), key: k}, true, nil
}

// nodeUnit makes an OpNode unit: the node alone, keyed by its operator,
// attributes and input shapes.
func (p *partitioner) nodeUnit(n *onnxio.Node) (*Unit, error) {
	var b strings.Builder
	if n.Domain != "" {
		b.WriteString(n.Domain + ".")
	}
	b.WriteString(n.Op)
	attrs := slices.Clone(n.Attrs)
	slices.SortFunc(attrs, func(a, c *onnxpb.AttributeProto) int { return strings.Compare(a.GetName(), c.GetName()) })
	for _, a := range attrs {
		fmt.Fprintf(&b, " %s=", a.GetName())
		switch {
		case a.I != nil:
			fmt.Fprint(&b, a.GetI())
		case a.F != nil:
			fmt.Fprint(&b, a.GetF())
		case a.S != nil:
			fmt.Fprintf(&b, "%q", a.GetS())
		case len(a.GetInts()) > 0:
			fmt.Fprint(&b, a.GetInts())
		case len(a.GetFloats()) > 0:
			fmt.Fprint(&b, a.GetFloats())
		default:
			b.WriteString("?")
		}
	}
	k := Key{Op: OpNode, Batch: 1, H: 1, W: 1}
	for i, in := range n.Inputs() {
		if in == nil {
			b.WriteString(" _")
			continue
		}
		if t := onnxio.ConstValue(in); t != nil {
			fmt.Fprintf(&b, " const%v", t.Dims)
			continue
		}
		d, err := dims(in)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, " %v", d)
		if i == 0 && len(d) >= 2 {
			k.Batch, k.Cin = d[0], d[1]
			if len(d) == 4 {
				k.H, k.W = d[2], d[3]
			}
		}
	}
	if o, err := dims(n.Output(0)); err == nil && len(o) >= 2 {
		k.Cout = o[1]
	}
	k.Extra = b.String()
	return &Unit{Nodes: []*onnxio.Node{n}, Inputs: activations(n), Output: n.Output(0), key: k, tmpl: n}, nil
}
