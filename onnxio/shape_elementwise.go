// Shape inference: element-wise operators (ClassOf OpUnary, OpNormalize,
// OpBroadcast), Dropout and Expand.

package onnxio

import "errors"

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

func (inf *inferer) dropout(n *Node) error {
	x, s, err := in(n, 0)
	if err != nil {
		return err
	}
	set(n.Output(0), x.Type.Elem, s)
	set(n.Output(1), Bool, s)
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
