// Shape inference: operators that move elements (Flatten, Reshape,
// Transpose, Squeeze, Unsqueeze, Concat, Split, Pad, Resize, Slice).

package onnxio

import (
	"errors"
	"fmt"
	"math"
)

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
			ax, err := NormAxis(a, len(s))
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
		ax, err := NormAxis(a, r)
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
			if axis, err = NormAxis(n.AttrInt("axis", 0), len(s)); err != nil {
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
	axis, err := NormAxis(n.AttrInt("axis", 0), len(s))
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
			i, err := NormAxis(a, len(s))
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
		ax, err := NormAxis(a, len(s))
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
