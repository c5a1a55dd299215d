package surgery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
)

// Plan says which channels each group keeps. It is plain data, written as
// JSON:
//
//	{
//	  "rank": "l2",
//	  "round_to": 8,
//	  "groups": [
//	    {"group": 3, "keep": [0, 2, 5, 6], "roots": ["/conv1/Conv"], "size": 8},
//	    {"group": 7, "drop": 16}
//	  ]
//	}
//
// Each entry gives either the sorted channel indices the group keeps, or a
// number of channels to drop, which Resolve turns into kept indices by
// ranking (Rank: l2, the default, or l1). RoundTo rounds every kept count
// to a multiple (see RoundCount). A history of plans, each made on the
// previous result, becomes one plan for the original model with Compose.
//
// Roots and Size describe the group; Resolve fills them in. Size is checked
// when present, so a plan made for one model is refused on another. Roots,
// when present, identify the group: root layers belong to one group each,
// and pruning keeps names. An entry whose ID names a group with other roots
// is matched to the group with exactly its roots. This matters because a
// conv pruned to one input and one output channel is both a depthwise and
// a plain conv, so re-analysing a heavily pruned model can renumber the
// groups after it (only single-channel groups, which cannot be pruned
// further, change).
type Plan struct {
	Rank    Rank        `json:"rank,omitempty"`
	RoundTo int         `json:"round_to,omitempty"`
	Groups  []GroupPlan `json:"groups"`
}

// GroupPlan is one group's part of a plan.
type GroupPlan struct {
	Group int `json:"group"`
	// Keep lists the channels kept, sorted; nil when Drop is used.
	Keep []int `json:"keep"`
	// Drop is a number of channels to remove, resolved by ranking.
	Drop int `json:"drop,omitempty"`
	// Roots and Size describe the group (informative, checked if set).
	Roots []string `json:"roots,omitempty"`
	Size  int      `json:"size,omitempty"`
}

// MarshalJSON writes "keep" only when Keep is set (an empty, non-nil Keep
// is written as [] so that it round-trips).
func (gp GroupPlan) MarshalJSON() ([]byte, error) {
	type out struct {
		Group int      `json:"group"`
		Keep  *[]int   `json:"keep,omitempty"`
		Drop  int      `json:"drop,omitempty"`
		Roots []string `json:"roots,omitempty"`
		Size  int      `json:"size,omitempty"`
	}
	o := out{Group: gp.Group, Drop: gp.Drop, Roots: gp.Roots, Size: gp.Size}
	if gp.Keep != nil {
		o.Keep = &gp.Keep
	}
	return json.Marshal(o)
}

// Limits of what a plan may hold.
const (
	maxPlanBytes  = 64 << 20
	maxPlanGroups = 1 << 20
	maxRoundTo    = 1 << 16
)

