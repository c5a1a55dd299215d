package surgery

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// Group is a set of channels that must lose the same indices everywhere:
// the output filters of its root layers, and every member tensor axis that
// carries those channels downstream (activations, BN parameters,
// per-channel constants, depthwise filters, consumers' input channels, ...).
type Group struct {
	// ID is the group's number: groups are numbered in topological order of
	// their first root, so the same model always gives the same IDs.
	ID int `json:"id"`
	// Size is the number of channels.
	Size int `json:"size"`
	// Roots names the layers (Conv, Gemm, MatMul) whose output filters
	// define the channels; the group's ranking sums over them.
	Roots []string `json:"roots"`
	// Members lists every tensor axis that loses the group's channels.
	Members []Member `json:"members"`
	// Frozen says why the group cannot be pruned; empty when it can.
	Frozen string `json:"frozen,omitempty"`

	filters []filterRef // the roots' filters, ranked on first use
	once    sync.Once
	l2, l1  []float64 // importance of each channel
	reasons []string
}

// Prunable reports whether the group may lose channels.
func (g *Group) Prunable() bool { return g.Frozen == "" }

// Scores returns each channel's importance under r (higher is more
// important): the L2 (or L1) norm of its filters, summed over the group's
// roots. It returns nil for groups without roots.
func (g *Group) Scores(r Rank) []float64 {
	g.once.Do(func() { g.l2, g.l1 = scores(g.filters, g.Size) })
	if r == RankL1 {
		return slices.Clone(g.l1)
	}
	return slices.Clone(g.l2)
}

// Member is one tensor axis a group's channels run along, with the index
// mapping: group channel c (Lo ≤ c < Hi), inner index i < Inner and outer
// repeat o < Outer sit at position o·Period + Offset + (c−Lo)·Inner + i of
// the axis.
type Member struct {
	Tensor string `json:"tensor"`
	// Kind is what the tensor is: activation, filters (a root's output
	// filters), input (a consumer's input channels), depthwise, bias, bn,
	// const (a per-channel constant), shape (an element of a shape vector
	// naming the channel count; Axis is the element's index), split or
	// slice (a node's channel-axis parameters).
	Kind   string `json:"kind"`
	Node   string `json:"node,omitempty"`
	Axis   int    `json:"axis"`
	Lo     int    `json:"lo"`
	Hi     int    `json:"hi"`
	Offset int    `json:"offset"`
	Inner  int    `json:"inner"`
	Outer  int    `json:"outer"`
	Period int    `json:"period"`
}

// AxisLayout is a tensor axis and the group channels along it.
type AxisLayout struct {
	Axis   int    `json:"axis"`
	Layout Layout `json:"layout"`
}

// Analysis is the result of Analyze: the channel groups of a graph and how
// every tensor's channel axes map onto them. It refers to values by name
// and to nodes by their index in Graph.Nodes, so it stays valid for clones
// of the analysed graph.
type Analysis struct {
	Groups []*Group

	acts   map[string]AxisLayout   // activation value → channel axis
	consts map[string][]AxisLayout // constant tensor → its channel axes (first use)
	edits  []constEdit             // constants to slice, per use
	dims   map[string][]int64      // inferred dims of every value (−1 unknown)
	recs   []nodeRec               // node parameters to rewrite
	shapes []shapeEntry            // shape-vector elements to rewrite
	nodes  int                     // len(Graph.Nodes) when analysed
}

// Channels returns the channel axis of an activation value and the group
// channels along it; ok is false for values whose channels are not
// tracked (graph inputs, outputs of operators surgery does not map).
func (a *Analysis) Channels(value string) (AxisLayout, bool) {
	al, ok := a.acts[value]
	return al, ok
}

// TensorAxes returns the channel axes of a constant tensor (weights,
// biases, BN parameters, per-channel constants): a Conv weight has its
// output filters on axis 0 and its input channels on axis 1. For a
// constant several nodes read (and slice differently, on copies), it
// describes the first use.
func (a *Analysis) TensorAxes(value string) []AxisLayout { return a.consts[value] }

