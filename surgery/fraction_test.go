package surgery

import (
	"slices"
	"testing"
)

// TestUniformPlan: the drops of a uniform fraction, with and without
// rounding, on groups of awkward sizes; frozen groups are never touched.
func TestUniformPlan(t *testing.T) {
	a := &Analysis{Groups: []*Group{
		{ID: 0, Size: 50},
		{ID: 1, Size: 7},
		{ID: 2, Size: 32, Frozen: "an unknown operator reads it"},
		{ID: 3, Size: 96},
		{ID: 4, Size: 1},
		{ID: 5, Size: 10},
	}}
	tests := []struct {
		name     string
		fraction float64
		roundTo  int
		want     []GroupPlan // Group and Drop
	}{
		{"zero", 0, 0, nil},
		// ⌊50·0.25⌋ = 12, ⌊7·0.25⌋ = 1, ⌊96·0.25⌋ = 24, ⌊10·0.25⌋ = 2.
		{"quarter", 0.25, 0, []GroupPlan{{Group: 0, Drop: 12}, {Group: 1, Drop: 1}, {Group: 3, Drop: 24}, {Group: 5, Drop: 2}}},
		// Kept 38 → 40, 6 → 8 > 7 (left whole), 72 → 72, 8 → 8.
		{"quarter, round to 8", 0.25, 8, []GroupPlan{{Group: 0, Drop: 10}, {Group: 3, Drop: 24}, {Group: 5, Drop: 2}}},
		// A drop that floors to zero leaves the group whole, even when
		// rounding alone would cut it (50 is no multiple of 16).
		{"tiny, round to 16", 0.01, 16, nil},
		// Every group keeps at least one channel.
		{"almost all", 0.99, 0, []GroupPlan{{Group: 0, Drop: 49}, {Group: 1, Drop: 6}, {Group: 3, Drop: 95}, {Group: 5, Drop: 9}}},
		{"almost all, round to 8", 0.99, 8, []GroupPlan{{Group: 0, Drop: 42}, {Group: 3, Drop: 88}, {Group: 5, Drop: 2}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := a.UniformPlan(tc.fraction, tc.roundTo)
			if p.RoundTo != tc.roundTo || p.Groups == nil {
				t.Errorf("plan %+v: round_to %d, want %d, and a non-nil group list", p, p.RoundTo, tc.roundTo)
			}
			if !slices.Equal(drops(p.Groups), drops(tc.want)) {
				t.Errorf("groups %+v, want %+v", p.Groups, tc.want)
			}
		})
	}
}

// TestFractionPlanOrder: fraction is asked once per prunable group, in
// order (lut.RandomPlan draws one random number per call), and each
// group's own fraction is applied.
func TestFractionPlanOrder(t *testing.T) {
	a := &Analysis{Groups: []*Group{{ID: 0, Size: 16}, {ID: 1, Size: 16, Frozen: "x"}, {ID: 2, Size: 16}, {ID: 3, Size: 16}}}
	var asked []int
	fr := map[int]float64{0: 0.5, 2: 0, 3: 0.75}
	p := a.FractionPlan(func(g *Group) float64 {
		asked = append(asked, g.ID)
		return fr[g.ID]
	}, 1)
	if !slices.Equal(asked, []int{0, 2, 3}) {
		t.Errorf("asked for groups %v, want 0, 2, 3", asked)
	}
	if want := []GroupPlan{{Group: 0, Drop: 8}, {Group: 3, Drop: 12}}; !slices.Equal(drops(p.Groups), drops(want)) {
		t.Errorf("groups %+v, want %+v", p.Groups, want)
	}
}

// TestUniformPlanResolves: on a real network the plan resolves to the same
// kept counts (Resolve's rounding does not move them again) and applies.
func TestUniformPlanResolves(t *testing.T) {
	m := netByName(t, "inverted-residual")
	a, err := Analyze(m.Graph)
	if err != nil {
		t.Fatal(err)
	}
	p := a.UniformPlan(0.4, 8)
	if len(p.Groups) == 0 {
		t.Fatal("nothing pruned")
	}
	r, err := a.Resolve(p)
	if err != nil {
		t.Fatal(err)
	}
	for i, gp := range r.Groups {
		if got, want := gp.Size-len(gp.Keep), p.Groups[i].Drop; gp.Group != p.Groups[i].Group || got != want {
			t.Errorf("group %d: Resolve drops %d, the plan %d", gp.Group, got, want)
		}
	}
	if err := Apply(m.Graph, p); err != nil {
		t.Fatal(err)
	}
}

// drops lists the group and drop of each entry.
func drops(gps []GroupPlan) [][2]int {
	out := [][2]int{}
	for _, gp := range gps {
		out = append(out, [2]int{gp.Group, gp.Drop})
	}
	return out
}
