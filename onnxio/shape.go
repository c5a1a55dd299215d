package onnxio

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// ShapeError reports values whose shapes could not be inferred or whose
// shapes disagree with what an operator needs.
type ShapeError struct {
	Node   *Node  // the node at fault, if any
	Value  string // the value concerned, if any
	Reason string
}

func (e *ShapeError) Error() string {
	var b strings.Builder
	b.WriteString("onnxio: shape: ")
	if e.Node != nil {
		b.WriteString(e.Node.String())
		b.WriteString(": ")
	}
	if e.Value != "" {
		fmt.Fprintf(&b, "value %q: ", e.Value)
	}
	b.WriteString(e.Reason)
	return b.String()
}

// InferShapes computes the element type and shape of every node output, in
// topological order, from the graph inputs' declared types and the
// initializers. It covers the operators of MobileNet V1/V2/V3, ResNet and
// Inception/DenseNet-style CNNs as PyTorch and tf2onnx export them, including
// the Shape→Gather→Unsqueeze→Concat chains in front of Reshape, whose values
// it evaluates (symbolically for a dynamic batch).
//
// The first dimension of a graph input may be symbolic (a dynamic batch);
// every other dimension must resolve. Outputs of operators the inference
// does not know keep their declared types when the file declares them.
//
// Conflicts (a Conv whose weights do not match its input's channels,
// mismatched Concat or Add operands, ...) are reported as *ShapeError.
func (g *Graph) InferShapes() error {
	order, err := g.Topo()
	if err != nil {
		return err
	}
	inf := &inferer{known: map[*Value]*knownVal{}}
	for _, v := range g.inits {
		inf.learnConst(v, v.Const)
	}
	for _, n := range order {
		if err := inf.node(n); err != nil {
			var se *ShapeError
			if errors.As(err, &se) {
				return err
			}
			return &ShapeError{Node: n, Reason: err.Error()}
		}
	}
	return g.checkResolved(order)
}

// SetInputShape fixes the shape of a graph input (e.g. to give a model with
// dynamic spatial dimensions a concrete resolution).
func (g *Graph) SetInputShape(name string, dims []int64) error {
	for _, in := range g.Inputs {
		if in.Name == name && !in.IsConst() {
			in.Type.Shape = ShapeOf(dims...)
			in.Type.HasShape = true
			return nil
		}
	}
	return fmt.Errorf("onnxio: model has no input named %q", name)
}

// checkResolved reports values of tensor type whose rank, or whose non-batch
// dimensions, stayed unknown.
func (g *Graph) checkResolved(order []*Node) error {
	for _, in := range g.Inputs {
		if in.IsConst() || !in.Type.HasShape {
			continue
		}
		for i, d := range in.Type.Shape {
			if i > 0 && !d.Known() {
				return &ShapeError{Value: in.Name, Reason: fmt.Sprintf(
					"graph input has shape %v; only the first (batch) dimension may be dynamic: give it a fixed shape (--input-shape %s=...)", in.Type.Shape, in.Name)}
			}
		}
	}
	for _, n := range order {
		for _, o := range n.outputs {
			if o == nil {
				continue
			}
			if o.Type.NotTensor {
				continue
			}
			if !o.Type.HasShape {
				return &ShapeError{Node: n, Value: o.Name, Reason: "shape could not be inferred"}
			}
			for i, d := range o.Type.Shape {
				if i > 0 && !d.Known() {
					return &ShapeError{Node: n, Value: o.Name, Reason: fmt.Sprintf("dimension %d of %v did not resolve", i, o.Type.Shape)}
				}
			}
		}
	}
	return nil
}

// knownVal is the value of a small tensor known at inference time: integer
// elements (possibly symbolic, e.g. a dynamic batch read by Shape) or
// floats.
type knownVal struct {
	shape []int64
	ints  []sym     // integer tensors
	flts  []float64 // float tensors
}

// sym is an integer element known at inference time: a concrete value
// (possibly negative, like Reshape's -1), a symbolic dimension (a dynamic
// batch read by Shape), or unknown.
type sym struct {
	v       int64
	param   string
	unknown bool
}

func (s sym) known() bool { return !s.unknown && s.param == "" }

func symOf(d Dim) sym {
	switch {
	case d.Known():
		return sym{v: d.Value}
	case d.Param != "":
		return sym{param: d.Param}
	}
	return sym{unknown: true}
}

// dim reads s as a dimension size.
func (s sym) dim() Dim {
	switch {
	case s.known() && s.v >= 0:
		return Dim{Value: s.v}
	case s.param != "":
		return Dim{Value: -1, Param: s.param}
	}
	return Dim{Value: -1}
}

func dimsOf(ss []sym) Shape {
	out := make(Shape, len(ss))
	for i, s := range ss {
		out[i] = s.dim()
	}
	return out
}

// maxKnown bounds the tensors whose values inference tracks.
const maxKnown = 1 << 12

type inferer struct {
	known map[*Value]*knownVal
}

func (inf *inferer) learnConst(v *Value, t *Tensor) {
	n := t.NumElements()
	if n > maxKnown {
		return
	}
	k := &knownVal{shape: t.Dims}
	switch t.DataType {
	case Float, Double:
		f, err := t.Float64s()
		if err != nil {
			return
		}
		k.flts = f
	case Int64, Int32, Int16, Int8, Uint8, Uint16, Uint32, Bool:
		ints, err := t.Int64s()
		if err != nil {
			return
		}
		k.ints = make([]sym, len(ints))
		for i, x := range ints {
			k.ints[i] = sym{v: x}
		}
	default:
		return
	}
	inf.known[v] = k
}

// intsOf returns the known integer contents of v, all concrete.
func (inf *inferer) intsOf(v *Value) ([]int64, bool) {
	k := inf.known[v]
	if v == nil || k == nil || k.ints == nil {
		return nil, false
	}
	out := make([]int64, len(k.ints))
	for i, d := range k.ints {
		if !d.known() {
			return nil, false
		}
		out[i] = d.v
	}
	return out, true
}