// Shape returns a value's inferred shape (−1 for a symbolic dimension), or
// nil for a value the analysis does not know.
func (a *Analysis) Shape(value string) []int64 { return slices.Clone(a.dims[value]) }

// PrunedShape returns a value's shape once sel is applied, without
// applying it: a planner can compute every layer's channel counts for a
// candidate plan this way.
func (a *Analysis) PrunedShape(value string, sel Selection) []int64 {
	d := slices.Clone(a.dims[value])
	if d == nil {
		return nil
	}
	if al, ok := a.acts[value]; ok && al.Axis < len(d) {
		d[al.Axis] = int64(al.Layout.KeptLen(sel))
	}
	for _, al := range a.consts[value] {
		if al.Axis < len(d) {
			d[al.Axis] = int64(al.Layout.KeptLen(sel))
		}
	}
	return d
}

// Group returns the group with the given ID, or nil.
func (a *Analysis) Group(id int) *Group {
	if id < 0 || id >= len(a.Groups) {
		return nil
	}
	return a.Groups[id]
}

// Prunable returns the groups that may lose channels.
func (a *Analysis) Prunable() []*Group {
	var out []*Group
	for _, g := range a.Groups {
		if g.Prunable() {
			out = append(out, g)
		}
	}
	return out
}

// constEdit is a constant tensor (an initializer or a Constant output)
// and the uses that slice it. Uses that slice it alike share one sliced
// tensor; a constant read differently by several nodes (torch.onnx
// deduplicates equal initializers, e.g. zero biases, behind Identity nodes)
// is copied, so sharing never couples groups.
type constEdit struct {
	tensor string
	uses   []useAxes
}

// useAxes is one use of a constant: input slot of node, and the channel
// axes it needs sliced.
type useAxes struct {
	node, slot int
	axes       []AxisLayout
}

// nodeRec is a node whose parameters follow its input's channels.
type nodeRec struct {
	kind  recKind
	node  int      // index in Graph.Nodes
	axis  int      // the channel axis (split/slice)
	in    Layout   // the input's channel layout
	outs  []Layout // split: each output's layout
	index int      // slice: position of the channel axis in starts/ends
	lo    int      // slice: first position taken
	hi    int      // slice: end position
	attr  bool     // parameters are attributes (old opsets)
}

type recKind uint8

const (
	recDepthwise recKind = iota // Conv group = kept input channels
	recSplit                    // split sizes
	recSlice                    // starts/ends on the channel axis
)

// shapeEntry is one element of a constant shape vector (a Reshape target,
// Resize sizes, Expand shape) that holds a channel count.
type shapeEntry struct {
	tensor string
	index  int
	layout Layout
}

// ---------------------------------------------------------------------------
// The analyser.

type vkind uint8

const (
	kUnknown vkind = iota
	kAct           // computed from graph inputs
	kConst         // initializer or Constant output
	kShape         // computed from Shape/Size (shape arithmetic)
	kDerived       // computed from constants only
)

// chanInfo is an activation's channel axis and layout (internal group ids).
type chanInfo struct {
	axis int
	l    Layout
}

// igroup is a group under construction; groups merge with union-find.
type igroup struct {
	size    int
	roots   []*onnxio.Node
	filters []filterRef
	reasons []string
}

// filterRef is a root's filter tensor and the axis its filters lie along.
type filterRef struct {
	tensor *onnxio.Value
	axis   int
}

// constUse is one use of a constant (input slot of a node) whose axes
// follow channels.
type constUse struct {
	node  *onnxio.Node
	slot  int
	axes  map[int]Layout
	order int // registration order, for determinism
}

// symElem is one element of a small integer vector (a shape being
// computed): a known value, possibly copied unchanged from a constant
// (src, idx); a dimension read by Shape (dimOf, dimAx); or a computed value
// depending on some groups' channel counts (taint).
type symElem struct {
	val   int64
	known bool
	src   *onnxio.Value
	idx   int
	dimOf *onnxio.Value
	dimAx int
	taint []int
}

type srcIdx struct {
	v   *onnxio.Value
	idx int
}

