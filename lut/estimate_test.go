package lut

import (
	"bytes"
	"context"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/models"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

// chainGraph is x[1,3,8,8] → Conv 3→16 → Conv 16→16 (+Relu) → Relu-free
// output, with a fan-out of the first conv to a GlobalAveragePool output
// when fanout is set.
func chainGraph(t *testing.T, fanout bool) *onnxio.Graph {
	t.Helper()
	m := onnxio.NewModel(17)
	g := m.Graph
	x := g.NewValue("x")
	x.Type = onnxio.Type{Elem: onnxio.Float, Shape: onnxio.ShapeOf(1, 3, 8, 8), HasShape: true}
	g.Inputs = append(g.Inputs, x)
	w := func(name string, dims ...int64) *onnxio.Value {
		n := int64(1)
		for _, d := range dims {
			n *= d
		}
		tt, err := onnxio.NewFloat32Tensor(dims, make([]float32, n))
		if err != nil {
			t.Fatal(err)
		}
		return g.AddInitializer(name, tt)
	}
	c1 := g.AddNode("Conv", "c1", []*onnxio.Value{x, w("w1", 16, 3, 3, 3), w("b1", 16)}, []string{"c1"},
		onnxio.AttrInts("pads", []int64{1, 1, 1, 1})).Output(0)
	c2 := g.AddNode("Conv", "c2", []*onnxio.Value{c1, w("w2", 16, 16, 1, 1), w("b2", 16)}, []string{"c2"}).Output(0)
	y := g.AddNode("Relu", "relu", []*onnxio.Value{c2}, []string{"y"}).Output(0)
	g.Outputs = append(g.Outputs, y)
	if fanout {
		p := g.AddNode("GlobalAveragePool", "gap", []*onnxio.Value{c1}, []string{"p"}).Output(0)
		g.Outputs = append(g.Outputs, p)
	}
	return g
}

func TestEstimateReorders(t *testing.T) {
	const overhead = 0.1
	for _, tc := range []struct {
		name   string
		fanout bool
		// c1Out says the first conv writes NCHWc; gap says the pool reads
		// and writes NCHWc.
		c1Out, gap bool
		// want: raw estimate, and the reorders charged to c1, c2 and the pool.
		raw, c1, c2, pool float64
	}{
		// c1 → c2 both NCHWc: no reorder between them; the graph output y
		// needs c2's ReorderOutput (pair 0.5 − in 0.3 = 0.2).
		{"chain", false, true, false, 1 + 2 + 0.2 + overhead, 0, 0.2, 0},
		// c1 writes NCHW (as a unit ending in HardSwish does): c2 pays a
		// ReorderInput (0.3).
		{"NCHW producer", false, false, false, 1 + 2 + 0.3 + 0.2 + overhead, 0, 0.5, 0},
		// c1 also feeds a pool that reads NCHW: one ReorderOutput after c1.
		{"fan-out to NCHW", true, true, false, 1 + 2 + 0.5 + 0.2 + 0.2 + overhead, 0.2, 0.2, 0},
		// ...or an NCHWc pool, whose own output (a graph output) then needs a
		// ReorderOutput (16×1×1: 0.05 − 0.02).
		{"fan-out to NCHWc", true, true, true, 1 + 2 + 0.5 + 0.2 + 0.03 + overhead, 0, 0.2, 0.03},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := chainGraph(t, tc.fanout)
			units, err := Units(g)
			if err != nil {
				t.Fatal(err)
			}
			tab := New(fakeHeader(), nil)
			tab.Put(Entry{Key: overheadKey, MS: overhead})
			var conv []int
			pool := -1
			for i, u := range units {
				switch u.Key().Op {
				case OpConv:
					conv = append(conv, i)
				case OpGAP:
					pool = i
					tab.Put(Entry{Key: u.Key(), MS: 0.5 + overhead, NCHWcIn: []bool{tc.gap}, NCHWcOut: tc.gap})
				}
			}
			if len(conv) != 2 {
				t.Fatalf("units %v", units)
			}
			tab.Put(Entry{Key: units[conv[0]].Key(), MS: 1 + overhead, NCHWcOut: tc.c1Out})
			tab.Put(Entry{Key: units[conv[1]].Key(), MS: 2 + overhead, NCHWcIn: []bool{true}, NCHWcOut: true})
			tab.Put(Entry{Key: reorderKey(OpReorderIn, 1, 16, 8, 8), MS: 0.3 + overhead})
			tab.Put(Entry{Key: reorderKey(OpReorderPair, 1, 16, 8, 8), MS: 0.5 + overhead})
			tab.Put(Entry{Key: reorderKey(OpReorderIn, 1, 16, 1, 1), MS: 0.02 + overhead})
			tab.Put(Entry{Key: reorderKey(OpReorderPair, 1, 16, 1, 1), MS: 0.05 + overhead})
			est, err := tab.EstimateUnits(g, units, nil)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(est.RawMS-tc.raw) > 1e-9 {
				t.Errorf("raw estimate %v, want %v", est.RawMS, tc.raw)
			}
			check := func(name string, i int, want float64) {
				if i < 0 {
					return
				}
				if got := est.Units[i].ReorderMS; math.Abs(got-want) > 1e-9 {
					t.Errorf("%s reorders %v, want %v", name, got, want)
				}
				if got := est.Units[i].NetMS - est.Units[i].MS; math.Abs(got-want) > 1e-9 {
					t.Errorf("%s net − ms = %v, want %v", name, got, want)
				}
			}
			check("c1", conv[0], tc.c1)
			check("c2", conv[1], tc.c2)
			check("pool", pool, tc.pool)
			cal := &Calibration{Model: "m", Scale: 2, OffsetMS: 1}
			est2, err := tab.EstimateUnits(g, units, cal)
			if err != nil || math.Abs(est2.MS-(2*tc.raw+1)) > 1e-9 {
				t.Errorf("calibrated estimate %v (%v), want %v", est2.MS, err, 2*tc.raw+1)
			}
		})
	}
}

