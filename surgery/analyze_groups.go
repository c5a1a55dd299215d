// The channel analysis: groups under construction (union-find), freezing
// and unifying layouts.

package surgery

import (
	"fmt"
	"slices"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

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