func (inf *inferer) floatsOf(v *Value) ([]float64, bool) {
	k := inf.known[v]
	if v == nil || k == nil {
		return nil, false
	}
	if k.flts != nil {
		return k.flts, true
	}
	ints, ok := inf.intsOf(v)
	if !ok {
		return nil, false
	}
	f := make([]float64, len(ints))
	for i, x := range ints {
		f[i] = float64(x)
	}
	return f, true
}

func set(v *Value, elem DataType, s Shape) {
	if v == nil {
		return
	}
	v.Type = Type{Elem: elem, Shape: s, HasShape: true}
}

func in(n *Node, i int) (*Value, Shape, error) {
	v := n.Input(i)
	if v == nil {
		return nil, nil, fmt.Errorf("input %d is missing", i)
	}
	if !v.Type.HasShape {
		return v, nil, &ShapeError{Node: n, Value: v.Name, Reason: "input shape is not known"}
	}
	return v, v.Type.Shape, nil
}

// shapeFuncs infers the outputs of the operators that need more than their
// class (ClassOf) says.
var shapeFuncs = map[string]func(*inferer, *Node) error{
	"ArgMax":             (*inferer).argMax,
	"ArgMin":             (*inferer).argMax,
	"BatchNormalization": (*inferer).batchNorm,
	"Cast":               (*inferer).cast,
	"Concat":             (*inferer).concat,
	"Constant":           (*inferer).constant,
	"ConstantOfShape":    (*inferer).constantOfShape,
	"Conv":               (*inferer).conv,
	"ConvTranspose":      (*inferer).convTranspose,
	"DepthToSpace":       (*inferer).depthToSpace,
	"Dropout":            (*inferer).dropout,
	"Expand":             (*inferer).expand,
	"Flatten":            (*inferer).flatten,
	"Gather":             (*inferer).gather,
	"Gemm":               (*inferer).gemm,
	"MatMul":             (*inferer).matmul,
	"Pad":                (*inferer).pad,
	"Reshape":            (*inferer).reshape,
	"Resize":             (*inferer).resize,
	"Shape":              (*inferer).shapeOp,
	"Size":               (*inferer).size,
	"Slice":              (*inferer).slice,
	"SpaceToDepth":       (*inferer).depthToSpace,
	"Split":              (*inferer).split,
	"Squeeze":            (*inferer).squeeze,
	"Transpose":          (*inferer).transpose,
	"Unsqueeze":          (*inferer).unsqueeze,
	"Upsample":           (*inferer).resize,
}

// node infers the types of n's outputs: by operator where shapeFuncs has
// it, else by its class.
func (inf *inferer) node(n *Node) error {
	if !n.DefaultDomain() {
		return inf.declaredOnly(n)
	}
	if n.Op == "Identity" && n.Input(0) != nil && !n.Input(0).Type.HasShape {
		n.Output(0).Type = cloneType(n.Input(0).Type) // optional or sequence values
		return nil
	}
	if f := shapeFuncs[n.Op]; f != nil {
		return f(inf, n)
	}
	switch ClassOf(n.Op) {
	case OpUnary, OpNormalize:
		return inf.unary(n)
	case OpBroadcast:
		return inf.broadcast(n)
	case OpPool:
		return inf.pool(n)
	case OpGlobalPool:
		return inf.globalPool(n)
	case OpReduce:
		return inf.reduce(n)
	}
	return inf.declaredOnly(n)
}

// unary: output 0 has input 0's shape (OpUnary, OpNormalize). Known values
// pass through Identity and Neg.
func (inf *inferer) unary(n *Node) error {
	x, s, err := in(n, 0)
	if err != nil {
		return err
	}
	elem := x.Type.Elem
	switch {
	case boolResult[n.Op]:
		elem = Bool
	case n.Op == "CastLike" && n.Input(1) != nil && n.Input(1).Type.Elem != Undefined:
		elem = n.Input(1).Type.Elem
	}
	set(n.Output(0), elem, s)
	switch k := inf.known[x]; {
	case k == nil:
	case n.Op == "Identity":
		inf.known[n.Output(0)] = k
	case n.Op == "Neg" && k.ints != nil:
		c := &knownVal{shape: k.shape, ints: make([]sym, len(k.ints))}
		for i, d := range k.ints {
			c.ints[i] = sym{unknown: true}
			if d.known() {
				c.ints[i] = sym{v: -d.v}
			}
		}
		inf.known[n.Output(0)] = c
	}
	return nil
}

func (inf *inferer) depthToSpace(n *Node) error {
	x, s, err := in(n, 0)
	if err != nil {
		return err
	}
	b := n.AttrInt("blocksize", 0)
	if len(s) != 4 || b <= 0 {
		return fmt.Errorf("%s needs a rank-4 input and a positive blocksize", n.Op)
	}
	out := append(Shape{}, s...)
	scale := func(d Dim, up bool) Dim {
		switch {
		case !d.Known():
			return Dim{Value: -1}
		case up:
			return Dim{Value: d.Value * b}
		case d.Value%b != 0:
			return Dim{Value: -1}
		}
		return Dim{Value: d.Value / b}
	}
	d2s := n.Op == "DepthToSpace"
	if s[1].Known() && d2s && s[1].Value%(b*b) != 0 {
		return fmt.Errorf("%d channels do not divide by blocksize² %d", s[1].Value, b*b)
	}
	if d2s {
		out[1] = scale(scale(s[1], false), false)
	} else {
		out[1] = scale(scale(s[1], true), true)
	}
	out[2], out[3] = scale(s[2], d2s), scale(s[3], d2s)
	set(n.Output(0), x.Type.Elem, out)
	return nil
}

