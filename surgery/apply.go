package surgery

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sort"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxpb"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// Apply removes the channels p drops from g, physically: it is the only
// function of the package that changes a graph. It analyses g, resolves p
// (drop counts by ranking, RoundTo), checks that no tensor is left without
// channels, and only then edits: it slices weights (roots' output filters,
// consumers' input channels, depthwise filters), biases, BN parameters and
// statistics, per-channel constants, Gemm/MatMul input features (H·W
// blocks after a Flatten), sets group on depthwise convs, rewrites Split
// sizes, Slice bounds and shape constants that name a channel count, and
// finally runs g.Verify. Names, opsets and everything else stay. An
// invalid plan changes nothing; if the final verification fails, the edits
// are undone.
func Apply(g *onnxio.Graph, p Plan) error {
	a, err := Analyze(g)
	if err != nil {
		return err
	}
	rp, err := a.Resolve(p)
	if err != nil {
		return err
	}
	return a.apply(g, rp.Selection())
}

// edit is a change to the graph and how to undo it.
type editor struct {
	g    *onnxio.Graph
	undo []func()
}

func (e *editor) rollback() {
	for i := len(e.undo) - 1; i >= 0; i-- {
		e.undo[i]()
	}
	e.undo = nil
}

// setConst replaces the tensor of an initializer or a Constant node.
func (e *editor) setConst(v *onnxio.Value, t *onnxio.Tensor) error {
	old, oldType := v.Const, v.Type
	var oldAttrs []*onnxpb.AttributeProto
	p := v.Producer()
	if p != nil {
		oldAttrs = slices.Clone(p.Attrs)
	}
	if !onnxio.SetConst(v, t) {
		return fmt.Errorf("surgery: %q is not a constant surgery can rewrite", v.Name)
	}
	e.undo = append(e.undo, func() {
		v.Const, v.Type = old, oldType
		if p != nil {
			p.Attrs = oldAttrs
		}
	})
	return nil
}

func (e *editor) snapshotAttrs(n *onnxio.Node) {
	old := slices.Clone(n.Attrs)
	e.undo = append(e.undo, func() { n.Attrs = old })
}

func (e *editor) setAttr(n *onnxio.Node, a *onnxpb.AttributeProto) {
	e.snapshotAttrs(n)
	n.SetAttr(a)
}

// setParam gives input i of n a new constant value: in place when n is the
// constant's only reader, else as a new initializer.
func (e *editor) setParam(n *onnxio.Node, i int, t *onnxio.Tensor) error {
	v := n.Input(i)
	if len(v.Consumers()) == 1 && !slices.Contains(e.g.Outputs, v) && !slices.Contains(e.g.Inputs, v) {
		if v.IsConst() || onnxio.ConstantValue(v.Producer()) != nil {
			return e.setConst(v, t)
		}
	}
	nv := e.g.AddInitializer(e.g.UniqueName(v.Name), t)
	n.SetInput(i, nv)
	// The new initializer stays, unused, if the edit is undone: onnxio
	// has no call to remove a single initializer.
	e.undo = append(e.undo, func() { n.SetInput(i, v) })
	return nil
}

// apply edits g by sel in two phases: every new tensor is computed first,
// so that an invalid plan changes nothing; then the edits are made, each
// with its undo, and rolled back if the pruned graph does not verify.
func (a *Analysis) apply(g *onnxio.Graph, sel Selection) error {
	if len(g.Nodes) != a.nodes {
		return fmt.Errorf("surgery: the graph has %d nodes, the analysis was made for %d", len(g.Nodes), a.nodes)
	}
	if len(sel) == 0 {
		return g.Verify()
	}
	names := a.actNames()
	if err := a.checkKeepsChannels(g, names, sel); err != nil {
		return err
	}
	consts, redirects, err := a.slicedConsts(g, sel)
	if err != nil {
		return err
	}
	shapeConsts, err := a.rewrittenShapes(g, sel)
	if err != nil {
		return err
	}
	consts = append(consts, shapeConsts...)

	e := &editor{g: g}
	fail := func(err error) error {
		e.rollback()
		return err
	}
	for _, c := range consts {
		if err := e.setConst(c.v, c.t); err != nil {
			return fail(err)
		}
	}
	aliases := e.redirect(redirects)
	for _, r := range a.recs {
		if err := e.rewriteRec(r, sel); err != nil {
			return fail(err)
		}
	}
	e.declareChannels(a, names, sel)
	if err := g.Verify(); err != nil {
		return fail(fmt.Errorf("surgery: the pruned graph does not verify: %w", err))
	}
	removeDeadAliases(g, aliases)
	return nil
}

