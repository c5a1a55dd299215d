// The channel analysis: symbolic integer vectors (shape arithmetic), to find
// the shape constants that hold a channel count.

package surgery

import (
	"fmt"
	"slices"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// symOf returns the elements of a small integer vector, or nil.
func (a *analyzer) symOf(v *onnxio.Value) []symElem {
	if v == nil {
		return nil
	}
	if s, ok := a.syms[v]; ok {
		return s
	}
	var s []symElem
	if a.kind[v] == kConst {
		if t := onnxio.ConstValue(v); t != nil && len(t.Dims) <= 1 && t.NumElements() <= maxSym && isInt(t.DataType) {
			if ints, err := t.Int64s(); err == nil {
				s = make([]symElem, len(ints))
				for i, x := range ints {
					s[i] = symElem{val: x, known: true, src: v, idx: i}
				}
			}
		}
	}
	a.syms[v] = s
	return s
}

func isInt(t onnxio.DataType) bool {
	switch t {
	case onnxio.Int64, onnxio.Int32, onnxio.Int16, onnxio.Int8, onnxio.Uint8, onnxio.Uint16, onnxio.Uint32:
		return true
	}
	return false
}

// taint returns the groups whose channel counts an element depends on.
func (a *analyzer) taint(e symElem) []int {
	out := slices.Clone(e.taint)
	if e.dimOf != nil {
		if c := a.ch[e.dimOf]; c != nil && c.axis == e.dimAx {
			out = append(out, a.layoutGroups(c.l)...)
		}
	}
	return out
}

// fixedUse records that node n needs the values of v unchanged (v is a
// shape-like vector or a constant n does not slice).
func (a *analyzer) fixedUse(v *onnxio.Value, n *onnxio.Node) {
	k := a.kind[v]
	if k != kShape && k != kConst && k != kDerived {
		return
	}
	for _, e := range a.symOf(v) {
		a.fixedElem(e, n, v)
	}
}

func (a *analyzer) fixedElem(e symElem, n *onnxio.Node, v *onnxio.Value) {
	if e.src != nil {
		r := a.shapeRec(e.src, e.idx)
		r.fixed = append(r.fixed, n.String())
	}
	if t := a.taint(e); len(t) > 0 {
		a.freezeAll(fmt.Sprintf("%v uses the channel count (through %q) in a way surgery cannot follow", n, v.Name), t)
	}
}

func (a *analyzer) shapeRec(v *onnxio.Value, idx int) *shapeRec {
	k := srcIdx{v, idx}
	r := a.shapes[k]
	if r == nil {
		r = &shapeRec{order: len(a.shapes)}
		a.shapes[k] = r
	}
	return r
}

// needCount makes element e of a shape vector, read by the current node,
// follow the channel count of layout l. It reports false (and freezes l)
// when it cannot.
func (a *analyzer) needCount(e symElem, l Layout, why string) bool {
	switch {
	case e.src != nil:
		r := a.shapeRec(e.src, e.idx)
		if r.layout != nil {
			nl, ok := a.unify(*r.layout, l, fmt.Sprintf("shape element %d of %q", e.idx, e.src.Name))
			if !ok {
				return false
			}
			r.layout = &nl
		} else {
			lc := l.clone()
			r.layout = &lc
		}
		a.mems = append(a.mems, rawMember{tensor: e.src.Name, kind: "shape", node: a.cur.Name, axis: e.idx, l: l})
		return true
	case e.dimOf != nil:
		if c := a.ch[e.dimOf]; c != nil && c.axis == e.dimAx {
			_, ok := a.unify(c.l, l, fmt.Sprintf("%v (reading the channel count of %q)", a.cur, e.dimOf.Name))
			return ok
		}
	}
	a.freezeLayout(l, fmt.Sprintf("%v sets the channel count from %s, which surgery cannot rewrite", a.cur, why))
	a.freezeAll(fmt.Sprintf("%v sets the channel count from %s, which surgery cannot rewrite", a.cur, why), a.taint(e))
	return false
}

// sym handles a node that computes shape-like or constant values.
func (a *analyzer) sym(n *onnxio.Node) {
	if !n.DefaultDomain() {
		return
	}
	out := n.Output(0)
	if out == nil {
		return
	}
	in0 := a.symOf(n.Input(0))
	switch n.Op {
	case "Constant":
		return // symOf reads it when needed
	case "Shape":
		x := n.Input(0)
		d := a.dims(x)
		if d == nil {
			return
		}
		start, end := onnxio.ShapeRange(n, len(d))
		var s []symElem
		for i := start; i < end; i++ {
			s = append(s, symElem{val: d[i], known: d[i] >= 0, dimOf: x, dimAx: i})
		}
		a.syms[out] = s
	case "Size":
		x := n.Input(0)
		var t []int
		if c := a.ch[x]; c != nil {
			t = a.layoutGroups(c.l)
		}
		a.syms[out] = []symElem{{taint: t}}
	case "Identity", "Cast", "Squeeze", "Unsqueeze":
		a.handled[n.Input(0)] = true
		if in0 != nil {
			a.syms[out] = in0
		}
	case "Gather":
		a.handled[n.Input(0)] = true
		idx := a.symOf(n.Input(1))
		if in0 == nil || idx == nil || n.AttrInt("axis", 0) != 0 {
			if in0 != nil {
				a.fixedUse(n.Input(0), n)
			}
			return
		}
		var s []symElem
		for _, e := range idx {
			i := e.val
			if !e.known {
				a.fixedUse(n.Input(0), n)
				return
			}
			if i < 0 {
				i += int64(len(in0))
			}
			if i < 0 || i >= int64(len(in0)) {
				return
			}
			s = append(s, in0[i])
		}
		a.syms[out] = s
	case "Concat":
		var s []symElem
		for _, v := range n.Inputs() {
			e := a.symOf(v)
			if v != nil && e == nil {
				return
			}
			s = append(s, e...)
		}
		for _, v := range n.Inputs() {
			a.handled[v] = true
		}
		if len(s) <= maxSym {
			a.syms[out] = s
		}
	case "Slice":
		if in0 == nil || n.Attr("starts") != nil {
			return
		}
		st, en, ax, sp := a.symOf(n.Input(1)), a.symOf(n.Input(2)), a.symOf(n.Input(3)), a.symOf(n.Input(4))
		if len(st) != 1 || len(en) != 1 || !st[0].known || !en[0].known ||
			(n.Input(3) != nil && (len(ax) != 1 || !ax[0].known || (ax[0].val != 0 && ax[0].val != -1))) ||
			(n.Input(4) != nil && (len(sp) != 1 || !sp[0].known || sp[0].val != 1)) {
			return
		}
		b, e, _ := onnxio.SliceBounds(st[0].val, en[0].val, 1, int64(len(in0)))
		a.handled[n.Input(0)] = true
		if e > b {
			a.syms[out] = slices.Clone(in0[b:e])
		} else {
			a.syms[out] = []symElem{}
		}
	case "Add", "Sub", "Mul", "Div", "Max", "Min", "Neg", "Abs", "Mod":
		// Computed values: known when every input is, but no longer a
		// copy of a constant; their channel dependence is kept as taint.
		var ins [][]symElem
		m := 0
		for _, v := range n.Inputs() {
			e := a.symOf(v)
			if e == nil {
				return
			}
			ins = append(ins, e)
			m = max(m, len(e))
		}
		for _, v := range n.Inputs() {
			a.handled[v] = true
		}
		s := make([]symElem, m)
		for i := range s {
			var t []int
			known := true
			var vals []int64
			for _, e := range ins {
				if len(e) == 0 {
					known = false
					continue
				}
				x := e[min(i, len(e)-1)]
				t = append(t, a.taint(x)...)
				known = known && x.known
				vals = append(vals, x.val)
			}
			s[i] = symElem{taint: t}
			if known {
				if v, ok := arith(n.Op, vals); ok {
					s[i].val, s[i].known = v, true
				}
			}
			if len(t) == 0 && !known {
				s[i].taint = nil
			}
		}
		a.syms[out] = s
	}
}

func arith(op string, v []int64) (int64, bool) {
	switch {
	case op == "Neg" && len(v) == 1:
		return -v[0], true
	case op == "Abs" && len(v) == 1:
		if v[0] < 0 {
			return -v[0], true
		}
		return v[0], true
	case len(v) != 2:
		return 0, false
	}
	x, y := v[0], v[1]
	switch op {
	case "Add":
		return x + y, true
	case "Sub":
		return x - y, true
	case "Mul":
		return x * y, true
	case "Div":
		if y == 0 {
			return 0, false
		}
		return x / y, true
	case "Mod":
		if y == 0 {
			return 0, false
		}
		return x % y, true
	case "Max":
		return max(x, y), true
	case "Min":
		return min(x, y), true
	}
	return 0, false
}