func (inf *inferer) batchNorm(n *Node) error {
	x, s, err := in(n, 0)
	if err != nil {
		return err
	}
	if len(s) < 2 {
		return fmt.Errorf("input has rank %d; BatchNormalization needs rank ≥ 2", len(s))
	}
	for i := 1; i < 5; i++ {
		if p := n.Input(i); p != nil && p.Type.HasShape && len(p.Type.Shape) == 1 &&
			p.Type.Shape[0].Known() && s[1].Known() && p.Type.Shape[0].Value != s[1].Value {
			return &ShapeError{Node: n, Value: p.Name, Reason: fmt.Sprintf("has %d channels, input has %d", p.Type.Shape[0].Value, s[1].Value)}
		}
	}
	set(n.Output(0), x.Type.Elem, s)
	for i := 1; i < len(n.outputs); i++ {
		set(n.Output(i), x.Type.Elem, Shape{s[1]})
	}
	return nil
}

func (inf *inferer) globalPool(n *Node) error {
	x, s, err := in(n, 0)
	if err != nil {
		return err
	}
	out := append(Shape{}, s...)
	for i := 2; i < len(out); i++ {
		out[i] = Dim{Value: 1}
	}
	set(n.Output(0), x.Type.Elem, out)
	return nil
}

func (inf *inferer) flatten(n *Node) error {
	x, s, err := in(n, 0)
	if err != nil {
		return err
	}
	axis := n.AttrInt("axis", 1)
	if axis < 0 {
		axis += int64(len(s))
	}
	if axis < 0 || axis > int64(len(s)) {
		return fmt.Errorf("axis %d is out of range for rank %d", n.AttrInt("axis", 1), len(s))
	}
	set(n.Output(0), x.Type.Elem, Shape{product(s[:axis]), product(s[axis:])})
	return nil
}

func (inf *inferer) transpose(n *Node) error {
	x, s, err := in(n, 0)
	if err != nil {
		return err
	}
	perm := n.AttrInts("perm")
	if perm == nil {
		for i := len(s) - 1; i >= 0; i-- {
			perm = append(perm, int64(i))
		}
	}
	if len(perm) != len(s) {
		return fmt.Errorf("perm %v does not fit rank %d", perm, len(s))
	}
	out := make(Shape, len(s))
	for i, p := range perm {
		if p < 0 || int(p) >= len(s) {
			return fmt.Errorf("perm %v is out of range", perm)
		}
		out[i] = s[p]
	}
	set(n.Output(0), x.Type.Elem, out)
	return nil
}

func (inf *inferer) dropout(n *Node) error {
	x, s, err := in(n, 0)
	if err != nil {
		return err
	}
	set(n.Output(0), x.Type.Elem, s)
	set(n.Output(1), Bool, s)
	return nil
}

func (inf *inferer) size(n *Node) error {
	_, s, err := in(n, 0)
	if err != nil {
		return err
	}
	set(n.Output(0), Int64, Shape{})
	inf.known[n.Output(0)] = &knownVal{ints: []sym{symOf(product(s))}}
	return nil
}

func (inf *inferer) cast(n *Node) error {
	x, s, err := in(n, 0)
	if err != nil {
		return err
	}
	to := DataType(n.AttrInt("to", int64(Float)))
	set(n.Output(0), to, s)
	if k := inf.known[x]; k != nil {
		inf.known[n.Output(0)] = castKnown(k, to)
	}
	return nil
}

func (inf *inferer) constantOfShape(n *Node) error {
	dims, ok := inf.intsOf(n.Input(0))
	if !ok {
		return errors.New("shape input is not a known constant")
	}
	elem := Float
	fill := &knownVal{flts: []float64{0}}
	if t := n.AttrTensor("value"); t != nil {
		elem = t.DataType
		inf.learnConst(n.Output(0), t)
		fill = inf.known[n.Output(0)]
	}
	out := ShapeOf(dims...)
	set(n.Output(0), elem, out)
	delete(inf.known, n.Output(0))
	if cnt, err := NumElements(dims); err == nil && cnt <= maxKnown && fill != nil {
		k := &knownVal{shape: dims}
		for range cnt {
			if fill.ints != nil {
				k.ints = append(k.ints, fill.ints[0])
			} else {
				k.flts = append(k.flts, fill.flts[0])
			}
		}
		if cnt == 0 && fill.ints != nil {
			k.ints = []sym{}
		}
		inf.known[n.Output(0)] = k
	}
	return nil
}

func (inf *inferer) expand(n *Node) error {
	x, s, err := in(n, 0)
	if err != nil {
		return err
	}
	k := inf.known[n.Input(1)]
	if k == nil || k.ints == nil {
		return errors.New("shape input is not a known constant")
	}
	out, err := broadcastShapes(s, dimsOf(k.ints))
	if err != nil {
		return err
	}
	set(n.Output(0), x.Type.Elem, out)
	return nil
}

func (inf *inferer) argMax(n *Node) error {
	_, s, err := in(n, 0)
	if err != nil {
		return err
	}
	axis, err := normAxis(n.AttrInt("axis", 0), len(s))
	if err != nil {
		return err
	}
	out := append(Shape{}, s...)
	if n.AttrInt("keepdims", 1) == 1 {
		out[axis] = Dim{Value: 1}
	} else {
		out = append(out[:axis], out[axis+1:]...)
	}
	set(n.Output(0), Int64, out)
	return nil
}

// declaredOnly handles an operator the inference does not know: its outputs
// keep the types the file declares, or the inference fails.
func (inf *inferer) declaredOnly(n *Node) error {
	for _, o := range n.outputs {
		if o != nil && !o.Type.HasShape {
			return &ShapeError{Node: n, Reason: fmt.Sprintf("shape inference does not know operator %s (domain %q), and the file declares no shape for its output %q", n.Op, n.Domain, o.Name)}
		}
	}
	return nil
}

func normAxis(a int64, rank int) (int, error) {
	if a < 0 {
		a += int64(rank)
	}
	if a < 0 || a >= int64(rank) {
		return 0, fmt.Errorf("axis %d is out of range for rank %d", a, rank)
	}
	return int(a), nil
}

// product multiplies dims: known when all are, the symbolic dim itself when
// it is the only non-one factor, else unknown.
func product(s Shape) Dim {
	p := int64(1)
	var sym []Dim
	for _, d := range s {
		switch {
		case d.Known():
			p = mulClamp(p, d.Value)
		default:
			sym = append(sym, d)
		}
	}
	switch {
	case len(sym) == 0:
		return Dim{Value: p}
	case len(sym) == 1 && p == 1:
		return sym[0]
	}
	return Dim{Value: -1}
}

