// Shape inference: the values of small tensors known at inference time
// (constants, Shape→Gather→Concat chains, integer arithmetic).

package onnxio

import (
	"errors"
	"fmt"
)

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

func (inf *inferer) constant(n *Node) error {
	t := ConstantValue(n)
	if t == nil {
		return inf.declaredOnly(n)
	}
	set(n.Output(0), t.DataType, ShapeOf(t.Dims...))
	inf.learnConst(n.Output(0), t)
	return nil
}

// ShapeRange returns the dimensions [start, end) of a rank-r input that the
// Shape node n outputs: its start and end attributes (opset 15), negative
// ones counted from the end, clamped to [0, rank]; end is never below
// start.
func ShapeRange(n *Node, rank int) (start, end int) {
	r := int64(rank)
	clamp := func(a int64) int {
		if a < 0 {
			a += r
		}
		return int(max(0, min(a, r)))
	}
	start, end = clamp(n.AttrInt("start", 0)), clamp(n.AttrInt("end", r))
	return start, max(start, end)
}

func (inf *inferer) shapeOp(n *Node) error {
	_, s, err := in(n, 0)
	if err != nil {
		return err
	}
	start, end := ShapeRange(n, len(s))
	var dims []sym
	for _, d := range s[start:end] {
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
	axis, err := NormAxis(n.AttrInt("axis", 0), len(s))
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