// ParsePlan reads a plan from JSON and checks its form (Plan.Check).
// Unknown fields and trailing data are errors.
func ParsePlan(data []byte) (Plan, error) {
	var p Plan
	if len(data) > maxPlanBytes {
		return p, fmt.Errorf("surgery: plan is %d bytes, over the %d-byte limit", len(data), maxPlanBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Plan{}, fmt.Errorf("surgery: plan: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Plan{}, errors.New("surgery: plan: data after the JSON object")
	}
	if err := p.Check(); err != nil {
		return Plan{}, err
	}
	return p, nil
}

// Check checks what can be checked without a model: known rank, sane
// round_to, each group listed once, non-negative drop counts, keep lists
// sorted without duplicates, not both keep and drop.
func (p Plan) Check() error {
	if _, err := ParseRank(string(p.Rank)); err != nil {
		return err
	}
	if p.RoundTo < 0 || p.RoundTo > maxRoundTo {
		return fmt.Errorf("surgery: plan: round_to %d is out of range [0, %d]", p.RoundTo, maxRoundTo)
	}
	if len(p.Groups) > maxPlanGroups {
		return fmt.Errorf("surgery: plan lists %d groups, over the limit of %d", len(p.Groups), maxPlanGroups)
	}
	seen := map[string]bool{}
	for _, gp := range p.Groups {
		key := fmt.Sprint(gp.Group)
		if gp.Roots != nil {
			key = strings.Join(gp.Roots, "\x00")
		}
		switch {
		case gp.Group < 0:
			return fmt.Errorf("surgery: plan: group %d is negative", gp.Group)
		case seen[key]:
			return fmt.Errorf("surgery: plan lists group %d twice", gp.Group)
		case gp.Drop < 0:
			return fmt.Errorf("surgery: plan: group %d: drop %d is negative", gp.Group, gp.Drop)
		case gp.Keep != nil && gp.Drop != 0:
			return fmt.Errorf("surgery: plan: group %d gives both keep and drop", gp.Group)
		case gp.Size < 0:
			return fmt.Errorf("surgery: plan: group %d: size %d is negative", gp.Group, gp.Size)
		}
		seen[key] = true
		for i, c := range gp.Keep {
			if c < 0 {
				return fmt.Errorf("surgery: plan: group %d keeps channel %d", gp.Group, c)
			}
			if i > 0 && c <= gp.Keep[i-1] {
				return fmt.Errorf("surgery: plan: group %d: keep list must be sorted without duplicates (%d after %d)", gp.Group, c, gp.Keep[i-1])
			}
		}
	}
	return nil
}

// Validate checks p against the analysed model: every group exists and is
// not frozen, descriptions match, kept indices are in range, and no group
// loses every channel.
func (a *Analysis) Validate(p Plan) error {
	_, err := a.match(p)
	return err
}

// match checks p against the model and returns the group of each entry.
func (a *Analysis) match(p Plan) ([]*Group, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	out := make([]*Group, len(p.Groups))
	used := map[*Group]bool{}
	for i, gp := range p.Groups {
		g, err := a.lookup(gp)
		if err != nil {
			return nil, err
		}
		if used[g] {
			return nil, fmt.Errorf("surgery: plan lists group %d twice", g.ID)
		}
		used[g], out[i] = true, g
		if err := a.validEntry(gp, g); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// lookup finds the group a plan entry means: by its roots when it names
// them, else by ID.
func (a *Analysis) lookup(gp GroupPlan) (*Group, error) {
	g := a.Group(gp.Group)
	if gp.Roots == nil || (g != nil && slices.Equal(gp.Roots, g.Roots)) {
		if g == nil {
			return nil, fmt.Errorf("surgery: plan: the model has no group %d (it has %d)", gp.Group, len(a.Groups))
		}
		return g, nil
	}
	for _, h := range a.Groups {
		if slices.Equal(gp.Roots, h.Roots) {
			return h, nil
		}
	}
	if g == nil {
		return nil, fmt.Errorf("surgery: plan: the model has no group %d (it has %d) and no group with roots %q", gp.Group, len(a.Groups), gp.Roots)
	}
	return nil, fmt.Errorf("surgery: plan: group %d has roots %q, the plan says %q, and no group has those roots (a plan for another model?)", gp.Group, g.Roots, gp.Roots)
}

// validEntry checks one entry against its group.
func (a *Analysis) validEntry(gp GroupPlan, g *Group) error {
	if gp.Size != 0 && gp.Size != g.Size {
		return fmt.Errorf("surgery: plan: group %d has %d channels, the plan says %d (a plan for another model?)", g.ID, g.Size, gp.Size)
	}
	if gp.Keep == nil && gp.Drop == 0 {
		return nil
	}
	if !g.Prunable() {
		return fmt.Errorf("surgery: plan: group %d is frozen: %s", g.ID, g.Frozen)
	}
	if gp.Keep != nil {
		if len(gp.Keep) == 0 {
			return fmt.Errorf("surgery: plan: group %d would keep no channel; a group keeps at least one", g.ID)
		}
		if last := gp.Keep[len(gp.Keep)-1]; last >= g.Size {
			return fmt.Errorf("surgery: plan: group %d keeps channel %d, but has %d channels", g.ID, last, g.Size)
		}
	}
	if gp.Drop >= g.Size {
		return fmt.Errorf("surgery: plan: group %d would drop %d of its %d channels; a group keeps at least one", g.ID, gp.Drop, g.Size)
	}
	return nil
}

// RoundCount rounds a kept channel count k of a group of size channels to
// the nearest multiple of m (halves round up), never below m and never
// above size: --round-to 8 keeps 8, 16, 24, ... channels. m ≤ 1 leaves k.
func RoundCount(k, m, size int) int {
	if m <= 1 {
		return k
	}
	r := (k + m/2) / m * m
	return min(max(r, m), size)
}

// Resolve validates p and returns it with every group's kept channels
// listed: drop counts resolved by ranking (dropping the least important
// channels), kept counts rounded to p.RoundTo (adding back the most
// important dropped channels, or dropping more of the least important),
// and Roots and Size filled in. Groups that keep every channel are left
// out; the groups are sorted by ID.
func (a *Analysis) Resolve(p Plan) (Plan, error) {
	groups, err := a.match(p)
	if err != nil {
		return Plan{}, err
	}
	rank, _ := ParseRank(string(p.Rank))
	out := Plan{Rank: rank, RoundTo: p.RoundTo, Groups: []GroupPlan{}}
	for i, gp := range p.Groups {
		if gp.Keep == nil && gp.Drop == 0 {
			continue
		}
		g := groups[i]
		ord := order(g.Scores(rank), g.Size)
		var keep []int
		if gp.Keep != nil {
			keep = slices.Clone(gp.Keep)
		} else {
			keep = slices.Clone(ord[gp.Drop:])
			slices.Sort(keep)
		}
		if p.RoundTo > 1 {
			keep = adjust(keep, RoundCount(len(keep), p.RoundTo, g.Size), ord)
		}
		if len(keep) == g.Size {
			continue
		}
		out.Groups = append(out.Groups, GroupPlan{Group: g.ID, Keep: keep, Roots: slices.Clone(g.Roots), Size: g.Size})
	}
	sort.Slice(out.Groups, func(i, j int) bool { return out.Groups[i].Group < out.Groups[j].Group })
	return out, nil
}

// adjust grows or shrinks a sorted keep list to n channels following ord
// (least important first).
func adjust(keep []int, n int, ord []int) []int {
	in := map[int]bool{}
	for _, c := range keep {
		in[c] = true
	}
	for i := 0; len(in) > n && i < len(ord); i++ {
		delete(in, ord[i])
	}
	for i := len(ord) - 1; len(in) < n && i >= 0; i-- {
		in[ord[i]] = true
	}
	out := make([]int, 0, len(in))
	for c := range in {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// Selection returns the kept channels of each group a resolved plan
// prunes. It panics on a plan with drop counts: Resolve it first.
func (p Plan) Selection() Selection {
	sel := Selection{}
	for _, gp := range p.Groups {
		if gp.Drop != 0 {
			panic("surgery: Selection of an unresolved plan")
		}
		if gp.Keep != nil {
			sel[gp.Group] = gp.Keep
		}
	}
	return sel
}

// Compose returns one plan for the original model equivalent to applying
// a and then b, where b was made for the model a produced (its indices
// count the channels a kept). Both plans must be resolved. Entries are
// matched by roots when both name them, else by ID.
func Compose(a, b Plan) (Plan, error) {
	for _, p := range []Plan{a, b} {
		if err := p.Check(); err != nil {
			return Plan{}, err
		}
		for _, gp := range p.Groups {
			if gp.Keep == nil && gp.Drop != 0 {
				return Plan{}, fmt.Errorf("surgery: compose: group %d has a drop count; resolve the plan first", gp.Group)
			}
		}
	}
	rank, _ := ParseRank(string(a.Rank))
	out := Plan{Rank: rank, Groups: []GroupPlan{}}
	matched := make([]bool, len(b.Groups))
	for _, ga := range a.Groups {
		j := -1
		for k, gb := range b.Groups {
			if matched[k] {
				continue
			}
			if (ga.Roots != nil && gb.Roots != nil && slices.Equal(ga.Roots, gb.Roots)) ||
				((ga.Roots == nil || gb.Roots == nil) && ga.Group == gb.Group) {
				j = k
				break
			}
		}
		if j < 0 || b.Groups[j].Keep == nil {
			if j >= 0 {
				matched[j] = true
			}
			if ga.Keep != nil {
				out.Groups = append(out.Groups, ga)
			}
			continue
		}
		matched[j] = true
		gb := b.Groups[j]
		if ga.Keep == nil {
			out.Groups = append(out.Groups, gb)
			continue
		}
		if gb.Size != 0 && gb.Size != len(ga.Keep) {
			return Plan{}, fmt.Errorf("surgery: compose: group %d keeps %d channels after the first plan, the second plan says it has %d", ga.Group, len(ga.Keep), gb.Size)
		}
		keep := make([]int, len(gb.Keep))
		for i, c := range gb.Keep {
			if c >= len(ga.Keep) {
				return Plan{}, fmt.Errorf("surgery: compose: group %d keeps channel %d, but has %d after the first plan", ga.Group, c, len(ga.Keep))
			}
			keep[i] = ga.Keep[c]
		}
		if len(keep) == 0 {
			return Plan{}, fmt.Errorf("surgery: compose: group %d would keep no channel", ga.Group)
		}
		roots := ga.Roots
		if roots == nil {
			roots = gb.Roots
		}
		out.Groups = append(out.Groups, GroupPlan{Group: ga.Group, Keep: keep, Roots: roots, Size: ga.Size})
	}
	for k, gb := range b.Groups {
		if !matched[k] && gb.Keep != nil {
			out.Groups = append(out.Groups, gb)
		}
	}
	sort.SliceStable(out.Groups, func(i, j int) bool { return out.Groups[i].Group < out.Groups[j].Group })
	if err := out.Check(); err != nil {
		return Plan{}, fmt.Errorf("surgery: compose: %w", err)
	}
	return out, nil
}