// newConst is the new tensor of a constant.
type newConst struct {
	v *onnxio.Value
	t *onnxio.Tensor
}

// redirect is a sliced copy of a constant for the uses that read it
// differently from the rest.
type redirect struct {
	t    *onnxio.Tensor
	name string
	uses []useAxes
}

// actNames returns the names of the activations the analysis tracks, sorted.
func (a *Analysis) actNames() []string {
	names := make([]string, 0, len(a.acts))
	for name := range a.acts {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// checkKeepsChannels refuses a selection that would leave any tensor
// without channels.
func (a *Analysis) checkKeepsChannels(g *onnxio.Graph, names []string, sel Selection) error {
	for _, name := range names {
		al := a.acts[name]
		if al.Layout.Touches(sel) && al.Layout.KeptLen(sel) == 0 {
			return fmt.Errorf("surgery: the plan removes every channel of %q (%v); keep at least one of them", name, al.Layout)
		}
	}
	for _, r := range a.recs {
		for i, o := range r.outs {
			if o.Touches(sel) && o.KeptLen(sel) == 0 {
				return fmt.Errorf("surgery: the plan removes every channel of output %d of %v", i, g.Nodes[r.node])
			}
		}
	}
	return nil
}

// slicedConsts computes the sliced constants: in place when every reader
// slices alike (and nobody else sees the tensor), else a copy per way of
// slicing for the readers that differ.
func (a *Analysis) slicedConsts(g *onnxio.Graph, sel Selection) ([]newConst, []redirect, error) {
	var consts []newConst
	var redirects []redirect
	for _, ce := range a.edits {
		v := g.Value(ce.tensor)
		t := onnxio.ConstValue(v)
		if t == nil {
			return nil, nil, fmt.Errorf("surgery: tensor %q is not a constant in this graph", ce.tensor)
		}
		variants, identity, err := sliceVariants(ce, t, sel)
		if err != nil {
			return nil, nil, err
		}
		if len(variants) == 0 {
			continue
		}
		inPlace := -1
		if !identity && !slices.Contains(g.Inputs, v) && onlyReaders(g, v, ce.uses) {
			for i, vr := range variants {
				if inPlace < 0 || len(vr.uses) > len(variants[inPlace].uses) {
					inPlace = i
				}
			}
		}
		for i, vr := range variants {
			nt, err := sliceTensor(t, vr.keep)
			if err != nil {
				return nil, nil, fmt.Errorf("surgery: tensor %q: %w", ce.tensor, err)
			}
			if i == inPlace {
				consts = append(consts, newConst{v, nt})
			} else {
				redirects = append(redirects, redirect{nt, ce.tensor, vr.uses})
			}
		}
	}
	return consts, redirects, nil
}

// variant is one way of slicing a constant, and the uses that slice it so.
type variant struct {
	keep map[int][]int
	uses []useAxes
}

// sliceVariants groups the uses of a constant by how sel slices them (uses
// that slice it alike share one copy). identity reports a use that keeps
// the tensor whole.
func sliceVariants(ce constEdit, t *onnxio.Tensor, sel Selection) (variants []*variant, identity bool, err error) {
	byKey := map[string]*variant{}
	for _, u := range ce.uses {
		keep := map[int][]int{}
		key := ""
		for _, al := range u.axes {
			if al.Axis >= len(t.Dims) || t.Dims[al.Axis] != int64(al.Layout.Len()) {
				return nil, false, fmt.Errorf("surgery: tensor %q has shape %v, the analysis expected %d channels on axis %d", ce.tensor, t.Dims, al.Layout.Len(), al.Axis)
			}
			if al.Layout.Touches(sel) {
				keep[al.Axis] = al.Layout.Positions(sel)
				key += fmt.Sprintf("%d:%v;", al.Axis, al.Layout)
			}
		}
		if key == "" {
			identity = true
			continue
		}
		vr := byKey[key]
		if vr == nil {
			vr = &variant{keep: keep}
			byKey[key] = vr
			variants = append(variants, vr)
		}
		vr.uses = append(vr.uses, u)
	}
	return variants, identity, nil
}

// rewrittenShapes computes the shape constants whose elements name a
// channel count sel changes.
func (a *Analysis) rewrittenShapes(g *onnxio.Graph, sel Selection) ([]newConst, error) {
	byTensor := map[string][]shapeEntry{}
	var shapeNames []string
	for _, se := range a.shapes {
		if se.layout.Touches(sel) {
			if byTensor[se.tensor] == nil {
				shapeNames = append(shapeNames, se.tensor)
			}
			byTensor[se.tensor] = append(byTensor[se.tensor], se)
		}
	}
	var consts []newConst
	for _, name := range shapeNames {
		v := g.Value(name)
		t := onnxio.ConstValue(v)
		if t == nil {
			return nil, fmt.Errorf("surgery: shape tensor %q is not a constant in this graph", name)
		}
		vals, err := t.Int64s()
		if err != nil {
			return nil, fmt.Errorf("surgery: shape tensor %q: %w", name, err)
		}
		for _, se := range byTensor[name] {
			if se.index >= len(vals) {
				return nil, fmt.Errorf("surgery: shape tensor %q has no element %d", name, se.index)
			}
			vals[se.index] = int64(se.layout.KeptLen(sel))
		}
		nt, err := intTensor(t.DataType, t.Dims, vals)
		if err != nil {
			return nil, err
		}
		consts = append(consts, newConst{v, nt})
	}
	return consts, nil
}

// redirect adds each copy as a new initializer and points its uses at it.
// It returns the Identity nodes some readers no longer go through.
func (e *editor) redirect(redirects []redirect) (aliases []*onnxio.Node) {
	for _, r := range redirects {
		nv := e.g.AddInitializer(e.g.UniqueName(r.name), r.t)
		for _, u := range r.uses {
			n := e.g.Nodes[u.node]
			old := n.Input(u.slot)
			if p := old.Producer(); p != nil && p.Op == "Identity" {
				aliases = append(aliases, p)
			}
			n.SetInput(u.slot, nv)
			e.undo = append(e.undo, func() { n.SetInput(u.slot, old) })
		}
	}
	return aliases
}

// rewriteRec rewrites the parameters of a node record for sel: a depthwise
// Conv's group, Split sizes, Slice bounds on the channel axis.
func (e *editor) rewriteRec(r nodeRec, sel Selection) error {
	if !r.in.Touches(sel) {
		return nil
	}
	n := e.g.Nodes[r.node]
	switch r.kind {
	case recDepthwise:
		e.setAttr(n, onnxio.AttrInt("group", int64(r.in.KeptLen(sel))))
	case recSplit:
		return e.rewriteSplit(n, r, sel)
	case recSlice:
		return e.rewriteSlice(n, r, sel)
	}
	return nil
}

func (e *editor) rewriteSplit(n *onnxio.Node, r nodeRec, sel Selection) error {
	sizes := make([]int64, len(r.outs))
	for i, o := range r.outs {
		sizes[i] = int64(o.KeptLen(sel))
	}
	if r.attr {
		e.setAttr(n, onnxio.AttrInts("split", sizes))
		return nil
	}
	t := onnxio.ConstValue(n.Input(1))
	if t == nil {
		return fmt.Errorf("surgery: the split sizes of %v are not a constant", n)
	}
	nt, err := intTensor(t.DataType, t.Dims, sizes)
	if err != nil {
		return err
	}
	return e.setParam(n, 1, nt)
}

func (e *editor) rewriteSlice(n *onnxio.Node, r nodeRec, sel Selection) error {
	lo, cnt := 0, 0
	for _, p := range r.in.Positions(sel) {
		switch {
		case p < r.lo:
			lo++
		case p < r.hi:
			cnt++
		}
	}
	if r.attr {
		starts, ends := slices.Clone(n.AttrInts("starts")), slices.Clone(n.AttrInts("ends"))
		starts[r.index], ends[r.index] = int64(lo), int64(lo+cnt)
		e.setAttr(n, onnxio.AttrInts("starts", starts))
		e.setAttr(n, onnxio.AttrInts("ends", ends))
		return nil
	}
	for i, x := range []int64{int64(lo), int64(lo + cnt)} {
		t := onnxio.ConstValue(n.Input(1 + i))
		if t == nil {
			return fmt.Errorf("surgery: the bounds of %v are not constants", n)
		}
		vals, err := t.Int64s()
		if err != nil || r.index >= len(vals) {
			return fmt.Errorf("surgery: the bounds of %v cannot be read", n)
		}
		vals[r.index] = x
		nt, err := intTensor(t.DataType, t.Dims, vals)
		if err != nil {
			return err
		}
		if err := e.setParam(n, 1+i, nt); err != nil {
			return err
		}
	}
	return nil
}

// declareChannels gives the outputs of operators that shape inference does
// not know (ConvTranspose, say), which keep their declared types, their new
// channel counts.
func (e *editor) declareChannels(a *Analysis, names []string, sel Selection) {
	for _, name := range names {
		al := a.acts[name]
		v := e.g.Value(name)
		if v == nil || v.Producer() == nil || !al.Layout.Touches(sel) {
			continue
		}
		if p := v.Producer(); p.DefaultDomain() && onnxio.KnowsOp(p.Op) {
			continue
		}
		if v.Type.HasShape && al.Axis < len(v.Type.Shape) {
			old := v.Type
			v.Type.Shape = slices.Clone(v.Type.Shape)
			v.Type.Shape[al.Axis] = onnxio.Dim{Value: int64(al.Layout.KeptLen(sel))}
			e.undo = append(e.undo, func() { v.Type = old })
		}
	}
}

// removeDeadAliases removes the Identity aliases nobody reads any more
// (chains from the end).
func removeDeadAliases(g *onnxio.Graph, aliases []*onnxio.Node) {
	removed := map[*onnxio.Node]bool{}
	for changed := true; changed; {
		changed = false
		for _, p := range aliases {
			if !removed[p] && len(p.Output(0).Consumers()) == 0 && g.RemoveNode(p) == nil {
				removed[p] = true
				changed = true
				if q := p.Input(0).Producer(); q != nil && q.Op == "Identity" {
					aliases = append(aliases, q)
				}
			}
		}
	}
}

// onlyReaders reports whether the given uses are everything that reads v,
// directly or through Identity aliases, and no alias is a graph output.
func onlyReaders(g *onnxio.Graph, v *onnxio.Value, uses []useAxes) bool {
	index := make(map[*onnxio.Node]int, len(g.Nodes))
	for i, n := range g.Nodes {
		index[n] = i
	}
	want := map[[2]int]bool{}
	for _, u := range uses {
		want[[2]int{u.node, u.slot}] = true
	}
	var walk func(x *onnxio.Value, depth int) bool
	walk = func(x *onnxio.Value, depth int) bool {
		if slices.Contains(g.Outputs, x) || depth > 64 {
			return false
		}
		for _, n := range x.Consumers() {
			if n.HasSubgraph() {
				return false
			}
			if n.Op == "Identity" && n.Output(0) != nil {
				if !walk(n.Output(0), depth+1) {
					return false
				}
				continue
			}
			for i, in := range n.Inputs() {
				if in == x && !want[[2]int{index[n], i}] {
					return false
				}
			}
		}
		return true
	}
	return walk(v, 0)
}

// sliceTensor keeps, along each axis of keep, the listed positions.
func sliceTensor(t *onnxio.Tensor, keep map[int][]int) (*onnxio.Tensor, error) {
	es := int(t.DataType.ByteSize(1))
	if es < 1 || t.DataType == onnxio.String {
		return nil, fmt.Errorf("cannot slice a %v tensor", t.DataType)
	}
	raw, err := t.Raw()
	if err != nil {
		return nil, err
	}
	dims := slices.Clone(t.Dims)
	axes := make([]int, 0, len(keep))
	for ax := range keep {
		axes = append(axes, ax)
	}
	slices.Sort(axes)
	for _, ax := range axes {
		k := keep[ax]
		outer, inner := 1, es
		for i, d := range dims {
			switch {
			case i < ax:
				outer *= int(d)
			case i > ax:
				inner *= int(d)
			}
		}
		n := int(dims[ax])
		out := make([]byte, outer*len(k)*inner)
		for o := 0; o < outer; o++ {
			src := raw[o*n*inner : (o+1)*n*inner]
			dst := out[o*len(k)*inner : (o+1)*len(k)*inner]
			for j := 0; j < len(k); {
				// Copy runs of consecutive positions at once.
				r := j + 1
				for r < len(k) && k[r] == k[r-1]+1 {
					r++
				}
				copy(dst[j*inner:r*inner], src[k[j]*inner:(k[r-1]+1)*inner])
				j = r
			}
		}
		raw, dims[ax] = out, int64(len(k))
	}
	nt := &onnxio.Tensor{}
	if err := nt.SetRaw(t.DataType, dims, raw); err != nil {
		return nil, err
	}
	return nt, nil
}

// intTensor builds an integer tensor of type dt.
func intTensor(dt onnxio.DataType, dims []int64, vals []int64) (*onnxio.Tensor, error) {
	es := int(dt.ByteSize(1))
	raw := make([]byte, es*len(vals))
	for i, v := range vals {
		switch es {
		case 8:
			binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
		case 4:
			binary.LittleEndian.PutUint32(raw[4*i:], uint32(v))
		case 2:
			binary.LittleEndian.PutUint16(raw[2*i:], uint16(v))
		case 1:
			raw[i] = byte(v)
		default:
			return nil, fmt.Errorf("surgery: cannot write integers as %v", dt)
		}
	}
	t := &onnxio.Tensor{}
	if err := t.SetRaw(dt, dims, raw); err != nil {
		return nil, err
	}
	return t, nil
}