type shapeRec struct {
	layout *Layout
	fixed  []string // nodes that need the element unchanged
	order  int
}

type rawMember struct {
	tensor string
	kind   string
	node   string
	axis   int
	l      Layout
}

type analyzer struct {
	g      *onnxio.Graph
	index  map[*onnxio.Node]int
	kind   map[*onnxio.Value]vkind
	ch     map[*onnxio.Value]*chanInfo
	groups []*igroup
	parent []int
	cuses  map[*onnxio.Value][]*constUse // by source constant
	nuses  int
	syms   map[*onnxio.Value][]symElem
	shapes map[srcIdx]*shapeRec
	recs   []nodeRec
	uses   map[*onnxio.Node][]*onnxio.Value
	mems   []rawMember

	cur     *onnxio.Node
	handled map[*onnxio.Value]bool // sym inputs the current node's handler dealt with
}

// maxSym bounds the integer vectors whose elements the analysis follows.
const maxSym = 64

// Analyze finds the channel groups of g. It never changes g: shapes are
// inferred on a clone.
//
// The analysis follows ONNX operator semantics, in the spirit of
// Torch-Pruning's DependencyGraph: every Conv (not depthwise), Gemm and
// MatMul with constant weights starts a group of its output channels; the
// channels then flow through the graph, tracked as a Layout on one axis of
// each activation, and every tensor axis they reach joins the group.
// Element-wise operations between feature maps (residual Add, SE's Mul)
// merge their operands' groups; Concat, Split and Slice map channels by
// offset; Flatten, Reshape, Squeeze, Unsqueeze and Transpose move the
// channel axis or map one channel onto several features; depthwise convs
// pass channels through. Whatever the analysis cannot map freezes only the
// groups it touches, with a reason.
func Analyze(g *onnxio.Graph) (*Analysis, error) {
	c := g.Clone()
	if err := c.InferShapes(); err != nil {
		return nil, fmt.Errorf("surgery: %w", err)
	}
	order, err := c.Topo()
	if err != nil {
		return nil, fmt.Errorf("surgery: %w", err)
	}
	a := &analyzer{
		g:      c,
		index:  make(map[*onnxio.Node]int, len(c.Nodes)),
		kind:   map[*onnxio.Value]vkind{},
		ch:     map[*onnxio.Value]*chanInfo{},
		cuses:  map[*onnxio.Value][]*constUse{},
		syms:   map[*onnxio.Value][]symElem{},
		shapes: map[srcIdx]*shapeRec{},
		uses:   map[*onnxio.Node][]*onnxio.Value{},
	}
	for i, n := range c.Nodes {
		a.index[n] = i
	}
	vals := c.Values()
	sort.Slice(vals, func(i, j int) bool { return vals[i].Name < vals[j].Name })
	for _, v := range vals {
		for _, n := range v.Consumers() {
			a.uses[n] = append(a.uses[n], v)
		}
		if v.IsConst() {
			a.kind[v] = kConst
		}
	}
	for _, v := range c.Inputs {
		if !v.IsConst() {
			a.kind[v] = kAct
		}
	}
	for _, n := range order {
		a.visit(n)
	}
	a.finish()
	return a.result(), nil
}

// visit classifies a node's outputs and runs its handler.
func (a *analyzer) visit(n *onnxio.Node) {
	a.cur, a.handled = n, map[*onnxio.Value]bool{}
	k := a.outKind(n)
	for _, o := range n.Outputs() {
		if o != nil {
			a.kind[o] = k
		}
	}
	if k == kAct {
		a.act(n)
	} else {
		a.sym(n)
	}
	// Shape-like inputs that no handler understood must keep their values.
	for _, v := range a.uses[n] {
		if !a.handled[v] {
			a.fixedUse(v, n)
		}
	}
}

func (a *analyzer) outKind(n *onnxio.Node) vkind {
	if n.DefaultDomain() {
		switch n.Op {
		case "Constant":
			return kConst
		case "Shape", "Size":
			return kShape
		case "Identity":
			if a.kind[n.Input(0)] == kConst {
				return kConst // an alias (torch.onnx shares equal initializers this way)
			}
		}
	}
	k := kDerived
	for _, v := range a.uses[n] {
		switch a.kind[v] {
		case kAct:
			return kAct
		case kShape:
			k = kShape
		}
	}
	return k
}

