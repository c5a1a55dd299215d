package surgery

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/models"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// netByName builds one of smallNets.
func netByName(tb testingTBFull, name string) *onnxio.Model {
	for i, n := range smallNets {
		if n.name == name {
			return n.build(newTG(tb, 17, uint64(i)))
		}
	}
	tb.Fatalf("no small net %q", name)
	return nil
}

type testingTBFull = testing.TB

func TestPlanJSONRoundTrip(t *testing.T) {
	plans := []Plan{
		{Groups: []GroupPlan{}},
		{Rank: RankL1, RoundTo: 8, Groups: []GroupPlan{{Group: 3, Drop: 16}, {Group: 0, Keep: []int{0, 2, 5}, Roots: []string{"/a/Conv"}, Size: 8}}},
		{Groups: []GroupPlan{{Group: 1, Keep: []int{}}}}, // invalid on a model, but it must round-trip
	}
	for _, p := range plans {
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParsePlan(data)
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Errorf("round trip of %s gave %+v, want %+v", data, q, p)
		}
	}
	// The documented format parses.
	doc := `{"rank": "l2", "round_to": 8, "groups": [
	  {"group": 3, "keep": [0, 2, 5, 6], "roots": ["/conv1/Conv"], "size": 8},
	  {"group": 7, "drop": 16}]}`
	p, err := ParsePlan([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Groups) != 2 || p.Groups[1].Drop != 16 || !slices.Equal(p.Groups[0].Keep, []int{0, 2, 5, 6}) {
		t.Errorf("parsed %+v", p)
	}
}

