package surgery

import (
	"fmt"
	"slices"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// act handles a node that computes activations.
func (a *analyzer) act(n *onnxio.Node) {
	if !n.DefaultDomain() {
		a.opaque(n, fmt.Sprintf("operator %s of domain %q", n.Op, n.Domain))
		return
	}
	if n.HasSubgraph() {
		a.opaque(n, "an operator with subgraphs")
		return
	}
	switch onnxio.ClassOf(n.Op) {
	case onnxio.OpUnary:
		a.pass(n, n.Input(0)) // the channel axis passes through unchanged
		return
	case onnxio.OpBroadcast:
		a.elementwise(n)
		return
	case onnxio.OpPool, onnxio.OpGlobalPool:
		a.spatial(n) // spatial windows per channel: channels must be on axis 1
		return
	case onnxio.OpReduce:
		a.reduce(n)
		return
	}
	switch n.Op {
	case "Conv":
		a.conv(n)
	case "ConvTranspose":
		a.convTranspose(n)
	case "Gemm":
		a.gemm(n)
	case "MatMul":
		a.matmul(n)
	case "BatchNormalization":
		a.batchNorm(n, 5)
	case "InstanceNormalization":
		a.batchNorm(n, 3)
	case "Resize", "Upsample":
		a.resize(n)
	case "Pad":
		a.pad(n)
	case "Flatten", "Squeeze", "Unsqueeze":
		a.reshape(n, nil)
	case "Reshape":
		if n.Input(1) == nil {
			a.opaque(n, "Reshape with a shape attribute (opset < 5)")
			return
		}
		a.handled[n.Input(1)] = true
		a.reshape(n, a.symOf(n.Input(1)))
	case "Transpose":
		a.transpose(n)
	case "Concat":
		a.concat(n)
	case "Split":
		a.split(n)
	case "Slice":
		a.slice(n)
	case "Gather":
		a.gather(n)
	case "Expand":
		a.expand(n)
	case "Tile":
		a.tile(n)
	case "Softmax", "LogSoftmax", "Hardmax":
		a.softmax(n)
	case "LRN":
		a.axisOp(n, func(c *chanInfo, r int) bool { return c.axis == 1 }, "normalises across channels")
	case "LayerNormalization":
		ax := n.AttrInt("axis", -1)
		a.axisOp(n, func(c *chanInfo, r int) bool { return c.axis >= normAxis(ax, r) }, "normalises over the channel axis")
	case "GroupNormalization":
		a.axisOp(n, func(c *chanInfo, r int) bool { return c.axis == 1 }, "normalises groups of channels together")
	case "MeanVarianceNormalization":
		axes := n.AttrInts("axes")
		if axes == nil {
			axes = []int64{0, 2, 3}
		}
		a.axisOp(n, func(c *chanInfo, r int) bool {
			for _, x := range axes {
				if normAxis(x, r) == c.axis {
					return true
				}
			}
			return false
		}, "normalises over the channel axis")
	case "ArgMax", "ArgMin":
		a.argReduce(n)
	default:
		a.opaque(n, "an operator surgery cannot map")
	}
}

// opaque freezes the groups of every activation n reads; its outputs are
// not tracked.
func (a *analyzer) opaque(n *onnxio.Node, why string) {
	for _, v := range a.uses[n] {
		if c := a.ch[v]; c != nil {
			a.freezeLayout(c.l, fmt.Sprintf("%q is read by %v, %s", v.Name, n, why))
		}
	}
}

// pass makes every output of n carry the channels of x unchanged.
func (a *analyzer) pass(n *onnxio.Node, x *onnxio.Value) {
	c := a.ch[x]
	for i, o := range n.Outputs() {
		if o == nil {
			continue
		}
		if n.Op == "MaxPool" && i == 1 {
			// Indices encode flat positions, channel included.
			if c != nil && (len(o.Consumers()) > 0 || slices.Contains(a.g.Outputs, o)) {
				a.freezeLayout(c.l, fmt.Sprintf("the indices output of %v encode channel positions", n))
			}
			continue
		}
		if c != nil {
			a.setAct(o, c.axis, c.l)
		}
	}
}

// normAxis is onnxio.NormAxis, with −1 for an axis out of range (which
// names no channel axis).
func normAxis(ax int64, r int) int {
	a, err := onnxio.NormAxis(ax, r)
	if err != nil {
		return -1
	}
	return a
}

// axisOp passes channels through an operator that is channel-wise unless
// bad says it works across the channel axis, in which case it freezes.
func (a *analyzer) axisOp(n *onnxio.Node, bad func(c *chanInfo, rank int) bool, why string) {
	x := n.Input(0)
	c := a.ch[x]
	if c != nil && bad(c, len(a.dims(x))) {
		a.freezeLayout(c.l, fmt.Sprintf("%v %s", n, why))
	}
	if c != nil {
		a.setAct(n.Output(0), c.axis, c.l)
	}
}

// softmax: Softmax over the channel axis mixes channels. Below opset 13
// the axis means "flatten from here", so the test is conservative: the
// graph's opset is not known here, and either reading freezes when the
// channel axis is at or after the softmax axis.
func (a *analyzer) softmax(n *onnxio.Node) {
	x := n.Input(0)
	r := len(a.dims(x))
	ax := 1
	if at := n.Attr("axis"); at != nil {
		ax = normAxis(at.GetI(), r)
	}
	a.axisOp(n, func(c *chanInfo, r int) bool { return c.axis >= ax }, "normalises over the channel axis")
}

func (a *analyzer) conv(n *onnxio.Node) {
	x, w, b := n.Input(0), n.Input(1), n.Input(2)
	if !a.isConst(w) || (b != nil && !a.isConst(b)) || a.kind[x] != kAct {
		a.opaque(n, "a Conv whose weights are not constants")
		return
	}
	xs, ws := a.dims(x), a.dims(w)
	if len(xs) < 3 || len(ws) != len(xs) || xs[1] < 0 {
		a.opaque(n, "a Conv of unexpected shape")
		return
	}
	cin, cout := int(xs[1]), int(ws[0])
	group := int(n.AttrInt("group", 1))
	c := a.ch[x]
	if c != nil && c.axis != 1 {
		a.freezeLayout(c.l, fmt.Sprintf("%v convolves over the axis %d that carries the channels of %q", n, c.axis, x.Name))
		c = nil
	}
	out := n.Output(0)
	switch {
	case group == cin && ws[1] == 1 && (group > 1 || (cout == 1 && c != nil)):
		// Depthwise: each input channel has its own cout/cin filters.
		if c == nil {
			return
		}
		ol := c.l.times(cout / cin)
		a.mapConst(1, 0, ol, "depthwise")
		if b != nil {
			a.mapConst(2, 0, ol, "bias")
		}
		a.setAct(out, 1, ol)
		a.recs = append(a.recs, nodeRec{kind: recDepthwise, node: a.index[n], in: c.l.clone()})
	case group == 1:
		if c != nil {
			a.mapConst(1, 1, c.l, "input")
		}
		gid := a.newGroup(cout, n, w, 0)
		l := full(gid, cout)
		a.mapConst(1, 0, l, "filters")
		if b != nil {
			a.mapConst(2, 0, l, "bias")
		}
		a.setAct(out, 1, l)
	default:
		if c != nil {
			a.freezeLayout(c.l, fmt.Sprintf("%v is a grouped conv (group %d) reading %q", n, group, x.Name))
		}
		gid := a.newGroup(cout, n, w, 0)
		a.freeze(gid, fmt.Sprintf("they are the outputs of the grouped conv %v (group %d)", n, group))
		l := full(gid, cout)
		a.mapConst(1, 0, l, "filters")
		if b != nil {
			a.mapConst(2, 0, l, "bias")
		}
		a.setAct(out, 1, l)
	}
}

func (a *analyzer) convTranspose(n *onnxio.Node) {
	x, w, b := n.Input(0), n.Input(1), n.Input(2)
	if !a.isConst(w) || (b != nil && !a.isConst(b)) || a.kind[x] != kAct || n.AttrInt("group", 1) != 1 {
		a.opaque(n, "a ConvTranspose surgery cannot map (grouped, or weights not constants)")
		return
	}
	ws := a.dims(w)
	if len(ws) < 3 {
		a.opaque(n, "a ConvTranspose of unexpected shape")
		return
	}
	c := a.ch[x]
	if c != nil && c.axis != 1 {
		a.freezeLayout(c.l, fmt.Sprintf("%v convolves over the axis carrying channels", n))
		c = nil
	}
	if c != nil {
		a.mapConst(1, 0, c.l, "input")
	}
	cout := int(ws[1])
	gid := a.newGroup(cout, n, w, 1)
	l := full(gid, cout)
	a.mapConst(1, 1, l, "filters")
	if b != nil {
		a.mapConst(2, 0, l, "bias")
	}
	a.setAct(n.Output(0), 1, l)
}

func (a *analyzer) gemm(n *onnxio.Node) {
	x, w, b := n.Input(0), n.Input(1), n.Input(2)
	if a.kind[x] != kAct || !a.isConst(w) || (b != nil && a.kind[b] == kAct) {
		a.opaque(n, "a Gemm whose B is not a constant")
		return
	}
	xs, ws, os := a.dims(x), a.dims(w), a.dims(n.Output(0))
	if len(xs) != 2 || len(ws) != 2 || len(os) != 2 {
		a.opaque(n, "a Gemm of unexpected shape")
		return
	}
	feat := 1
	if n.AttrInt("transA", 0) == 1 {
		feat = 0
	}
	inAx, outAx := 0, 1
	if n.AttrInt("transB", 0) == 1 {
		inAx, outAx = 1, 0
	}
	c := a.ch[x]
	if c != nil && c.axis != feat {
		a.freezeLayout(c.l, fmt.Sprintf("%v multiplies along the axis carrying the channels of %q", n, x.Name))
		c = nil
	}
	if c != nil {
		a.mapConst(1, inAx, c.l, "input")
	}
	nout := int(ws[outAx])
	gid := a.newGroup(nout, n, w, outAx)
	l := full(gid, nout)
	a.mapConst(1, outAx, l, "filters")
	if b != nil {
		bs := a.dims(b)
		perChannel := len(bs) >= 1 && bs[len(bs)-1] == int64(nout) && nout > 1
		switch {
		case a.isConst(b):
			if perChannel {
				a.mapConst(2, len(bs)-1, l, "bias")
			}
		case perChannel:
			a.freeze(gid, fmt.Sprintf("the bias of %v is computed in the graph", n))
		}
	}
	a.setAct(n.Output(0), 1, l)
}

func (a *analyzer) matmul(n *onnxio.Node) {
	x, w := n.Input(0), n.Input(1)
	if a.kind[x] != kAct || !a.isConst(w) {
		a.opaque(n, "a MatMul whose second operand is not a constant")
		return
	}
	xs, ws := a.dims(x), a.dims(w)
	if len(ws) != 2 || len(xs) < 2 {
		a.opaque(n, "a MatMul of unexpected shape")
		return
	}
	c := a.ch[x]
	if c != nil && c.axis != len(xs)-1 {
		a.freezeLayout(c.l, fmt.Sprintf("%v multiplies along the axis carrying the channels of %q", n, x.Name))
		c = nil
	}
	if c != nil {
		a.mapConst(1, 0, c.l, "input")
	}
	nout := int(ws[1])
	gid := a.newGroup(nout, n, w, 1)
	l := full(gid, nout)
	a.mapConst(1, 1, l, "filters")
	a.setAct(n.Output(0), len(xs)-1, l)
}

// batchNorm: inputs 1..np-1 are per-channel parameters.
func (a *analyzer) batchNorm(n *onnxio.Node, np int) {
	x := n.Input(0)
	c := a.ch[x]
	if c != nil && c.axis != 1 {
		a.freezeLayout(c.l, fmt.Sprintf("%v normalises axis 1, not the channel axis %d", n, c.axis))
		c = nil
	}
	for i := 1; i < np; i++ {
		p := n.Input(i)
		if p == nil {
			continue
		}
		if !a.isConst(p) {
			if c != nil {
				a.freezeLayout(c.l, fmt.Sprintf("the parameters of %v are computed in the graph", n))
			}
			continue
		}
		if c != nil {
			a.mapConst(i, 0, c.l, "bn")
		}
	}
	if c == nil {
		return
	}
	a.setAct(n.Output(0), 1, c.l)
	for _, o := range n.Outputs()[1:] {
		if o != nil && (len(o.Consumers()) > 0 || slices.Contains(a.g.Outputs, o)) {
			a.freezeLayout(c.l, fmt.Sprintf("%v outputs running statistics that are used", n))
		}
	}
}

// elementwise handles broadcasting operators: operands whose channels
// line up merge their groups; per-channel constants join the group.
func (a *analyzer) elementwise(n *onnxio.Node) {
	out := n.Output(0)
	os := a.dims(out)
	r := len(os)
	type operand struct {
		v    *onnxio.Value
		slot int
		off  int
		d    []int64
	}
	var ops []operand
	for i, v := range n.Inputs() {
		if v != nil {
			d := a.dims(v)
			ops = append(ops, operand{v, i, r - len(d), d})
		}
	}
	// Tracked operands that are not broadcast along their channel axis.
	axis := -1
	var lays []Layout
	conflict := false
	for _, op := range ops {
		c := a.ch[op.v]
		if c == nil {
			continue
		}
		p := c.axis + op.off
		if p >= r || os[p] != int64(c.l.Len()) {
			continue // broadcast from one channel
		}
		if axis >= 0 && p != axis {
			conflict = true
		}
		axis = p
		lays = append(lays, c.l)
	}
	what := fmt.Sprintf("%v", n)
	if conflict {
		for _, l := range lays {
			a.freezeLayout(l, fmt.Sprintf("%v combines tensors whose channels lie on different axes", n))
		}
		return
	}
	if axis < 0 {
		return
	}
	l := lays[0]
	for _, m := range lays[1:] {
		var ok bool
		if l, ok = a.unify(l, m, what); !ok {
			break
		}
	}
	for _, op := range ops {
		if a.ch[op.v] != nil {
			continue
		}
		j := axis - op.off
		if j < 0 || op.d == nil || op.d[j] == 1 {
			continue // not along the channel axis
		}
		switch a.kind[op.v] {
		case kConst:
			a.mapConst(op.slot, j, l, "const")
		case kAct:
			a.freezeLayout(l, fmt.Sprintf("%v combines them with %q, whose channels are not tracked", n, op.v.Name))
		default:
			a.freezeLayout(l, fmt.Sprintf("%v combines them with the per-channel tensor %q computed in the graph", n, op.v.Name))
		}
	}
	a.setAct(out, axis, l)
}

// spatial handles pooling: windows over axes 2.., one channel at a time.
func (a *analyzer) spatial(n *onnxio.Node) {
	x := n.Input(0)
	if c := a.ch[x]; c != nil && c.axis != 1 {
		a.freezeLayout(c.l, fmt.Sprintf("%v pools over the axis %d carrying the channels of %q", n, c.axis, x.Name))
		return
	}
	a.pass(n, x)
}

func (a *analyzer) resize(n *onnxio.Node) {
	x := n.Input(0)
	c := a.ch[x]
	if c == nil {
		return
	}
	r := len(a.dims(x))
	pos := c.axis // index of the channel axis in scales/sizes
	if axes := n.AttrInts("axes"); axes != nil {
		pos = -1
		for i, ax := range axes {
			if normAxis(ax, r) == c.axis {
				pos = i
			}
		}
	}
	fail := func(why string) {
		a.freezeLayout(c.l, fmt.Sprintf("%v: %s", n, why))
	}
	var scales, sizes *onnxio.Value
	switch {
	case n.Op == "Upsample" || len(n.Inputs()) == 2:
		scales = n.Input(1)
		if sc := n.AttrFloats("scales"); sc != nil {
			if pos >= 0 && pos < len(sc) && sc[pos] != 1 {
				fail("it scales the channel axis")
			}
		}
	default:
		scales, sizes = n.Input(2), n.Input(3)
	}
	if scales != nil && pos >= 0 {
		if t := onnxio.ConstValue(scales); t != nil {
			if t.NumElements() > 0 {
				f, err := t.Float64s()
				if err != nil || pos >= len(f) || f[pos] != 1 {
					fail("it scales the channel axis")
				}
			}
		} else if d := a.dims(scales); len(d) != 1 || d[0] != 0 {
			fail("its scales are computed in the graph")
		}
	}
	if sizes != nil && pos >= 0 {
		a.handled[sizes] = true
		e := a.symOf(sizes)
		switch {
		case e == nil:
			fail("its sizes cannot be followed")
		case pos < len(e):
			for i, el := range e {
				if i == pos {
					a.needCount(el, c.l, fmt.Sprintf("%q", sizes.Name))
				} else {
					a.fixedElem(el, n, sizes)
				}
			}
		}
	}
	a.setAct(n.Output(0), c.axis, c.l)
}

func (a *analyzer) pad(n *onnxio.Node) {
	x := n.Input(0)
	c := a.ch[x]
	if c == nil {
		return
	}
	r := len(a.dims(x))
	var pads []int64
	known := true
	if p := n.AttrInts("pads"); p != nil && n.Input(1) == nil {
		pads = p
	} else {
		for _, e := range a.symOf(n.Input(1)) {
			pads = append(pads, e.val)
			known = known && e.known
		}
	}
	axes := make([]int, r)
	for i := range axes {
		axes[i] = i
	}
	if av := n.Input(3); av != nil {
		axes = axes[:0]
		for _, e := range a.symOf(av) {
			axes = append(axes, normAxis(e.val, r))
			known = known && e.known
		}
	}
	if !known || len(pads) != 2*len(axes) {
		a.freezeLayout(c.l, fmt.Sprintf("%v has pads surgery cannot read", n))
	} else {
		for i, ax := range axes {
			if ax == c.axis && (pads[i] != 0 || pads[i+len(axes)] != 0) {
				a.freezeLayout(c.l, fmt.Sprintf("%v pads the channel axis", n))
			}
		}
	}
	a.setAct(n.Output(0), c.axis, c.l)
}

// reshape maps the channel axis through a shape-only operator (Reshape,
// Flatten, Squeeze, Unsqueeze) from the input and output shapes; target is
// Reshape's shape vector.
func (a *analyzer) reshape(n *onnxio.Node, target []symElem) {
	x, out := n.Input(0), n.Output(0)
	c := a.ch[x]
	if c == nil {
		return
	}
	xs, os := a.dims(x), a.dims(out)
	b, l, err := reshapeLayout(c.axis, c.l, xs, os)
	if err != nil {
		a.freezeLayout(c.l, fmt.Sprintf("%v %v", n, err))
		return
	}
	if n.Op == "Reshape" {
		if target == nil || len(target) != len(os) {
			a.freezeLayout(c.l, fmt.Sprintf("%v takes a target shape surgery cannot follow", n))
			return
		}
		allowZero := n.AttrInt("allowzero", 0) == 1
		ok := true
		for j, e := range target {
			minus1 := e.known && e.val == -1
			copyDim := e.known && e.val == 0 && !allowZero
			switch {
			case j == b && minus1:
				a.fixedElem(e, n, n.Input(1))
			case j == b && copyDim:
				a.fixedElem(e, n, n.Input(1))
				if c.axis != j || xs[j] != os[j] {
					ok = false
				}
			case j == b:
				ok = a.needCount(e, l, fmt.Sprintf("element %d of %q", j, n.Input(1).Name)) && ok
			case copyDim && j == c.axis:
				ok = false
			default:
				a.fixedElem(e, n, n.Input(1))
			}
		}
		if !ok {
			a.freezeLayout(c.l, fmt.Sprintf("%v sets the channel count in a way surgery cannot rewrite", n))
			a.freezeLayout(l, fmt.Sprintf("%v sets the channel count in a way surgery cannot rewrite", n))
		}
	}
	a.setAct(out, b, l)
}

// reshapeLayout finds where the channels of axis ax (layout l) of a tensor
// of shape xs land in the row-major reshape to os, and their new layout.
//
// With the channels in slots of T elements each (T = Inner·∏xs[ax+1:]),
// K slots, and S[j] = ∏os[j:], the channels land on output axis b when
// S[b+1] divides T and K·T divides S[b]: each channel then takes
// T/S[b+1] consecutive positions of axis b, and the slots repeat
// S[b]/(K·T) times along it.
func reshapeLayout(ax int, l Layout, xs, os []int64) (int, Layout, error) {
	inner := l.uniformInner()
	if inner == 0 || ax >= len(xs) {
		return 0, Layout{}, fmt.Errorf("mixes channels of different feature counts")
	}
	t := int64(inner)
	for _, d := range xs[ax+1:] {
		if d < 0 {
			return 0, Layout{}, fmt.Errorf("reshapes dimensions that are not known")
		}
		t *= d
	}
	k := int64(l.Len() / inner)
	s := make([]int64, len(os)+1)
	s[len(os)] = 1
	for j := len(os) - 1; j >= 0; j-- {
		if os[j] < 0 || s[j+1] < 0 {
			s[j] = -1
		} else {
			s[j] = os[j] * s[j+1]
		}
	}
	best := -1
	for b := 0; b < len(os); b++ {
		if s[b] < 0 || s[b+1] <= 0 || t%s[b+1] != 0 || s[b]%(k*t) != 0 {
			continue
		}
		if best < 0 || abs(b-ax) < abs(best-ax) {
			best = b
		}
	}
	if best < 0 {
		return 0, Layout{}, fmt.Errorf("mixes the channel axis with other dimensions")
	}
	return best, l.reinner(int(t/s[best+1]), int(s[best]/(k*t))), nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func (a *analyzer) transpose(n *onnxio.Node) {
	x := n.Input(0)
	c := a.ch[x]
	if c == nil {
		return
	}
	r := len(a.dims(x))
	perm := n.AttrInts("perm")
	if perm == nil {
		for i := r - 1; i >= 0; i-- {
			perm = append(perm, int64(i))
		}
	}
	for j, p := range perm {
		if int(p) == c.axis {
			a.setAct(n.Output(0), j, c.l)
			return
		}
	}
	a.freezeLayout(c.l, fmt.Sprintf("%v has a permutation surgery cannot read", n))
}

func (a *analyzer) concat(n *onnxio.Node) {
	out := n.Output(0)
	os := a.dims(out)
	r := len(os)
	ax := normAxis(n.AttrInt("axis", 0), r)
	var tracked []*chanInfo
	onAxis := 0
	for _, v := range n.Inputs() {
		if c := a.ch[v]; c != nil {
			tracked = append(tracked, c)
			if c.axis == ax {
				onAxis++
			}
		}
	}
	if len(tracked) == 0 {
		return
	}
	freeze := func(why string) {
		for _, c := range tracked {
			a.freezeLayout(c.l, fmt.Sprintf("%v %s", n, why))
		}
	}
	if onAxis == 0 {
		// Concatenation along another axis: channel c of every input is
		// channel c of the output.
		caxis := tracked[0].axis
		l := tracked[0].l
		for _, c := range tracked[1:] {
			if c.axis != caxis {
				freeze("joins tensors whose channels lie on different axes")
				return
			}
			var ok bool
			if l, ok = a.unify(l, c.l, n.String()); !ok {
				return
			}
		}
		for i, v := range n.Inputs() {
			if v == nil || a.ch[v] != nil {
				continue
			}
			switch a.kind[v] {
			case kConst:
				a.mapConst(i, caxis, l, "const")
			default:
				freeze(fmt.Sprintf("joins them with %q, whose channels are not tracked", v.Name))
			}
		}
		a.setAct(out, caxis, l)
		return
	}
	if onAxis != len(tracked) {
		freeze("joins tensors whose channels lie on different axes")
		return
	}
	var parts []Layout
	for _, v := range n.Inputs() {
		if v == nil {
			continue
		}
		if c := a.ch[v]; c != nil {
			parts = append(parts, c.l)
			continue
		}
		d := a.dims(v)
		if ax >= len(d) || d[ax] < 0 {
			freeze("joins a tensor of unknown size")
			return
		}
		if d[ax] == 0 {
			continue
		}
		why := fmt.Sprintf("they come from %q, whose channels are not tracked", v.Name)
		if a.kind[v] == kConst {
			why = fmt.Sprintf("they are the constant %q", v.Name)
		}
		parts = append(parts, full(a.pseudo(int(d[ax]), why), int(d[ax])))
	}
	l, err := concat(parts)
	if err != nil {
		freeze(err.Error())
		return
	}
	a.setAct(out, ax, l)
}

func (a *analyzer) split(n *onnxio.Node) {
	x := n.Input(0)
	c := a.ch[x]
	if c == nil {
		return
	}
	xs := a.dims(x)
	ax := normAxis(n.AttrInt("axis", 0), len(xs))
	if ax != c.axis {
		for _, o := range n.Outputs() {
			if o != nil {
				a.setAct(o, c.axis, c.l)
			}
		}
		return
	}
	var sizes []int64
	attr, explicit := false, true
	switch {
	case n.Attr("split") != nil:
		sizes, attr = n.AttrInts("split"), true
	case n.Input(1) != nil:
		a.handled[n.Input(1)] = true
		for _, e := range a.symOf(n.Input(1)) {
			if !e.known {
				sizes = nil
				break
			}
			sizes = append(sizes, e.val)
			a.fixedElem(e, n, n.Input(1))
		}
	default:
		explicit = false
		for _, o := range n.Outputs() {
			if d := a.dims(o); ax < len(d) {
				sizes = append(sizes, d[ax])
			}
		}
	}
	if len(sizes) != len(n.Outputs()) {
		a.freezeLayout(c.l, fmt.Sprintf("%v splits the channels by sizes surgery cannot read", n))
		return
	}
	if !explicit {
		a.freezeLayout(c.l, fmt.Sprintf("%v splits the channels into equal parts without explicit sizes", n))
	}
	rec := nodeRec{kind: recSplit, node: a.index[n], axis: ax, in: c.l.clone(), attr: attr}
	off := 0
	for i, o := range n.Outputs() {
		sub, err := c.l.sub(off, off+int(sizes[i]))
		if err != nil {
			a.freezeLayout(c.l, fmt.Sprintf("%v %v", n, err))
			return
		}
		off += int(sizes[i])
		rec.outs = append(rec.outs, sub)
		if o != nil {
			a.setAct(o, ax, sub)
		}
		a.mems = append(a.mems, rawMember{tensor: x.Name, kind: "split", node: n.Name, axis: i, l: sub})
	}
	if explicit {
		a.recs = append(a.recs, rec)
	}
}

func (a *analyzer) slice(n *onnxio.Node) {
	x := n.Input(0)
	c := a.ch[x]
	if c == nil {
		return
	}
	r := len(a.dims(x))
	var starts, ends, axes, steps []int64
	attr := n.Attr("starts") != nil
	known := true
	read := func(i int) []int64 {
		v := n.Input(i)
		if v == nil {
			return nil
		}
		a.handled[v] = true
		var out []int64
		for _, e := range a.symOf(v) {
			out = append(out, e.val)
			known = known && e.known && len(a.taint(e)) == 0
			if e.src != nil {
				rec := a.shapeRec(e.src, e.idx)
				rec.fixed = append(rec.fixed, n.String())
			}
		}
		if a.symOf(v) == nil {
			known = false
		}
		return out
	}
	if attr {
		starts, ends, axes = n.AttrInts("starts"), n.AttrInts("ends"), n.AttrInts("axes")
	} else {
		starts, ends, axes, steps = read(1), read(2), read(3), read(4)
	}
	if !known || len(ends) != len(starts) || (axes != nil && len(axes) != len(starts)) || (steps != nil && len(steps) != len(starts)) {
		a.freezeLayout(c.l, fmt.Sprintf("%v has parameters surgery cannot read", n))
		return
	}
	at := -1
	for i := range starts {
		ax := i
		if axes != nil {
			ax = normAxis(axes[i], r)
		}
		if ax == c.axis {
			at = i
		}
	}
	if at < 0 {
		a.setAct(n.Output(0), c.axis, c.l)
		return
	}
	step := int64(1)
	if steps != nil {
		step = steps[at]
	}
	length := int64(c.l.Len())
	lo, hi, _ := onnxio.SliceBounds(starts[at], ends[at], step, length)
	if step != 1 {
		a.freezeLayout(c.l, fmt.Sprintf("%v takes every %d-th channel", n, step))
		return
	}
	hi = max(hi, lo)
	sub, err := c.l.sub(int(lo), int(hi))
	if err != nil {
		a.freezeLayout(c.l, fmt.Sprintf("%v %v", n, err))
		return
	}
	a.recs = append(a.recs, nodeRec{kind: recSlice, node: a.index[n], axis: c.axis, in: c.l.clone(), index: at, lo: int(lo), hi: int(hi), attr: attr})
	a.mems = append(a.mems, rawMember{tensor: x.Name, kind: "slice", node: n.Name, axis: c.axis, l: sub})
	a.setAct(n.Output(0), c.axis, sub)
}

func (a *analyzer) gather(n *onnxio.Node) {
	x, idx := n.Input(0), n.Input(1)
	c := a.ch[x]
	if c == nil {
		return
	}
	r := len(a.dims(x))
	ax := normAxis(n.AttrInt("axis", 0), r)
	if ax == c.axis {
		a.freezeLayout(c.l, fmt.Sprintf("%v picks channels by index", n))
		return
	}
	out := c.axis
	if c.axis > ax {
		out += len(a.dims(idx)) - 1
	}
	a.setAct(n.Output(0), out, c.l)
}

func (a *analyzer) expand(n *onnxio.Node) {
	x, shp, out := n.Input(0), n.Input(1), n.Output(0)
	c := a.ch[x]
	if c == nil {
		return
	}
	a.handled[shp] = true
	xs, os := a.dims(x), a.dims(out)
	b := c.axis + len(os) - len(xs)
	if b >= len(os) || os[b] != int64(c.l.Len()) {
		a.freezeLayout(c.l, fmt.Sprintf("%v broadcasts along the channel axis", n))
		return
	}
	e := a.symOf(shp)
	if e == nil {
		a.freezeLayout(c.l, fmt.Sprintf("%v takes a shape surgery cannot follow", n))
		return
	}
	for i, el := range e {
		j := i + len(os) - len(e)
		if j == b && !(el.known && el.val == 1) {
			a.needCount(el, c.l, fmt.Sprintf("element %d of %q", i, shp.Name))
		} else {
			a.fixedElem(el, n, shp)
		}
	}
	a.setAct(out, b, c.l)
}

func (a *analyzer) tile(n *onnxio.Node) {
	x := n.Input(0)
	c := a.ch[x]
	if c == nil {
		return
	}
	e := a.symOf(n.Input(1))
	if c.axis >= len(e) || !e[c.axis].known || e[c.axis].val != 1 {
		a.freezeLayout(c.l, fmt.Sprintf("%v repeats along the channel axis", n))
		return
	}
	a.setAct(n.Output(0), c.axis, c.l)
}

func (a *analyzer) reduce(n *onnxio.Node) {
	x := n.Input(0)
	c := a.ch[x]
	if c == nil {
		return
	}
	r := len(a.dims(x))
	axes := n.AttrInts("axes")
	if axes == nil && n.Input(1) != nil {
		e := a.symOf(n.Input(1))
		for _, el := range e {
			if !el.known {
				a.freezeLayout(c.l, fmt.Sprintf("%v reduces over axes surgery cannot read", n))
				return
			}
			axes = append(axes, el.val)
		}
		if e == nil {
			a.freezeLayout(c.l, fmt.Sprintf("%v reduces over axes surgery cannot read", n))
			return
		}
	}
	if len(axes) == 0 {
		if n.AttrInt("noop_with_empty_axes", 0) == 1 {
			a.setAct(n.Output(0), c.axis, c.l)
			return
		}
		a.freezeLayout(c.l, fmt.Sprintf("%v reduces over the channel axis", n))
		return
	}
	keep := n.AttrInt("keepdims", 1) == 1
	out := c.axis
	for _, x := range axes {
		ax := normAxis(x, r)
		if ax == c.axis {
			a.freezeLayout(c.l, fmt.Sprintf("%v reduces over the channel axis", n))
			return
		}
		if ax < c.axis && !keep {
			out--
		}
	}
	a.setAct(n.Output(0), out, c.l)
}

func (a *analyzer) argReduce(n *onnxio.Node) {
	x := n.Input(0)
	c := a.ch[x]
	if c == nil {
		return
	}
	ax := normAxis(n.AttrInt("axis", 0), len(a.dims(x)))
	if ax == c.axis {
		a.freezeLayout(c.l, fmt.Sprintf("%v picks a channel index", n))
		return
	}
	out := c.axis
	if ax < c.axis && n.AttrInt("keepdims", 1) == 0 {
		out--
	}
	a.setAct(n.Output(0), out, c.l)
}
