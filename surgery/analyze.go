package surgery

import (
	"fmt"
	"slices"
	"sort"
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
