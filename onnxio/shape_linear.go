// Shape inference: Gemm, MatMul, reductions and ArgMax/ArgMin.

package onnxio

import (
	"errors"
	"fmt"
)

func (inf *inferer) argMax(n *Node) error {
	_, s, err := in(n, 0)
	if err != nil {
		return err
	}
	axis, err := NormAxis(n.AttrInt("axis", 0), len(s))
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
		ax, err := NormAxis(a, len(s))
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