func TestEstimateForeignMissingListsKeys(t *testing.T) {
	g := chainGraph(t, false)
	tab := New(fakeHeader(), nil)
	tab.foreign = true
	_, err := tab.Estimate(g, nil)
	me, ok := err.(*MissingError)
	if !ok {
		t.Fatalf("err = %v, want *MissingError", err)
	}
	// The overhead entry and the two convolutions.
	if len(me.Keys) != 3 {
		t.Errorf("missing keys %v, want 3", me.Keys)
	}
}

// neededKeys is the set of keys an estimate of g reads from tab: every
// unit's key, the overhead entry, and the reorder entries of the tensors
// at layout boundaries.
func neededKeys(t *testing.T, tab *Table, g *onnxio.Graph) map[Key]bool {
	t.Helper()
	units, err := Units(g)
	if err != nil {
		t.Fatal(err)
	}
	before := tab.Measured()
	defer func() {
		if tab.Measured() != before {
			t.Errorf("neededKeys measured %d entries: the estimate did not measure everything it needs", tab.Measured()-before)
		}
	}()
	need := map[Key]bool{overheadKey: true}
	// use adds k, or the grid points it is interpolated from.
	use := func(k Key) {
		if _, ok := tab.Lookup(k); ok {
			need[k] = true
			return
		}
		for _, c := range tab.corners(k) {
			if c.w > 0 {
				need[c.k] = true
			}
		}
	}
	value := func(u *Unit) Value {
		v, err := tab.Latency(u.Key(), u.tmpl)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	reorders := func(d []int, out bool) {
		use(reorderKey(OpReorderIn, d[0], d[1], d[2], d[3]))
		if out {
			use(reorderKey(OpReorderPair, d[0], d[1], d[2], d[3]))
		}
	}
	outputs := map[*onnxio.Value]bool{}
	for _, o := range g.Outputs {
		outputs[o] = true
	}
	// readers says whether something reads v in NCHW, in NCHWc.
	readers := func(v *onnxio.Value) (nchw, nchwc bool) {
		nchw = outputs[v]
		for _, c := range units {
			for j, in := range c.Inputs {
				if in != v {
					continue
				}
				if !c.Free() && value(c).in(j) {
					nchwc = true
				} else {
					nchw = true
				}
			}
		}
		return nchw, nchwc
	}
	for _, u := range units {
		if u.Free() {
			continue
		}
		use(u.Key())
		d, err := dims(u.Output)
		if err != nil || len(d) != 4 {
			continue
		}
		nchw, nchwc := readers(u.Output)
		out := value(u).NCHWcOut
		switch {
		case out && nchw:
			reorders(d, true)
		case !out && nchwc:
			reorders(d, false)
		}
	}
	for _, x := range g.Inputs {
		if d, err := dims(x); err == nil && len(d) == 4 {
			if _, nchwc := readers(x); nchwc {
				reorders(d, false)
			}
		}
	}
	return need
}

func keysOf(tab *Table) map[Key]bool {
	out := map[Key]bool{}
	for _, e := range tab.Entries() {
		out[e.Key] = true
	}
	return out
}

func TestLazyMeasurementMeasuresOnlyMissingKeys(t *testing.T) {
	m := buildModel(t, "mobilenetv2", models.Config{Resolution: 32, Width: 0.5})
	tab := New(testHeader(t, 8), fastMeasurer())
	est, err := tab.Estimate(m.Graph, nil)
	if err != nil {
		t.Fatal(err)
	}
	need := neededKeys(t, tab, m.Graph)
	if tab.Measured() != len(need) || tab.Len() != len(need) || !reflect.DeepEqual(keysOf(tab), need) {
		t.Errorf("first estimate measured %d entries (table %d), want exactly the %d keys it needs", tab.Measured(), tab.Len(), len(need))
	}
	if est.RawMS <= 0 || est.ReorderMS < 0 {
		t.Errorf("estimate %+v", est)
	}
	// Again: nothing new to measure, and the same answer.
	est2, err := tab.Estimate(m.Graph, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Measured() != len(need) {
		t.Errorf("second estimate measured %d more entries, want 0", tab.Measured()-len(need))
	}
	if est2.RawMS != est.RawMS {
		t.Errorf("second estimate %v, first %v", est2.RawMS, est.RawMS)
	}
	// An off-grid what-if measures exactly the grid corners it lacks.
	units, _ := Units(m.Graph)
	var dense *Unit
	for _, u := range units {
		if k := u.Key(); k.Group == GroupDense && !u.fixedIn && !u.fixedOut {
			dense = u
			break
		}
	}
	k := dense.Key()
	corners := map[Key]bool{}
	for _, ci := range []int{k.Cin} {
		for _, co := range []int{8, 16} {
			if _, ok := tab.Lookup(k.withChannels(ci, co)); !ok {
				corners[k.withChannels(ci, co)] = true
			}
		}
	}
	before := tab.Measured()
	v, err := dense.LatencyFor(tab, k.Cin, 12)
	if err != nil {
		t.Fatal(err)
	}
	if got := tab.Measured() - before; got != len(corners) {
		t.Errorf("cout 12: measured %d entries, want the %d missing grid corners", got, len(corners))
	}
	if v.How != HowInterpolated {
		t.Errorf("cout 12 is %s, want interpolated", v.How)
	}
}

func TestTableServesNarrowerModel(t *testing.T) {
	wide := buildModel(t, "mobilenetv2", models.Config{Resolution: 32})
	// Step 16 halves the lines (and the test's time); the grid does not
	// change what is checked.
	tab := New(testHeader(t, 16), fastMeasurer())
	st, err := tab.Build(context.Background(), wide.Graph, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Measured != st.Keys || st.Cached != 0 || tab.Len() != st.Keys || tab.Measured() != st.Keys {
		t.Errorf("first build: %+v, table %d", st, tab.Len())
	}
	again, err := tab.Build(context.Background(), wide.Graph, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Measured != 0 || again.Cached != st.Keys {
		t.Errorf("second build measured %d, cached %d of %d", again.Measured, again.Cached, again.Keys)
	}
	// α = 0.75 shares some keys with α = 1's lines (depthwise channels on
	// the grid, the stem's output sweep, the classifier's input sweep, the
	// reorders) and lacks others (1×1 convolutions with both channel
	// counts changed). Estimating it measures only what it lacks.
	narrow := buildModel(t, "mobilenetv2", models.Config{Resolution: 32, Width: 0.75})
	before := keysOf(tab)
	n0 := tab.Measured()
	if _, err := tab.Estimate(narrow.Graph, nil); err != nil {
		t.Fatal(err)
	}
	need := neededKeys(t, tab, narrow.Graph)
	missing, shared := 0, 0
	for k := range need {
		if before[k] {
			shared++
		} else {
			missing++
		}
	}
	if got := tab.Measured() - n0; got != missing {
		t.Errorf("α=0.75 measured %d entries; it needs %d keys, of which %d were missing", got, len(need), missing)
	}
	if shared < len(need)/3 || missing == 0 {
		t.Errorf("α=0.75 needs %d keys: %d served by the α=1 table, %d missing; want a good share served", len(need), shared, missing)
	}
	t.Logf("α=1 lines: %d keys; α=0.75 needs %d: %d served, %d measured", st.Keys, len(need), shared, missing)
}

func TestLinesCoverCurrentConfiguration(t *testing.T) {
	m := buildModel(t, "mobilenetv2", models.Config{Resolution: 32})
	units, err := Units(m.Graph)
	if err != nil {
		t.Fatal(err)
	}
	reqs := Lines(m.Graph, units, 8, true)
	have := map[Key]bool{}
	for _, r := range reqs {
		if have[r.Key] {
			t.Errorf("key %v twice", r.Key)
		}
		have[r.Key] = true
	}
	for _, u := range units {
		if u.Free() {
			continue
		}
		k := u.Key()
		if !have[k] {
			t.Errorf("%v: own key missing", u)
		}
		switch k.mode() {
		case modeInOut:
			for c := 8; c < k.Cout && !u.fixedOut; c += 8 {
				if !have[k.withChannels(k.Cin, c)] {
					t.Errorf("%v: cout %d missing", u, c)
				}
			}
			for c := 8; c < k.Cin && !u.fixedIn; c += 8 {
				if !have[k.withChannels(c, k.Cout)] {
					t.Errorf("%v: cin %d missing", u, c)
				}
			}
			if u.fixedIn && have[k.withChannels(1, k.Cout)] {
				t.Errorf("%v: the image's channels are swept", u)
			}
		case modeSame:
			for c := 8; c < k.Cout; c += 8 {
				if !have[k.withChannels(c, c)] {
					t.Errorf("%v: %d channels missing", u, c)
				}
			}
		}
	}
}

func TestCalibrateRuns(t *testing.T) {
	m := buildModel(t, "mobilenetv1", models.Config{Resolution: 32, Width: 0.25})
	tab := New(testHeader(t, 8), fastMeasurer())
	cal, src, err := tab.Calibrate([]*onnxio.Model{m}, []string{"v1"}, fastProtocol())
	if err != nil {
		t.Fatal(err)
	}
	if src.MS <= 0 || len(cal.Points) != 1 || cal.Points[0].MeasuredMS != src.MS {
		t.Errorf("source measured %v, calibration points %+v", src, cal.Points)
	}
	units, _ := Units(m.Graph)
	if cal.Model != Fingerprint(m.Graph, units) || cal.Name != "v1" || len(cal.Points) != 1 || cal.OffsetMS != 0 || cal.Form != "ratio" || !(cal.Scale > 0) {
		t.Errorf("calibration %+v", cal)
	}
	// Resources without a file.
	r, err := ModelResources(m, tab, &cal)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := onnxio.Encode(m)
	if r.Bytes != int64(len(data)) || r.MACs <= 0 || r.Params <= 0 || r.PeakActivationBytes <= 0 || r.LatencyMS <= 0 {
		t.Errorf("resources %+v", r)
	}
}

func TestPlanResources(t *testing.T) {
	m := buildModel(t, "mobilenetv1", models.Config{Resolution: 32, Width: 0.5})
	before, err := ModelResources(m, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := surgery.Analyze(m.Graph)
	if err != nil {
		t.Fatal(err)
	}
	var p surgery.Plan
	for _, g := range a.Prunable() {
		if g.Size >= 16 {
			p.Groups = append(p.Groups, surgery.GroupPlan{Group: g.ID, Drop: 8})
		}
	}
	tab := New(testHeader(t, 8), fastMeasurer())
	r, err := PlanResources(m, p, tab, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !(r.MACs < before.MACs && r.Params < before.Params && r.Bytes < before.Bytes && r.PeakActivationBytes < before.PeakActivationBytes) {
		t.Errorf("pruned resources %+v not all below the source's %+v", r, before)
	}
	if r.Latency == nil || r.LatencyMS <= 0 {
		t.Errorf("no latency: %+v", r)
	}
	// The source model is unchanged.
	again, err := ModelResources(m, nil, nil)
	if err != nil || !reflect.DeepEqual(again, before) {
		t.Errorf("PlanResources changed the source model: %+v vs %+v (%v)", again, before, err)
	}
}

func TestRandomVariants(t *testing.T) {
	m := buildModel(t, "mobilenetv2", models.Config{Resolution: 32})
	before, err := onnxio.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	vs, removed, err := RandomVariants(m, 6, 42)
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := RandomVariants(m, 6, 42)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 6 || len(removed) != 6 {
		t.Fatalf("%d variants, %d fractions", len(vs), len(removed))
	}
	for i, v := range vs {
		if removed[i] < 0.03 || removed[i] > 0.85 {
			t.Errorf("variant %d removes %.0f%% of channels, outside the spread", i, 100*removed[i])
		}
		if err := v.Graph.Verify(); err != nil {
			t.Errorf("variant %d: %v", i, err)
		}
		units, err := Units(v.Graph)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range units {
			if k := u.Key(); k.Op == OpConv && !u.fixedIn && k.Cin%8 != 0 {
				t.Errorf("variant %d: %v has %d input channels, not a multiple of 8", i, u, k.Cin)
			}
		}
		a, _ := onnxio.Encode(v)
		b, _ := onnxio.Encode(again[i])
		if !bytes.Equal(a, b) {
			t.Errorf("variant %d differs between two calls with the same seed", i)
		}
	}
	after, _ := onnxio.Encode(m)
	if !bytes.Equal(before, after) {
		t.Error("RandomVariants changed the source model")
	}
}

// TestOverheadTimedLonger: the overhead entry, which every unit's estimate
// subtracts, is timed with overheadRunsFactor times a unit's runs, in
// overheadBlocks blocks; a unit gets the Measurer's own.
func TestOverheadTimedLonger(t *testing.T) {
	m := &Measurer{Options: ort.Options{IntraOpThreads: 1}, Warmup: 1, MinRuns: 2, MaxRuns: 10, Budget: time.Hour}
	ov, err := m.Measure(overheadKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ov.Runs != overheadRunsFactor*10 {
		t.Errorf("overhead timed in %d runs, want %d", ov.Runs, overheadRunsFactor*10)
	}
	u, err := m.Measure(Key{Op: OpConv, Kernel: [2]int{1, 1}, Stride: [2]int{1, 1}, Dilation: [2]int{1, 1}, Group: GroupDense,
		Batch: 1, H: 8, W: 8, Cin: 8, Cout: 8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if u.Runs != 10 {
		t.Errorf("a unit timed in %d runs, want MaxRuns (10)", u.Runs)
	}
	if m.Blocks != 0 || m.MaxRuns != 10 {
		t.Errorf("timing the overhead changed the Measurer: %+v", m)
	}
}