// ---------------------------------------------------------------------------
// Groups.

func (a *analyzer) newGroup(size int, root *onnxio.Node, w *onnxio.Value, axis int) int {
	id := len(a.groups)
	ig := &igroup{size: size}
	if root != nil {
		ig.roots = []*onnxio.Node{root}
		if w != nil {
			ig.filters = []filterRef{{w, axis}}
		}
	}
	a.groups = append(a.groups, ig)
	a.parent = append(a.parent, id)
	return id
}

// pseudo creates a frozen group for channels no root defines (a graph
// input or a constant concatenated with tracked channels).
func (a *analyzer) pseudo(size int, reason string) int {
	id := a.newGroup(size, nil, nil, 0)
	a.groups[id].reasons = []string{reason}
	return id
}

func (a *analyzer) find(x int) int {
	for a.parent[x] != x {
		a.parent[x] = a.parent[a.parent[x]]
		x = a.parent[x]
	}
	return x
}

func (a *analyzer) union(x, y int) {
	x, y = a.find(x), a.find(y)
	if x == y {
		return
	}
	if y < x {
		x, y = y, x
	}
	gx, gy := a.groups[x], a.groups[y]
	a.parent[y] = x
	gx.roots = append(gx.roots, gy.roots...)
	gx.filters = append(gx.filters, gy.filters...)
	gx.reasons = append(gx.reasons, gy.reasons...)
}

func (a *analyzer) freeze(gid int, reason string) {
	g := a.groups[a.find(gid)]
	if len(g.reasons) < 16 && !slices.Contains(g.reasons, reason) {
		g.reasons = append(g.reasons, reason)
	}
}

func (a *analyzer) freezeLayout(l Layout, reason string) {
	for _, s := range l.Segs {
		a.freeze(s.Group, reason)
	}
}

func (a *analyzer) freezeAll(reason string, gids []int) {
	for _, g := range gids {
		a.freeze(g, reason)
	}
}

// unify makes two layouts of the same positions agree: segment by
// segment, whole groups of equal size merge; anything else freezes both.
func (a *analyzer) unify(l1, l2 Layout, what string) (Layout, bool) {
	n1, n2 := a.canon(l1), a.canon(l2)
	ok := n1.Outer == n2.Outer && len(n1.Segs) == len(n2.Segs)
	for i := 0; ok && i < len(n1.Segs); i++ {
		s1, s2 := n1.Segs[i], n2.Segs[i]
		switch {
		case s1.Inner != s2.Inner || s1.Hi-s1.Lo != s2.Hi-s2.Lo:
			ok = false
		case s1.Group == s2.Group && s1.Lo == s2.Lo:
		case s1.Group != s2.Group && s1.Lo == 0 && s2.Lo == 0 &&
			s1.Hi == a.groups[s1.Group].size && s2.Hi == a.groups[s2.Group].size:
		default:
			ok = false
		}
	}
	if !ok {
		reason := fmt.Sprintf("%s couples channels %v with %v, which surgery cannot align", what, n1, n2)
		a.freezeLayout(n1, reason)
		a.freezeLayout(n2, reason)
		return l1, false
	}
	for i := range n1.Segs {
		a.union(n1.Segs[i].Group, n2.Segs[i].Group)
	}
	return a.canon(l1), true
}

// canon rewrites a layout's groups to their union-find roots and merges
// segments that continue each other.
func (a *analyzer) canon(l Layout) Layout {
	out := l.clone()
	for i := range out.Segs {
		out.Segs[i].Group = a.find(out.Segs[i].Group)
	}
	return out.normalize()
}

func (a *analyzer) layoutGroups(l Layout) []int {
	var out []int
	for _, s := range l.Segs {
		out = append(out, s.Group)
	}
	return out
}

// ---------------------------------------------------------------------------
// Values.

