// The channel analysis: final freezes and the public Analysis.

package surgery

import (
	"fmt"
	"sort"
	"strings"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

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
