package surgery

import (
	"fmt"
	"slices"
	"strings"
)

// Segment is a run of one group's channels along a tensor axis: channels
// Lo..Hi-1 of Group, in order, each occupying Inner consecutive positions
// (Inner > 1 after Flatten/Reshape maps one channel to H·W features, or
// after a depthwise conv with channel multiplier Inner).
type Segment struct {
	Group int `json:"group"`
	Lo    int `json:"lo"`
	Hi    int `json:"hi"`
	Inner int `json:"inner"`
}

// Len is the number of positions the segment covers.
func (s Segment) Len() int { return (s.Hi - s.Lo) * s.Inner }

// Layout maps the positions of one tensor axis to group channels: the
// segments lie one after the other, and the whole sequence repeats Outer
// times (Outer > 1 after an NHWC flatten, where each spatial position holds
// every channel). Position of channel c of segment s, inner index i, outer
// repeat o:
//
//	o·Period + Offset(s) + (c−s.Lo)·s.Inner + i
//
// where Period is the summed length of the segments and Offset(s) the
// summed length of the segments before s.
type Layout struct {
	Outer int       `json:"outer"`
	Segs  []Segment `json:"segments"`
}

// Period is the length of one repeat of the segments.
func (l Layout) Period() int {
	n := 0
	for _, s := range l.Segs {
		n += s.Len()
	}
	return n
}

// Len is the length of the axis.
func (l Layout) Len() int { return l.Outer * l.Period() }

// Selection gives, for each pruned group, the sorted channel indices it
// keeps. Groups that are absent keep every channel.
type Selection map[int][]int

// kept returns the channels of [lo, hi) that sel keeps, as a sub-slice of
// the group's keep list (or nil and all=true when the group is untouched).
func (sel Selection) kept(g, lo, hi int) (k []int, all bool) {
	keep, ok := sel[g]
	if !ok {
		return nil, true
	}
	a, _ := slices.BinarySearch(keep, lo)
	b, _ := slices.BinarySearch(keep, hi)
	return keep[a:b], false
}

// Touches reports whether sel prunes any group of the layout.
func (l Layout) Touches(sel Selection) bool {
	for _, s := range l.Segs {
		if _, ok := sel[s.Group]; ok {
			return true
		}
	}
	return false
}

// KeptLen is the length of the axis once sel is applied.
func (l Layout) KeptLen(sel Selection) int {
	n := 0
	for _, s := range l.Segs {
		k, all := sel.kept(s.Group, s.Lo, s.Hi)
		if all {
			n += s.Len()
		} else {
			n += len(k) * s.Inner
		}
	}
	return l.Outer * n
}

// Positions returns the sorted positions of the axis that survive sel.
func (l Layout) Positions(sel Selection) []int {
	out := make([]int, 0, l.KeptLen(sel))
	period := l.Period()
	for o := 0; o < l.Outer; o++ {
		base := o * period
		for _, s := range l.Segs {
			k, all := sel.kept(s.Group, s.Lo, s.Hi)
			if all {
				for p := 0; p < s.Len(); p++ {
					out = append(out, base+p)
				}
			} else {
				for _, c := range k {
					p0 := base + (c-s.Lo)*s.Inner
					for i := 0; i < s.Inner; i++ {
						out = append(out, p0+i)
					}
				}
			}
			base += s.Len()
		}
	}
	return out
}

// channelAt returns the group channel at position p of the axis.
func (l Layout) channelAt(p int) (group, channel int) {
	period := l.Period()
	p %= period
	for _, s := range l.Segs {
		if p < s.Len() {
			return s.Group, s.Lo + p/s.Inner
		}
		p -= s.Len()
	}
	return -1, -1
}

func (l Layout) String() string {
	var b strings.Builder
	if l.Outer != 1 {
		fmt.Fprintf(&b, "%d×", l.Outer)
	}
	b.WriteString("[")
	for i, s := range l.Segs {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "g%d[%d:%d]", s.Group, s.Lo, s.Hi)
		if s.Inner != 1 {
			fmt.Fprintf(&b, "×%d", s.Inner)
		}
	}
	b.WriteString("]")
	return b.String()
}

func (l Layout) clone() Layout {
	return Layout{Outer: l.Outer, Segs: slices.Clone(l.Segs)}
}

// full is the layout of a group of size n on its own.
func full(g, n int) Layout {
	return Layout{Outer: 1, Segs: []Segment{{Group: g, Lo: 0, Hi: n, Inner: 1}}}
}

// normalize merges adjacent segments that continue each other.
func (l Layout) normalize() Layout {
	out := Layout{Outer: l.Outer}
	for _, s := range l.Segs {
		if s.Hi == s.Lo {
			continue
		}
		if n := len(out.Segs); n > 0 {
			p := &out.Segs[n-1]
			if p.Group == s.Group && p.Hi == s.Lo && p.Inner == s.Inner {
				p.Hi = s.Hi
				continue
			}
		}
		out.Segs = append(out.Segs, s)
	}
	return out
}

// times multiplies every segment's Inner by m (a depthwise conv with
// channel multiplier m).
func (l Layout) times(m int) Layout {
	out := l.clone()
	for i := range out.Segs {
		out.Segs[i].Inner *= m
	}
	return out
}

// sub returns the layout of positions [lo, hi) of l. It fails when the
// range cuts through a channel's inner block or through repeats.
func (l Layout) sub(lo, hi int) (Layout, error) {
	if lo == 0 && hi == l.Len() {
		return l.clone(), nil
	}
	if l.Outer != 1 {
		return Layout{}, fmt.Errorf("positions %d..%d cut through a repeated channel layout", lo, hi)
	}
	out := Layout{Outer: 1}
	base := 0
	for _, s := range l.Segs {
		a, b := max(lo, base), min(hi, base+s.Len())
		if a < b {
			if (a-base)%s.Inner != 0 || (b-base)%s.Inner != 0 {
				return Layout{}, fmt.Errorf("positions %d..%d cut through the %d features of one channel", lo, hi, s.Inner)
			}
			out.Segs = append(out.Segs, Segment{Group: s.Group, Lo: s.Lo + (a-base)/s.Inner, Hi: s.Lo + (b-base)/s.Inner, Inner: s.Inner})
		}
		base += s.Len()
	}
	return out, nil
}

// concat joins layouts one after the other.
func concat(ls []Layout) (Layout, error) {
	if len(ls) == 1 {
		return ls[0].clone(), nil
	}
	out := Layout{Outer: 1}
	for _, l := range ls {
		if l.Outer != 1 {
			return Layout{}, fmt.Errorf("cannot concatenate a repeated channel layout %v", l)
		}
		out.Segs = append(out.Segs, l.Segs...)
	}
	return out.normalize(), nil
}

// uniformInner returns the Inner shared by every segment, or 0.
func (l Layout) uniformInner() int {
	in := 0
	for _, s := range l.Segs {
		if in == 0 {
			in = s.Inner
		} else if s.Inner != in {
			return 0
		}
	}
	return in
}

// reinner returns l with every segment's Inner set to inner and Outer
// multiplied by outer.
func (l Layout) reinner(inner, outer int) Layout {
	out := l.clone()
	out.Outer *= outer
	for i := range out.Segs {
		out.Segs[i].Inner = inner
	}
	return out
}