func (a *analyzer) dims(v *onnxio.Value) []int64 {
	if v == nil || !v.Type.HasShape {
		return nil
	}
	return v.Type.Shape.Ints()
}

func (a *analyzer) setAct(v *onnxio.Value, axis int, l Layout) {
	if v == nil {
		return
	}
	a.ch[v] = &chanInfo{axis: axis, l: l}
	node := ""
	if p := v.Producer(); p != nil {
		node = p.Name
	}
	a.mems = append(a.mems, rawMember{tensor: v.Name, kind: "activation", node: node, axis: axis, l: l})
}

// isConst reports whether v is an initializer, a Constant output, or an
// Identity of one.
func (a *analyzer) isConst(v *onnxio.Value) bool { return v != nil && a.kind[v] == kConst }

// mapConst records that the constant read at input slot of the current
// node carries layout l on axis.
func (a *analyzer) mapConst(slot, axis int, l Layout, kind string) {
	src := onnxio.ConstSource(a.cur.Input(slot))
	var u *constUse
	for _, x := range a.cuses[src] {
		if x.node == a.cur && x.slot == slot {
			u = x
		}
	}
	if u == nil {
		u = &constUse{node: a.cur, slot: slot, axes: map[int]Layout{}, order: a.nuses}
		a.nuses++
		a.cuses[src] = append(a.cuses[src], u)
	}
	if old, ok := u.axes[axis]; ok {
		l, _ = a.unify(old, l, fmt.Sprintf("tensor %q", src.Name))
	}
	u.axes[axis] = l
	a.mems = append(a.mems, rawMember{tensor: src.Name, kind: kind, node: a.cur.Name, axis: axis, l: l})
}

// ---------------------------------------------------------------------------
// Symbolic integer vectors (shape arithmetic).

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
		r := int64(len(d))
		start, end := n.AttrInt("start", 0), n.AttrInt("end", r)
		clamp := func(v int64) int64 {
			if v < 0 {
				v += r
			}
			return max(0, min(v, r))
		}
		start, end = clamp(start), clamp(end)
		var s []symElem
		for i := start; i < end; i++ {
			s = append(s, symElem{val: d[i], known: d[i] >= 0, dimOf: x, dimAx: int(i)})
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

// ---------------------------------------------------------------------------
// Finishing.

func (a *analyzer) finish() {
	for _, v := range a.g.Outputs {
		if c := a.ch[v]; c != nil {
			a.freezeLayout(c.l, fmt.Sprintf("its channels reach the graph output %q", v.Name))
		}
	}
	// A constant whose axes follow channels must be a tensor surgery can
	// write.
	for _, src := range a.constSources() {
		t := onnxio.ConstValue(src)
		if t != nil && t.DataType.ByteSize(1) >= 1 && t.DataType != onnxio.String {
			continue
		}
		for _, u := range a.cuses[src] {
			for _, l := range u.axes {
				a.freezeLayout(l, fmt.Sprintf("tensor %q cannot be rewritten (not a plain tensor of a byte-sized type)", src.Name))
			}
		}
	}
	keys := make([]srcIdx, 0, len(a.shapes))
	for k := range a.shapes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return a.shapes[keys[i]].order < a.shapes[keys[j]].order })
	for _, k := range keys {
		r := a.shapes[k]
		if r.layout == nil {
			continue
		}
		if len(r.fixed) > 0 {
			a.freezeLayout(*r.layout, fmt.Sprintf("shape constant %q holds a channel count but %s needs it unchanged", k.v.Name, r.fixed[0]))
		}
		if t := onnxio.ConstValue(k.v); t == nil {
			a.freezeLayout(*r.layout, fmt.Sprintf("shape constant %q cannot be rewritten", k.v.Name))
		}
	}
	for id, ig := range a.groups {
		if a.find(id) == id && ig.size <= 1 {
			a.freeze(id, "it has a single channel")
		}
	}
}