func TestParsePlanRejects(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{"groups": [{"group": 1, "drop": 2}], "extra": 1}`, "unknown field"},
		{`{"groups": []} {}`, "after the JSON"},
		{`{"rank": "l3", "groups": []}`, "unknown rank"},
		{`{"round_to": -8, "groups": []}`, "round_to"},
		{`{"groups": [{"group": -1, "drop": 2}]}`, "negative"},
		{`{"groups": [{"group": 1, "drop": -2}]}`, "negative"},
		{`{"groups": [{"group": 1, "drop": 2}, {"group": 1, "drop": 3}]}`, "twice"},
		{`{"groups": [{"group": 1, "keep": [1, 1]}]}`, "sorted"},
		{`{"groups": [{"group": 1, "keep": [3, 1]}]}`, "sorted"},
		{`{"groups": [{"group": 1, "keep": [-1]}]}`, "keeps channel -1"},
		{`{"groups": [{"group": 1, "keep": [1], "drop": 1}]}`, "both"},
		{`[1, 2]`, "plan"},
		{``, "plan"},
	} {
		_, err := ParsePlan([]byte(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParsePlan(%s) = %v, want an error mentioning %q", tc.json, err, tc.want)
		}
	}
}

// TestInvalidPlansChangeNothing checks that Apply refuses bad plans before
// touching the graph.
func TestInvalidPlansChangeNothing(t *testing.T) {
	m := netByName(t, "concat-split-slice")
	a, err := Analyze(m.Graph)
	if err != nil {
		t.Fatal(err)
	}
	before, err := onnxio.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	// Groups: p 6, q 5, r 12 (split 4|8, sliced 3..9), u, v, w 4, logits 3.
	for _, tc := range []struct {
		name string
		p    Plan
		want string
	}{
		{"unknown group", Plan{Groups: []GroupPlan{{Group: 99, Drop: 1}}}, "no group 99"},
		{"frozen group", Plan{Groups: []GroupPlan{{Group: 6, Drop: 1}}}, "frozen"},
		{"out of range", Plan{Groups: []GroupPlan{{Group: 0, Keep: []int{1, 6}}}}, "has 6 channels"},
		{"duplicate", Plan{Groups: []GroupPlan{{Group: 0, Keep: []int{1, 1}}}}, "sorted"},
		{"empty keep", Plan{Groups: []GroupPlan{{Group: 0, Keep: []int{}}}}, "keep no channel"},
		{"drop all", Plan{Groups: []GroupPlan{{Group: 0, Drop: 6}}}, "keeps at least one"},
		{"wrong size", Plan{Groups: []GroupPlan{{Group: 0, Drop: 1, Size: 7}}}, "another model"},
		{"wrong roots", Plan{Groups: []GroupPlan{{Group: 0, Drop: 1, Roots: []string{"x"}}}}, "another model"},
		{"bad rank", Plan{Rank: "l0", Groups: []GroupPlan{{Group: 0, Drop: 1}}}, "rank"},
		// Zero-channel refusal: keeping only channels outside the Slice
		// r[3:9] would leave the slice empty.
		{"empties a slice", Plan{Groups: []GroupPlan{{Group: 2, Keep: []int{0, 1, 2, 9, 10, 11}}}}, "removes every channel"},
		// ... and keeping only channels 4..11 empties the Split's first part.
		{"empties a split part", Plan{Groups: []GroupPlan{{Group: 2, Keep: []int{4, 5, 6, 7}}}}, "removes every channel"},
	} {
		err := Apply(m.Graph, tc.p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Apply = %v, want an error mentioning %q", tc.name, err, tc.want)
		}
		after, err := onnxio.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Fatalf("%s: the refused plan changed the model", tc.name)
		}
	}
	if g := a.Group(2); g.Size != 12 || len(g.Roots) != 1 {
		t.Fatalf("group 2 is %+v, want the 12-channel conv before the Split", g)
	}
}

func TestAnalyzeDoesNotMutate(t *testing.T) {
	m, err := models.MobileNetV3Small(models.Config{Resolution: 32, Classes: 10})
	if err != nil {
		t.Fatal(err)
	}
	// Forget the inferred types: Analyze must infer on its own copy.
	for _, v := range m.Graph.Values() {
		if v.Producer() != nil {
			v.Type = onnxio.Type{}
		}
	}
	before, _ := onnxio.Encode(m)
	if _, err := Analyze(m.Graph); err != nil {
		t.Fatal(err)
	}
	after, _ := onnxio.Encode(m)
	if !bytes.Equal(before, after) {
		t.Fatal("Analyze changed the graph")
	}
	for _, v := range m.Graph.Values() {
		if v.Producer() != nil && v.Type.HasShape {
			t.Fatalf("Analyze set the type of %q", v.Name)
		}
	}
}

func TestRoundCount(t *testing.T) {
	for _, tc := range []struct{ k, m, size, want int }{
		{66, 8, 96, 64}, {68, 8, 96, 72}, {67, 8, 96, 64}, {1, 8, 96, 8}, {3, 8, 96, 8},
		{95, 8, 96, 96}, {93, 8, 100, 96}, {99, 8, 100, 96}, {101, 8, 100, 100}, {5, 8, 6, 6}, {7, 1, 9, 7}, {7, 0, 9, 7},
	} {
		if got := RoundCount(tc.k, tc.m, tc.size); got != tc.want {
			t.Errorf("RoundCount(%d, %d, %d) = %d, want %d", tc.k, tc.m, tc.size, got, tc.want)
		}
	}
}

func TestResolve(t *testing.T) {
	m, err := models.MobileNetV2(models.Config{Resolution: 32, Classes: 10, BN: models.BNFolded})
	if err != nil {
		t.Fatal(err)
	}
	a, err := Analyze(m.Graph)
	if err != nil {
		t.Fatal(err)
	}
	for _, rank := range []Rank{RankL2, RankL1} {
		var p Plan
		p.Rank = rank
		for _, g := range a.Prunable() {
			p.Groups = append(p.Groups, GroupPlan{Group: g.ID, Drop: g.Size / 3})
		}
		rp, err := a.Resolve(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, gp := range rp.Groups {
			g := a.Group(gp.Group)
			if len(gp.Keep) != g.Size-g.Size/3 || gp.Size != g.Size || !slices.Equal(gp.Roots, g.Roots) {
				t.Fatalf("group %d resolved to %d channels (size %d, roots %v)", g.ID, len(gp.Keep), gp.Size, gp.Roots)
			}
			// Every kept channel ranks at least as high as every dropped one.
			sc := g.Scores(rank)
			minKept := 1e300
			for _, c := range gp.Keep {
				minKept = min(minKept, sc[c])
			}
			for c := range g.Size {
				if !slices.Contains(gp.Keep, c) && sc[c] > minKept {
					t.Fatalf("%s: group %d drops channel %d (score %g) but keeps one scoring %g", rank, g.ID, c, sc[c], minKept)
				}
			}
		}
		// Rounding: kept counts become multiples of 8 (or the whole group),
		// never 0, and the plan stays applicable.
		p.RoundTo = 8
		for i := range p.Groups {
			p.Groups[i].Drop = a.Group(p.Groups[i].Group).Size - 1 // keep 1 → 8
		}
		rp, err = a.Resolve(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, gp := range rp.Groups {
			if n := len(gp.Keep); n != 8 && n != gp.Size {
				t.Errorf("round_to 8: group %d keeps %d of %d", gp.Group, n, gp.Size)
			}
		}
		pm := m.Clone()
		if err := Apply(pm.Graph, p); err != nil {
			t.Fatal(err)
		}
		pa, err := Analyze(pm.Graph)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range pa.Groups {
			if g.Prunable() && g.Size%8 != 0 {
				t.Errorf("after round_to 8, group %d has %d channels", g.ID, g.Size)
			}
		}
	}
	// Explicit keep lists are rounded with the ranking too.
	g := a.Prunable()[2]
	rp, err := a.Resolve(Plan{RoundTo: 8, Groups: []GroupPlan{{Group: g.ID, Keep: []int{0, 1, 2}}}})
	if err != nil {
		t.Fatal(err)
	}
	if k := rp.Groups[0].Keep; len(k) != 8 || k[0] != 0 || !slices.Contains(k, 1) || !slices.Contains(k, 2) {
		t.Errorf("rounding keep [0 1 2] to 8 gave %v", k)
	}
}

// TestCompose checks that Compose(a, b) applied to the original model
// equals applying a and then b, in onnxruntime.
func TestCompose(t *testing.T) {
	needORT(t)
	for i, build := range []func() (*onnxio.Model, error){
		func() (*onnxio.Model, error) {
			return models.MobileNetV3Small(models.Config{Resolution: 32, Classes: 10, Seed: 5})
		},
		func() (*onnxio.Model, error) { return netByName(t, "concat-split-slice"), nil },
		func() (*onnxio.Model, error) { return netByName(t, "nhwc-reshape-matmul"), nil },
	} {
		m, err := build()
		if err != nil {
			t.Fatal(err)
		}
		a0, err := Analyze(m.Graph)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(uint64(i), 5))
		for trial := 0; trial < 5; trial++ {
			// Three rounds of pruning, composed into one plan.
			cur, a := m.Clone(), a0
			var total Plan
			for round := 0; round < 3; round++ {
				p := randomPlan(rng, a)
				rp, err := a.Resolve(p)
				if err != nil {
					t.Fatal(err)
				}
				next := cur.Clone()
				if err := Apply(next.Graph, rp); err != nil {
					if strings.Contains(err.Error(), "removes every channel") {
						continue
					}
					t.Fatal(err)
				}
				if total, err = Compose(total, rp); err != nil {
					t.Fatal(err)
				}
				cur = next
				if a, err = Analyze(cur.Graph); err != nil {
					t.Fatal(err)
				}
				// Every group that can still be pruned is a group of the
				// original model, with the same roots.
				for _, g := range a.Prunable() {
					found := false
					for _, h := range a0.Groups {
						found = found || slices.Equal(g.Roots, h.Roots)
					}
					if !found {
						t.Fatalf("prunable group %d of the pruned model has roots %v, which no original group has", g.ID, g.Roots)
					}
				}
			}
			// The composed plan survives JSON.
			data, _ := json.Marshal(total)
			total, err = ParsePlan(data)
			if err != nil {
				t.Fatal(err)
			}
			once := m.Clone()
			if err := Apply(once.Graph, total); err != nil {
				t.Fatalf("composed plan: %v", err)
			}
			for _, v := range cur.Graph.Initializers() {
				w := once.Graph.Value(v.Name)
				if w == nil || !slices.Equal(w.Const.Dims, v.Const.Dims) {
					t.Fatalf("initializer %q differs between sequential and composed pruning", v.Name)
				}
			}
			seq, comp := runPair(t, cur, once)
			if err := closeEnough(comp, seq, 1e-6); err != nil {
				t.Fatalf("composed plan differs from sequential pruning: %v", err)
			}
		}
	}
}

// TestOracleDetectsWrongPruning makes sure the oracle comparison can fail:
// a model pruned by one plan does not match the oracle of another.
func TestOracleDetectsWrongPruning(t *testing.T) {
	needORT(t)
	m, err := models.MobileNetV2(models.Config{Resolution: 32, Classes: 10, Width: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	a, err := Analyze(m.Graph)
	if err != nil {
		t.Fatal(err)
	}
	g := a.Prunable()[3]
	keep := make([]int, 0, g.Size)
	for c := 0; c < g.Size; c += 2 {
		keep = append(keep, c)
	}
	shifted := make([]int, len(keep))
	for i, c := range keep {
		shifted[i] = c + 1
	}
	pm := m.Clone()
	if err := Apply(pm.Graph, Plan{Groups: []GroupPlan{{Group: g.ID, Keep: keep}}}); err != nil {
		t.Fatal(err)
	}
	right := zeroConsumers(t, m, a, Selection{g.ID: keep})
	wrong := zeroConsumers(t, m, a, Selection{g.ID: shifted})
	want, got := runPair(t, right, pm)
	if err := closeEnough(got, want, 1e-4); err != nil {
		t.Fatalf("the right oracle disagrees: %v", err)
	}
	want, got = runPair(t, wrong, pm)
	if err := closeEnough(got, want, 1e-4); err == nil {
		t.Fatal("the oracle of another plan agrees with the pruned model: the comparison cannot fail")
	}
}

// FuzzPlanJSON: parsing, validating and resolving any bytes never panics,
// and whatever parses survives a round trip.
func FuzzPlanJSON(f *testing.F) {
	m := netByName(f, "concat-split-slice")
	a, err := Analyze(m.Graph)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		`{"groups": [{"group": 0, "keep": [0, 2]}]}`,
		`{"rank": "l1", "round_to": 8, "groups": [{"group": 2, "drop": 5}, {"group": 1, "keep": [4]}]}`,
		`{"groups": [{"group": 2, "keep": [0, 1, 2, 9, 10, 11], "size": 12}]}`,
		`{"groups": [{"group": 6, "drop": 1}]}`,
		`{"groups": null}`, `{}`, `[]`, `{"groups": [{"group": 1e9}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePlan(data)
		if err != nil {
			return
		}
		if rp, err := a.Resolve(p); err == nil {
			_ = rp.Selection()
			for _, gp := range rp.Groups {
				if len(gp.Keep) == 0 || len(gp.Keep) >= gp.Size {
					t.Fatalf("resolved group %d keeps %d of %d", gp.Group, len(gp.Keep), gp.Size)
				}
			}
		}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParsePlan(out)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", out, err)
		}
		if !reflect.DeepEqual(normPlan(p), normPlan(q)) {
			t.Fatalf("round trip changed %+v into %+v", p, q)
		}
	})
}

// normPlan makes nil and empty slices compare equal where JSON cannot
// tell them apart.
func normPlan(p Plan) Plan {
	if p.Groups == nil {
		p.Groups = []GroupPlan{}
	}
	for i := range p.Groups {
		if len(p.Groups[i].Roots) == 0 {
			p.Groups[i].Roots = nil
		}
	}
	return p
}