func mulClamp(a, b int64) int64 {
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}

func sameDim(a, b Dim) bool {
	if a.Known() || b.Known() {
		return a.Value == b.Value
	}
	return a.Param != "" && a.Param == b.Param
}

// broadcastShapes applies NumPy broadcasting.
func broadcastShapes(a, b Shape) (Shape, error) {
	r := max(len(a), len(b))
	out := make(Shape, r)
	for i := range r {
		da, db := Dim{Value: 1}, Dim{Value: 1}
		if j := i - (r - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (r - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da.Known() && da.Value == 1:
			out[i] = db
		case db.Known() && db.Value == 1:
			out[i] = da
		case sameDim(da, db):
			out[i] = da
		case da.Known() && db.Known():
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		case da.Known():
			out[i] = da
		case db.Known():
			out[i] = db
		default:
			out[i] = Dim{Value: -1}
		}
	}
	return out, nil
}

func (inf *inferer) broadcast(n *Node) error {
	var out Shape
	var elem DataType
	first := true
	for i, v := range n.inputs {
		if v == nil {
			continue
		}
		if !v.Type.HasShape {
			return &ShapeError{Node: n, Value: v.Name, Reason: "input shape is not known"}
		}
		if first {
			out, elem, first = append(Shape{}, v.Type.Shape...), v.Type.Elem, false
			continue
		}
		if n.Op == "Where" && i == 1 {
			elem = v.Type.Elem
		}
		var err error
		if out, err = broadcastShapes(out, v.Type.Shape); err != nil {
			return &ShapeError{Node: n, Reason: err.Error()}
		}
	}
	if boolResult[n.Op] {
		elem = Bool
	}
	set(n.Output(0), elem, out)
	inf.foldArith(n)
	return nil
}

// foldArith evaluates integer Add/Sub/Mul/Div on known values (shape
// arithmetic in exported graphs).
func (inf *inferer) foldArith(n *Node) {
	switch n.Op {
	case "Add", "Sub", "Mul", "Div":
	default:
		return
	}
	a, b := inf.known[n.Input(0)], inf.known[n.Input(1)]
	if a == nil || b == nil || a.ints == nil || b.ints == nil {
		return
	}
	if len(a.ints) != len(b.ints) && len(a.ints) != 1 && len(b.ints) != 1 {
		return
	}
	m := max(len(a.ints), len(b.ints))
	out := make([]sym, m)
	for i := range m {
		x, y := a.ints[min(i, len(a.ints)-1)], b.ints[min(i, len(b.ints)-1)]
		if !x.known() || !y.known() {
			out[i] = sym{unknown: true}
			if (n.Op == "Mul" || n.Op == "Div") && y.known() && y.v == 1 {
				out[i] = x
			}
			continue
		}
		switch n.Op {
		case "Add":
			out[i] = sym{v: x.v + y.v}
		case "Sub":
			out[i] = sym{v: x.v - y.v}
		case "Mul":
			out[i] = sym{v: x.v * y.v}
		case "Div":
			if y.v == 0 {
				return
			}
			out[i] = sym{v: x.v / y.v}
		}
	}
	shape := a.shape
	if len(b.ints) > len(a.ints) {
		shape = b.shape
	}
	inf.known[n.Output(0)] = &knownVal{shape: shape, ints: out}
}

func (inf *inferer) conv(n *Node) error {
	x, s, err := in(n, 0)
	if err != nil {
		return err
	}
	wv, ws, err := in(n, 1)
	if err != nil {
		return err
	}
	if len(s) < 3 || len(ws) != len(s) {
		return fmt.Errorf("input %v and weights %v must have the same rank ≥ 3", s, ws)
	}
	group := n.AttrInt("group", 1)
	if group <= 0 {
		return fmt.Errorf("group %d must be positive", group)
	}
	if s[1].Known() && ws[1].Known() && s[1].Value != ws[1].Value*group {
		return &ShapeError{Node: n, Value: wv.Name, Reason: fmt.Sprintf(
			"weights %v expect %d input channels (%d per group × group %d), input %q has %d", ws, ws[1].Value*group, ws[1].Value, group, x.Name, s[1].Value)}
	}
	if ws[0].Known() && ws[0].Value%group != 0 {
		return &ShapeError{Node: n, Value: wv.Name, Reason: fmt.Sprintf("%d output channels do not divide into %d groups", ws[0].Value, group)}
	}
	if b := n.Input(2); b != nil && b.Type.HasShape {
		if len(b.Type.Shape) != 1 || b.Type.Shape[0].Known() && ws[0].Known() && b.Type.Shape[0].Value != ws[0].Value {
			return &ShapeError{Node: n, Value: b.Name, Reason: fmt.Sprintf("bias shape %v does not match %v output channels", b.Type.Shape, ws[0])}
		}
	}
	kernel := n.AttrInts("kernel_shape")
	if kernel == nil {
		for _, d := range ws[2:] {
			if !d.Known() {
				return errors.New("kernel shape is not known")
			}
			kernel = append(kernel, d.Value)
		}
	}
	if len(kernel) != len(s)-2 {
		return fmt.Errorf("kernel_shape %v does not fit input %v", kernel, s)
	}
	w, err := readWindow(n, kernel)
	if err != nil {
		return err
	}
	out := Shape{s[0], ws[0]}
	for i, d := range s[2:] {
		if !d.Known() {
			out = append(out, Dim{Value: -1})
			continue
		}
		o, err := w.OutSize(i, d.Value, false)
		if err != nil {
			return err
		}
		out = append(out, Dim{Value: o})
	}
	set(n.Output(0), x.Type.Elem, out)
	return nil
}

// convTranspose: out = stride·(in−1) + output_padding + (k−1)·dilation + 1
// − pads, unless output_shape is given.
func (inf *inferer) convTranspose(n *Node) error {
	x, s, err := in(n, 0)
	if err != nil {
		return err
	}
	_, ws, err := in(n, 1)
	if err != nil {
		return err
	}
	if len(s) < 3 || len(ws) != len(s) {
		return fmt.Errorf("input %v and weights %v must have the same rank ≥ 3", s, ws)
	}
	group := n.AttrInt("group", 1)
	if group <= 0 {
		return fmt.Errorf("group %d must be positive", group)
	}
	if s[1].Known() && ws[0].Known() && s[1].Value != ws[0].Value {
		return fmt.Errorf("weights %v expect %d input channels, input has %d", ws, ws[0].Value, s[1].Value)
	}
	cout := Dim{Value: -1}
	if ws[1].Known() {
		cout = Dim{Value: ws[1].Value * group}
	}
	k := len(s) - 2
	kernel := n.AttrInts("kernel_shape")
	if kernel == nil {
		for _, d := range ws[2:] {
			kernel = append(kernel, d.Value)
		}
	}
	w, err := readWindow(n, kernel)
	if err != nil {
		return err
	}
	outPad := n.AttrInts("output_padding")
	if outPad == nil {
		outPad = make([]int64, k)
	}
	outShape := n.AttrInts("output_shape")
	out := Shape{s[0], cout}
	for i := range k {
		switch {
		case len(outShape) == k:
			out = append(out, Dim{Value: outShape[i]})
		case len(outShape) == k+2:
			out = append(out, Dim{Value: outShape[i+2]})
		case !s[i+2].Known() || kernel[i] <= 0 || i >= len(outPad):
			out = append(out, Dim{Value: -1})
		default:
			if w.same() {
				out = append(out, Dim{Value: s[i+2].Value * w.Strides[i]})
				continue
			}
			begin, end := w.Padding(i, s[i+2].Value)
			out = append(out, Dim{Value: w.Strides[i]*(s[i+2].Value-1) + outPad[i] + w.extent(i) - begin - end})
		}
	}
	set(n.Output(0), x.Type.Elem, out)
	return nil
}

func (inf *inferer) pool(n *Node) error {
	x, s, err := in(n, 0)
	if err != nil {
		return err
	}
	kernel := n.AttrInts("kernel_shape")
	if len(kernel) != len(s)-2 {
		return fmt.Errorf("kernel_shape %v does not fit input %v", kernel, s)
	}
	w, err := readWindow(n, kernel)
	if err != nil {
		return err
	}
	ceil := n.AttrInt("ceil_mode", 0) == 1
	out := Shape{s[0], s[1]}
	for i, d := range s[2:] {
		if !d.Known() {
			out = append(out, Dim{Value: -1})
			continue
		}
		o, err := w.OutSize(i, d.Value, ceil)
		if err != nil {
			return err
		}
		out = append(out, Dim{Value: o})
	}
	set(n.Output(0), x.Type.Elem, out)
	set(n.Output(1), Int64, out)
	return nil
}

func (inf *inferer) reshape(n *Node) error {
	x, s, err := in(n, 0)
	if err != nil {
		return err
	}
	var target []sym
	if sh := n.AttrInts("shape"); sh != nil && n.Input(1) == nil { // Reshape-1
		for _, x := range sh {
			target = append(target, sym{v: x})
		}
	} else if k := inf.known[n.Input(1)]; k != nil && k.ints != nil {
		target = k.ints
	} else {
		return &ShapeError{Node: n, Reason: "target shape is not a constant the inference can evaluate"}
	}
	allowZero := n.AttrInt("allowzero", 0) == 1
	out := make(Shape, len(target))
	infer := -1
	for i, d := range target {
		switch {
		case d.known() && d.v == 0 && !allowZero:
			if i >= len(s) {
				return fmt.Errorf("target %v copies dim %d of a rank-%d input", dimsOf(target), i, len(s))
			}
			out[i] = s[i]
		case d.known() && d.v == -1:
			if infer >= 0 {
				return fmt.Errorf("target shape has more than one -1")
			}
			infer = i
		case d.known() && d.v < 0:
			return fmt.Errorf("target shape has a negative size %d", d.v)
		default:
			out[i] = d.dim()
		}
	}
	if infer >= 0 {
		out[infer] = divideDims(s, out, infer)
	}
	set(n.Output(0), x.Type.Elem, out)
	if k := inf.known[x]; k != nil && out.Known() {
		c := *k
		c.shape = out.Ints()
		inf.known[n.Output(0)] = &c
	}
	return nil
}

// divideDims infers the -1 entry at skip of target from the input shape s:
// product(s) / product(target without skip), cancelling symbolic dims that
// appear on both sides.
func divideDims(s, target Shape, skip int) Dim {
	num, den := int64(1), int64(1)
	params := map[string]int{}
	for _, d := range s {
		switch {
		case d.Known():
			num = mulClamp(num, d.Value)
		case d.Param != "":
			params[d.Param]++
		default:
			return Dim{Value: -1}
		}
	}
	for i, d := range target {
		if i == skip {
			continue
		}
		switch {
		case d.Known():
			den = mulClamp(den, d.Value)
		case d.Param != "":
			params[d.Param]--
		default:
			return Dim{Value: -1}
		}
	}
	var left []string
	for p, c := range params {
		if c < 0 || c > 1 {
			return Dim{Value: -1}
		}
		if c == 1 {
			left = append(left, p)
		}
	}
	if den == 0 || num%den != 0 {
		return Dim{Value: -1}
	}
	switch {
	case len(left) == 0:
		return Dim{Value: num / den}
	case len(left) == 1 && num == den:
		return Dim{Value: -1, Param: left[0]}
	}
	return Dim{Value: -1}
}

func (inf *inferer) gemm(n *Node) error {
	a, sa, err := in(n, 0)
	if err != nil {
		return err
	}
	bv, sb, err := in(n, 1)
	if err != nil {
		return err
	}
	if len(sa) != 2 || len(sb) != 2 {
		return fmt.Errorf("Gemm needs 2-D operands, got %v and %v", sa, sb)
	}
	m, k := sa[0], sa[1]
	if n.AttrInt("transA", 0) == 1 {
		m, k = k, m
	}
	k2, nn := sb[0], sb[1]
	if n.AttrInt("transB", 0) == 1 {
		k2, nn = nn, k2
	}
	if k.Known() && k2.Known() && k.Value != k2.Value {
		return &ShapeError{Node: n, Value: bv.Name, Reason: fmt.Sprintf("B %v expects %d input features, A %q has %d", sb, k2.Value, a.Name, k.Value)}
	}
	out := Shape{m, nn}
	if c := n.Input(2); c != nil && c.Type.HasShape {
		if _, err := broadcastShapes(out, c.Type.Shape); err != nil {
			return &ShapeError{Node: n, Value: c.Name, Reason: "bias " + err.Error()}
		}
	}
	set(n.Output(0), a.Type.Elem, out)
	return nil
}

func (inf *inferer) matmul(n *Node) error {
	a, sa, err := in(n, 0)
	if err != nil {
		return err
	}
	bv, sb, err := in(n, 1)
	if err != nil {
		return err
	}
	if len(sa) == 0 || len(sb) == 0 {
		return errors.New("MatMul operands must not be scalars")
	}
	pa, pb := append(Shape{}, sa...), append(Shape{}, sb...)
	if len(pa) == 1 {
		pa = Shape{{Value: 1}, pa[0]}
	}
	if len(pb) == 1 {
		pb = Shape{pb[0], {Value: 1}}
	}
	k, k2 := pa[len(pa)-1], pb[len(pb)-2]
	if k.Known() && k2.Known() && k.Value != k2.Value {
		return &ShapeError{Node: n, Value: bv.Name, Reason: fmt.Sprintf("B %v expects %d input features, A %q has %d", sb, k2.Value, a.Name, k.Value)}
	}
	batch, err := broadcastShapes(pa[:len(pa)-2], pb[:len(pb)-2])
	if err != nil {
		return err
	}
	out := append(batch, pa[len(pa)-2], pb[len(pb)-1])
	if len(sa) == 1 {
		out = append(out[:len(out)-2], out[len(out)-1])
	}
	if len(sb) == 1 {
		out = out[:len(out)-1]
	}
	set(n.Output(0), a.Type.Elem, out)
	return nil
}

// axesOf reads an "axes" attribute, or the constant input i (opset 13+).
func (inf *inferer) axesOf(n *Node, i int) ([]int64, bool, error) {
	if a := n.AttrInts("axes"); a != nil {
		return a, true, nil
	}
	if v := n.Input(i); v != nil {
		ax, ok := inf.intsOf(v)
		if !ok {
			return nil, false, errors.New("axes input is not a known constant")
		}
		return ax, true, nil
	}
	return nil, false, nil
}

func (inf *inferer) squeeze(n *Node) error {
	x, s, err := in(n, 0)
	if err != nil {
		return err
	}
	axes, given, err := inf.axesOf(n, 1)
	if err != nil {
		return err
	}
	drop := map[int]bool{}
	if given {
		for _, a := range axes {
			ax, err := normAxis(a, len(s))
			if err != nil {
				return err
			}
			if s[ax].Known() && s[ax].Value != 1 {
				return fmt.Errorf("cannot squeeze axis %d of %v", ax, s)
			}
			drop[ax] = true
		}
	} else {
		for i, d := range s {
			if !d.Known() {
				return fmt.Errorf("cannot tell which dims of %v are 1", s)
			}
			if d.Value == 1 {
				drop[i] = true
			}
		}
	}
	var out Shape
	for i, d := range s {
		if !drop[i] {
			out = append(out, d)
		}
	}
	set(n.Output(0), x.Type.Elem, out)
	if k := inf.known[x]; k != nil {
		c := *k
		c.shape = out.Ints()
		inf.known[n.Output(0)] = &c
	}
	return nil
}

func (inf *inferer) unsqueeze(n *Node) error {
	x, s, err := in(n, 0)
	if err != nil {
		return err
	}
	axes, given, err := inf.axesOf(n, 1)
	if err != nil {
		return err
	}
	if !given {
		return errors.New("Unsqueeze has no axes")
	}
	r := len(s) + len(axes)
	ins := map[int]bool{}
	for _, a := range axes {
		ax, err := normAxis(a, r)
		if err != nil {
			return err
		}
		ins[ax] = true
	}
	out := make(Shape, 0, r)
	j := 0
	for i := range r {
		if ins[i] {
			out = append(out, Dim{Value: 1})
		} else if j < len(s) {
			out = append(out, s[j])
			j++
		}
	}
	if len(out) != r {
		return fmt.Errorf("axes %v repeat", axes)
	}
	set(n.Output(0), x.Type.Elem, out)
	if k := inf.known[x]; k != nil {
		c := *k
		c.shape = out.Ints()
		inf.known[n.Output(0)] = &c
	}
	return nil
}

func (inf *inferer) concat(n *Node) error {
	var out Shape
	var elem DataType
	var axis int
	var err error
	allKnown := true
	var ints []sym
	for i, v := range n.inputs {
		if v == nil {
			continue
		}
		if !v.Type.HasShape {
			return &ShapeError{Node: n, Value: v.Name, Reason: "input shape is not known"}
		}
		s := v.Type.Shape
		if k := inf.known[v]; k != nil && k.ints != nil && len(s) == 1 {
			ints = append(ints, k.ints...)
		} else {
			allKnown = false
		}
		if out == nil {
			elem = v.Type.Elem
			if axis, err = normAxis(n.AttrInt("axis", 0), len(s)); err != nil {
				return err
			}
			out = append(Shape{}, s...)
			continue
		}
		if len(s) != len(out) {
			return &ShapeError{Node: n, Value: v.Name, Reason: fmt.Sprintf("rank %d differs from %d", len(s), len(out))}
		}
		for d := range s {
			if d == axis {
				if out[d].Known() && s[d].Known() {
					out[d].Value += s[d].Value
				} else {
					out[d] = Dim{Value: -1}
				}
				continue
			}
			if out[d].Known() && s[d].Known() && out[d].Value != s[d].Value {
				return &ShapeError{Node: n, Value: v.Name, Reason: fmt.Sprintf("input %d has shape %v, which does not match %v off the concat axis %d", i, s, out, axis)}
			}
			if !out[d].Known() && s[d].Known() {
				out[d] = s[d]
			}
		}
	}
	if out == nil {
		return errors.New("Concat has no inputs")
	}
	set(n.Output(0), elem, out)
	if allKnown && len(out) == 1 {
		inf.known[n.Output(0)] = &knownVal{shape: out.Ints(), ints: ints}
	}
	return nil
}

func (inf *inferer) split(n *Node) error {
	x, s, err := in(n, 0)
	if err != nil {
		return err
	}
	axis, err := normAxis(n.AttrInt("axis", 0), len(s))
	if err != nil {
		return err
	}
	parts := n.AttrInts("split")
	if parts == nil && n.Input(1) != nil {
		var ok bool
		if parts, ok = inf.intsOf(n.Input(1)); !ok {
			return errors.New("split input is not a known constant")
		}
	}
	k := len(n.outputs)
	if parts == nil {
		if !s[axis].Known() {
			return fmt.Errorf("cannot split unknown dim %d", axis)
		}
		total := s[axis].Value
		if num := n.AttrInt("num_outputs", 0); num > 0 {
			k = int(num)
		}
		chunk := (total + int64(k) - 1) / int64(k)
		for i := range k {
			parts = append(parts, max(0, min(chunk, total-int64(i)*chunk)))
		}
	}
	if len(parts) != len(n.outputs) {
		return fmt.Errorf("split %v does not match %d outputs", parts, len(n.outputs))
	}
	var sum int64
	for _, p := range parts {
		sum += p
	}
	if s[axis].Known() && sum != s[axis].Value {
		return fmt.Errorf("split %v sums to %d, but dim %d is %d", parts, sum, axis, s[axis].Value)
	}
	for i, o := range n.outputs {
		out := append(Shape{}, s...)
		out[axis] = Dim{Value: parts[i]}
		set(o, x.Type.Elem, out)
	}
	return nil
}

func (inf *inferer) pad(n *Node) error {
	x, s, err := in(n, 0)
	if err != nil {
		return err
	}
	pads := n.AttrInts("pads")
	if pads == nil {
		var ok bool
		if pads, ok = inf.intsOf(n.Input(1)); !ok {
			return errors.New("pads input is not a known constant")
		}
	}
	axes := make([]int, len(s))
	for i := range axes {
		axes[i] = i
	}
	if av := n.Input(3); av != nil {
		ax, ok := inf.intsOf(av)
		if !ok {
			return errors.New("axes input is not a known constant")
		}
		axes = axes[:0]
		for _, a := range ax {
			i, err := normAxis(a, len(s))
			if err != nil {
				return err
			}
			axes = append(axes, i)
		}
	}
	if len(pads) != 2*len(axes) {
		return fmt.Errorf("pads %v do not fit %d axes", pads, len(axes))
	}
	out := append(Shape{}, s...)
	for j, a := range axes {
		if out[a].Known() {
			out[a].Value += pads[j] + pads[j+len(axes)]
			if out[a].Value < 0 {
				return fmt.Errorf("pads %v make dim %d negative", pads, a)
			}
		}
	}
	set(n.Output(0), x.Type.Elem, out)
	return nil
}

func (inf *inferer) resize(n *Node) error {
	x, s, err := in(n, 0)
	if err != nil {
		return err
	}
	var scales []float64
	var sizes []int64
	switch {
	case n.Op == "Upsample" || len(n.inputs) == 2: // Upsample, or Resize-10: (X, scales)
		if sc := n.AttrFloats("scales"); sc != nil {
			for _, f := range sc {
				scales = append(scales, float64(f))
			}
		} else if f, ok := inf.floatsOf(n.Input(1)); ok {
			scales = f
		}
	default:
		if v := n.Input(3); v != nil {
			sizes, _ = inf.intsOf(v)
		}
		if sizes == nil {
			if f, ok := inf.floatsOf(n.Input(2)); ok && len(f) > 0 {
				scales = f
			}
		}
	}
	out := append(Shape{}, s...)
	switch {
	case sizes != nil && len(sizes) == len(s):
		out = ShapeOf(sizes...)
		out[0] = s[0]
		if sizes[0] != 1 || !s[0].Known() {
			out[0] = Dim{Value: sizes[0]}
			if !s[0].Known() && sizes[0] == 1 {
				out[0] = s[0]
			}
		}
	case scales != nil && len(scales) == len(s):
		for i, d := range s {
			if d.Known() {
				out[i] = Dim{Value: int64(math.Floor(float64(d.Value) * scales[i]))}
			} else if scales[i] != 1 {
				out[i] = Dim{Value: -1}
			}
		}
	default:
		return errors.New("neither scales nor sizes are known constants of the input's rank")
	}
	set(n.Output(0), x.Type.Elem, out)
	return nil
}

func (inf *inferer) constant(n *Node) error {
	t := ConstantValue(n)
	if t == nil {
		return inf.declaredOnly(n)
	}
	set(n.Output(0), t.DataType, ShapeOf(t.Dims...))
	inf.learnConst(n.Output(0), t)
	return nil
}

func (inf *inferer) shapeOp(n *Node) error {
	_, s, err := in(n, 0)
	if err != nil {
		return err
	}
	r := int64(len(s))
	start, end := n.AttrInt("start", 0), n.AttrInt("end", r)
	clamp := func(a int64) int64 {
		if a < 0 {
			a += r
		}
		return max(0, min(a, r))
	}
	start, end = clamp(start), clamp(end)
	var dims []sym
	for _, d := range s[start:max(start, end)] {
		dims = append(dims, symOf(d))
	}
	set(n.Output(0), Int64, ShapeOf(int64(len(dims))))
	inf.known[n.Output(0)] = &knownVal{shape: []int64{int64(len(dims))}, ints: dims}
	return nil
}

func (inf *inferer) gather(n *Node) error {
	x, s, err := in(n, 0)
	if err != nil {
		return err
	}
	iv, is, err := in(n, 1)
	if err != nil {
		return err
	}
	axis, err := normAxis(n.AttrInt("axis", 0), len(s))
	if err != nil {
		return err
	}
	out := append(append(append(Shape{}, s[:axis]...), is...), s[axis+1:]...)
	set(n.Output(0), x.Type.Elem, out)
	k := inf.known[x]
	idx, ok := inf.intsOf(iv)
	if k != nil && k.ints != nil && ok && len(s) == 1 {
		var vals []sym
		for _, i := range idx {
			if i < 0 {
				i += int64(len(k.ints))
			}
			if i < 0 || i >= int64(len(k.ints)) {
				return fmt.Errorf("index %d is out of range", i)
			}
			vals = append(vals, k.ints[i])
		}
		inf.known[n.Output(0)] = &knownVal{shape: out.Ints(), ints: vals}
	}
	return nil
}

func castKnown(k *knownVal, to DataType) *knownVal {
	c := &knownVal{shape: k.shape}
	switch to {
	case Float, Double, Float16, BFloat16:
		if k.flts != nil {
			c.flts = k.flts
			return c
		}
		for _, d := range k.ints {
			if !d.known() {
				return nil
			}
			c.flts = append(c.flts, float64(d.v))
		}
	default:
		if k.ints != nil {
			c.ints = k.ints
			return c
		}
		for _, f := range k.flts {
			c.ints = append(c.ints, sym{v: int64(f)})
		}
	}
	return c
}

func (inf *inferer) slice(n *Node) error {
	x, s, err := in(n, 0)
	if err != nil {
		return err
	}
	var starts, ends, axes, steps []int64
	if n.Attr("starts") != nil { // Slice-1
		starts, ends, axes = n.AttrInts("starts"), n.AttrInts("ends"), n.AttrInts("axes")
	} else {
		var ok1, ok2 bool
		starts, ok1 = inf.intsOf(n.Input(1))
		ends, ok2 = inf.intsOf(n.Input(2))
		if !ok1 || !ok2 {
			return errors.New("starts and ends are not known constants")
		}
		if v := n.Input(3); v != nil {
			var ok bool
			if axes, ok = inf.intsOf(v); !ok {
				return errors.New("axes input is not a known constant")
			}
		}
		if v := n.Input(4); v != nil {
			var ok bool
			if steps, ok = inf.intsOf(v); !ok {
				return errors.New("steps input is not a known constant")
			}
		}
	}
	if axes == nil {
		for i := range starts {
			axes = append(axes, int64(i))
		}
	}
	if steps == nil {
		steps = ones(len(starts))
	}
	if len(ends) != len(starts) || len(axes) != len(starts) || len(steps) != len(starts) {
		return errors.New("starts, ends, axes and steps differ in length")
	}
	out := append(Shape{}, s...)
	type rng struct{ start, end, step int64 }
	ranges := map[int]rng{}
	for i, a := range axes {
		ax, err := normAxis(a, len(s))
		if err != nil {
			return err
		}
		if steps[i] == 0 {
			return errors.New("slice step 0")
		}
		d := s[ax]
		if !d.Known() {
			if starts[i] == 0 && steps[i] == 1 && ends[i] >= math.MaxInt32 {
				continue // the whole dim
			}
			out[ax] = Dim{Value: -1}
			continue
		}
		b, e, st := SliceBounds(starts[i], ends[i], steps[i], d.Value)
		ranges[ax] = rng{b, e, st}
		cnt := int64(0)
		if st > 0 && e > b {
			cnt = (e - b + st - 1) / st
		} else if st < 0 && b > e {
			cnt = (b - e - st - 1) / -st
		}
		out[ax] = Dim{Value: cnt}
	}
	set(n.Output(0), x.Type.Elem, out)
	if k := inf.known[x]; k != nil && k.ints != nil && len(s) == 1 {
		r, ok := ranges[0]
		if !ok {
			inf.known[n.Output(0)] = k
			return nil
		}
		vals := []sym{}
		for i := r.start; r.step > 0 && i < r.end || r.step < 0 && i > r.end; i += r.step {
			vals = append(vals, k.ints[i])
		}
		inf.known[n.Output(0)] = &knownVal{shape: out.Ints(), ints: vals}
	}
	return nil
}

// SliceBounds clamps an ONNX Slice start and end, negative ones counted from
// the end, to a dimension of extent d, as the Slice operator does for a
// positive or negative step. It returns start, end and step.
func SliceBounds(start, end, step, d int64) (int64, int64, int64) {
	if start < 0 {
		start += d
	}
	if end < 0 {
		end += d
	}
	if step > 0 {
		start = max(0, min(start, d))
		end = max(0, min(end, d))
	} else {
		start = max(-1, min(start, d-1))
		end = max(-1, min(end, d-1))
	}
	return start, end, step
}

func (inf *inferer) reduce(n *Node) error {
	x, s, err := in(n, 0)
	if err != nil {
		return err
	}
	axes, given, err := inf.axesOf(n, 1)
	if err != nil {
		return err
	}
	red := map[int]bool{}
	if !given || len(axes) == 0 {
		if n.AttrInt("noop_with_empty_axes", 0) == 1 {
			set(n.Output(0), x.Type.Elem, s)
			return nil
		}
		for i := range s {
			red[i] = true
		}
	}
	for _, a := range axes {
		ax, err := normAxis(a, len(s))
		if err != nil {
			return err
		}
		red[ax] = true
	}
	keep := n.AttrInt("keepdims", 1) == 1
	var out Shape
	for i, d := range s {
		switch {
		case !red[i]:
			out = append(out, d)
		case keep:
			out = append(out, Dim{Value: 1})
		}
	}
	set(n.Output(0), x.Type.Elem, out)
	return nil
}

// KnowsOp reports whether shape inference handles the default-domain
// operator op.
func KnowsOp(op string) bool { return shapeFuncs[op] != nil || ClassOf(op) != OpOther }
