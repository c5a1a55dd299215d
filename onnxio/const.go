package onnxio

import "github.com/onnx-adapt/onnx-adapt/internal/onnxpb"

// maxAliases bounds the Identity chains ConstSource follows.
const maxAliases = 64

// ConstantValue returns the tensor a Constant node of the default domain
// defines, from whichever value attribute it sets: value (a tensor),
// value_float (a float32 scalar), value_floats (a float32 vector),
// value_int (an int64 scalar) or value_ints (an int64 vector). It returns
// nil for any other node, for the forms the IR does not hold as a tensor
// (sparse_value, value_string, value_strings), and for a value tensor that
// is malformed or refers to external data.
func ConstantValue(n *Node) *Tensor {
	if n == nil || n.Op != "Constant" || !n.DefaultDomain() {
		return nil
	}
	for _, a := range n.Attrs {
		var t *Tensor
		switch a.GetName() {
		case "value":
			return n.AttrTensor("value")
		case "value_float":
			t, _ = NewFloat32Tensor(nil, []float32{a.GetF()})
		case "value_floats":
			t, _ = NewFloat32Tensor([]int64{int64(len(a.GetFloats()))}, a.GetFloats())
		case "value_int":
			t, _ = NewInt64Tensor(nil, []int64{a.GetI()})
		case "value_ints":
			t, _ = NewInt64Tensor([]int64{int64(len(a.GetInts()))}, a.GetInts())
		default:
			continue
		}
		return t
	}
	return nil
}

// ConstSource follows Identity nodes of the default domain back from v to
// the value they alias: v itself when no Identity produces it. An Identity
// of a constant is a constant (torch.onnx shares equal initializers this
// way).
func ConstSource(v *Value) *Value {
	for range maxAliases {
		if v == nil || v.Const != nil {
			return v
		}
		p := v.Producer()
		if p == nil || p.Op != "Identity" || !p.DefaultDomain() || p.Input(0) == nil {
			return v
		}
		v = p.Input(0)
	}
	return v
}

// ConstValue returns the constant tensor behind v, as ONNX defines
// constants: an initializer, the output of a Constant node (in any of the
// forms ConstantValue reads), or an Identity of either. It returns nil when
// v is nil or is computed at run time.
//
// The tensor is the graph's own for an initializer and for a Constant's
// value attribute (treat it as read-only; change it with SetConst), and a
// new one for the scalar and vector attribute forms.
func ConstValue(v *Value) *Tensor {
	v = ConstSource(v)
	switch {
	case v == nil:
		return nil
	case v.Const != nil:
		return v.Const
	}
	return ConstantValue(v.Producer())
}

// SetConst gives the constant v holds itself (an initializer, or the output
// of a Constant node) the tensor t, and reports whether it could: a
// Constant node gets t as its value attribute, in place of whichever value
// attribute it had. It does not follow Identity nodes.
func SetConst(v *Value, t *Tensor) bool {
	if v == nil {
		return false
	}
	if v.Const != nil {
		v.Const = t
		v.Type = Type{Elem: t.DataType, Shape: ShapeOf(t.Dims...), HasShape: true}
		return true
	}
	p := v.Producer()
	if ConstantValue(p) == nil {
		return false
	}
	attrs := make([]*onnxpb.AttributeProto, 0, len(p.Attrs))
	set := false
	for _, a := range p.Attrs {
		switch a.GetName() {
		case "value", "value_float", "value_floats", "value_int", "value_ints":
			if !set {
				attrs = append(attrs, AttrTensor("value", t))
				set = true
			}
			continue
		}
		attrs = append(attrs, a)
	}
	p.Attrs = attrs
	return true
}