// result builds the public Analysis: final group IDs in order of first
// creation, members, layouts and rankings.
func (a *analyzer) result() *Analysis {
	final := make([]int, len(a.groups))
	res := &Analysis{
		acts:   map[string]AxisLayout{},
		consts: map[string][]AxisLayout{},
		dims:   map[string][]int64{},
		nodes:  len(a.g.Nodes),
	}
	for id := range a.groups {
		if a.find(id) == id {
			ig := a.groups[id]
			g := &Group{ID: len(res.Groups), Size: ig.size, reasons: ig.reasons}
			for _, r := range ig.roots {
				g.Roots = append(g.Roots, nodeName(r))
			}
			if len(ig.reasons) > 0 {
				g.Frozen = joinReasons(ig.reasons)
			}
			final[id] = g.ID
			res.Groups = append(res.Groups, g)
		}
	}
	for id := range a.groups {
		final[id] = final[a.find(id)]
	}
	fix := func(l Layout) Layout {
		out := l.clone()
		for i := range out.Segs {
			out.Segs[i].Group = final[out.Segs[i].Group]
		}
		return out.normalize()
	}
	for v, c := range a.ch {
		if c != nil {
			res.acts[v.Name] = AxisLayout{Axis: c.axis, Layout: fix(c.l)}
		}
	}
	for _, src := range a.constSources() {
		e := constEdit{tensor: src.Name}
		for _, u := range a.cuses[src] {
			ua := useAxes{node: a.index[u.node], slot: u.slot}
			for ax, l := range u.axes {
				ua.axes = append(ua.axes, AxisLayout{Axis: ax, Layout: fix(l)})
			}
			sort.Slice(ua.axes, func(i, j int) bool { return ua.axes[i].Axis < ua.axes[j].Axis })
			e.uses = append(e.uses, ua)
		}
		res.consts[src.Name] = e.uses[0].axes
		res.edits = append(res.edits, e)
	}
	for _, v := range a.g.Values() {
		if d := a.dims(v); d != nil {
			res.dims[v.Name] = d
		}
	}
	for _, r := range a.recs {
		r.in = fix(r.in)
		for i := range r.outs {
			r.outs[i] = fix(r.outs[i])
		}
		res.recs = append(res.recs, r)
	}
	keys := make([]srcIdx, 0, len(a.shapes))
	for k, r := range a.shapes {
		if r.layout != nil {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return a.shapes[keys[i]].order < a.shapes[keys[j]].order })
	for _, k := range keys {
		res.shapes = append(res.shapes, shapeEntry{tensor: k.v.Name, index: k.idx, layout: fix(*a.shapes[k].layout)})
	}
	for _, m := range a.mems {
		l := fix(m.l)
		period, off := l.Period(), 0
		for _, s := range l.Segs {
			g := res.Groups[s.Group]
			g.Members = append(g.Members, Member{Tensor: m.tensor, Kind: m.kind, Node: m.node, Axis: m.axis,
				Lo: s.Lo, Hi: s.Hi, Offset: off, Inner: s.Inner, Outer: l.Outer, Period: period})
			off += s.Len()
		}
	}
	for _, g := range res.Groups {
		g.Members = dedupMembers(g.Members)
	}
	for id, ig := range a.groups {
		if a.find(id) != id {
			continue
		}
		res.Groups[final[id]].filters = ig.filters
	}
	return res
}

// constSources returns the constants some use slices, in order of first
// registration.
func (a *analyzer) constSources() []*onnxio.Value {
	out := make([]*onnxio.Value, 0, len(a.cuses))
	for v := range a.cuses {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return a.cuses[out[i]][0].order < a.cuses[out[j]][0].order })
	return out
}

func nodeName(n *onnxio.Node) string {
	if n.Name != "" {
		return n.Name
	}
	if o := n.Output(0); o != nil {
		return n.Op + "→" + o.Name
	}
	return n.Op
}

func joinReasons(rs []string) string {
	if len(rs) <= 2 {
		return strings.Join(rs, "; ")
	}
	return fmt.Sprintf("%s; %s; and %d more", rs[0], rs[1], len(rs)-2)
}

func dedupMembers(ms []Member) []Member {
	seen := map[Member]bool{}
	out := ms[:0]
	for _, m := range ms {
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out
}
