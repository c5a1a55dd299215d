// Shape inference: Conv, ConvTranspose, pooling, BatchNormalization,
// DepthToSpace and SpaceToDepth.

package onnxio

import (
	"errors"
	"fmt"
)

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

// convOperands reads the input and weights of a Conv or ConvTranspose,
// which must have the same rank ≥ 3, and its group, which must be
// positive.
func convOperands(n *Node) (x, w *Value, s, ws Shape, group int64, err error) {
	if x, s, err = in(n, 0); err != nil {
		return
	}
	if w, ws, err = in(n, 1); err != nil {
		return
	}
	if len(s) < 3 || len(ws) != len(s) {
		err = fmt.Errorf("input %v and weights %v must have the same rank ≥ 3", s, ws)
		return
	}
	if group = n.AttrInt("group", 1); group <= 0 {
		err = fmt.Errorf("group %d must be positive", group)
	}
	return
}

func (inf *inferer) conv(n *Node) error {
	x, wv, s, ws, group, err := convOperands(n)
	if err != nil {
		return err
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
	x, _, s, ws, group, err := convOperands(n)
	if err != nil {
		return err
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
