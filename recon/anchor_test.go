package recon

import (
	"context"
	"math"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

// cutOf prunes m by keeping the given channels of the groups rooted at
// the given values, without refitting, and returns the model and the
// resolved plan.
func cutOf(tb testing.TB, m *onnxio.Model, keep map[*onnxio.Value][]int) (*onnxio.Model, surgery.Plan) {
	tb.Helper()
	an, err := surgery.Analyze(m.Graph)
	if err != nil {
		tb.Fatal(err)
	}
	var p surgery.Plan
	for v, k := range keep {
		gid := -1
		for _, g := range an.Groups {
			for _, r := range g.Roots {
				if r == v.Producer().Name {
					gid = g.ID
				}
			}
		}
		if gid < 0 {
			tb.Fatalf("no group rooted at %s", v.Producer().Name)
		}
		p.Groups = append(p.Groups, surgery.GroupPlan{Group: gid, Keep: k})
	}
	if p, err = an.Resolve(p); err != nil {
		tb.Fatal(err)
	}
	pm := m.Clone()
	if err := surgery.Apply(pm.Graph, p); err != nil {
		tb.Fatal(err)
	}
	return pm, p
}

// TestAnchorRestoresTheSource: a model cut from its source where the
// removed channels carried nothing computes what the source computes; its
// depthwise conv's weights and the BatchNormalization after the next conv
// are then changed, so that it no longer does. Anchoring, which maps every kept output channel to its
// source channel and reads the source's output through the pruned model's
// own normalisation, refits that conv (and folds a bias into the
// normalisation's mean) so that the model computes the source's outputs
// again; the layers that were already exact stay so.
func TestAnchorRestoresTheSource(t *testing.T) {
	needORT(t)
	b := newNet(t, 7)
	x := b.input(1, 3, 6, 6)
	a := b.silentConv(x) // filters 2 and 5 are zero
	dw := b.op("Conv", []*onnxio.Value{b.op("Relu", []*onnxio.Value{a}), b.init(nil, false, 8, 1, 3, 3)},
		onnxio.AttrInt("group", 8), onnxio.AttrInts("kernel_shape", []int64{3, 3}), onnxio.AttrInts("pads", []int64{1, 1, 1, 1}))
	y := b.conv(dw, nil, 6, 1, 1, 0, 1, false)
	yb := b.bn(y)
	wc := make([]float32, 4*6)
	for i := range wc {
		if in := i % 6; in != 1 && in != 4 {
			wc[i] = float32(b.rng.NormFloat64())
		}
	}
	z := b.conv(b.op("Relu", []*onnxio.Value{yb}), wc, 4, 1, 1, 0, 1, true) // inputs 1 and 4 unread
	m := b.head(b.op("Relu", []*onnxio.Value{z}), 3)
	ds := noise(60, 6, 7)

	pm, plan := cutOf(t, m, map[*onnxio.Value][]int{a: {0, 1, 3, 4, 6, 7}, y: {0, 2, 3, 5}})
	out := m.Graph.Outputs[0].Name
	want := outputs(t, m, ds, out)[0]
	if e := relErr(outputs(t, pm, ds, out)[0], want); e > 1e-10 {
		t.Fatalf("the cut changes the output (relative error %.3g): the test's channels are not silent", e)
	}
	// The depthwise conv's weights are scaled, its successor's
	// normalisation shifted: both layers are now wrong.
	dwW := pm.Graph.Value(dw.Name).Producer().Input(1)
	wv, err := dwW.Const.Float32()
	if err != nil {
		t.Fatal(err)
	}
	scaled := make([]float32, len(wv))
	for i, v := range wv {
		scaled[i] = 1.3 * v
	}
	if dwW.Const, err = onnxio.NewFloat32Tensor(dwW.Const.Dims, scaled); err != nil {
		t.Fatal(err)
	}
	bn := onlyBN(pm.Graph.Value(y.Name))
	for i, d := range []float32{1.5, 0.3, 0.2} { // γ ×1.5, β +0.3, μ +0.2
		v := bn.Input(1 + i)
		f, err := v.Const.Float32()
		if err != nil {
			t.Fatal(err)
		}
		g := make([]float32, len(f))
		for j := range f {
			if i == 0 {
				g[j] = f[j] * d
			} else {
				g[j] = f[j] + d
			}
		}
		if v.Const, err = onnxio.NewFloat32Tensor(v.Const.Dims, g); err != nil {
			t.Fatal(err)
		}
	}
	before := relErr(outputs(t, pm, ds, out)[0], want)
	if before < 1e-3 {
		t.Fatalf("changing the normalisation left the output as it was (relative error %.3g)", before)
	}
	fits, err := Anchor(context.Background(), pm, m, plan, ds, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	byLayer := map[string]Fit{}
	for _, f := range fits {
		byLayer[f.Layer] = f
	}
	for _, name := range []string{dw.Name, y.Name} {
		if f, ok := byLayer[name]; !ok || f.Alpha == 0 || f.FitError > 1e-6 || !(f.CutError > 1e-3) {
			t.Errorf("layer %s: fit %+v (of %+v); want an exact refit of a wrong layer", name, f, fits)
		}
	}
	for _, name := range []string{z.Name, out} {
		if f, ok := byLayer[name]; !ok || f.CutError > 1e-6 {
			t.Errorf("layer %s, exact already: fit %+v (of %+v)", name, f, fits)
		}
	}
	after := relErr(outputs(t, pm, ds, out)[0], want)
	t.Logf("relative output error: %.3g before anchoring, %.3g after", before, after)
	if after > 1e-6 {
		t.Errorf("anchored model's output is %.3g off the source's (%.3g before)", after, before)
	}
}

// TestAnchorReducesDrift: a model cut in two groups and refitted cut by
// cut as the search does (each towards the model it cut) drifts from its
// source; anchoring brings its outputs on new images closer to the
// source's, and no layer's error on the held-apart rows grows.
func TestAnchorReducesDrift(t *testing.T) {
	needORT(t)
	b := newNet(t, 11)
	x := b.input(1, 3, 8, 8)
	a := b.bn(b.conv(x, nil, 16, 3, 1, 1, 1, false))
	y := b.conv(b.op("Relu", []*onnxio.Value{a}), nil, 12, 1, 1, 0, 1, false)
	z := b.conv(b.op("Relu", []*onnxio.Value{b.bn(y)}), nil, 8, 1, 1, 0, 1, true)
	m := b.head(b.op("Relu", []*onnxio.Value{z}), 5)
	calib := noise(96, 8, 11)

	pm, plan := cutOf(t, m, map[*onnxio.Value][]int{a.Producer().Input(0): {0, 2, 3, 5, 7, 8, 10, 13}, y: {1, 2, 4, 6, 7, 9, 11}})
	s, err := Collect(context.Background(), m, calib, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Refit(pm, plan); err != nil {
		t.Fatal(err)
	}
	test := noise(40, 8, 12)
	out := m.Graph.Outputs[0].Name
	want := outputs(t, m, test, out)[0]
	before := relErr(outputs(t, pm, test, out)[0], want)
	fits, err := Anchor(context.Background(), pm, m, plan, calib, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(fits) < 3 {
		t.Fatalf("anchored %d layers (%+v), want the two convs and the head", len(fits), fits)
	}
	for _, f := range fits {
		if f.FitError > f.CutError+1e-12 {
			t.Errorf("layer %s fits worse than its current weights on the held rows: %+v", f.Layer, f)
		}
	}
	after := relErr(outputs(t, pm, test, out)[0], want)
	t.Logf("relative output error on new images: %.4f after the cut's refit, %.4f anchored", before, after)
	if !(after < 0.9*before) || math.IsNaN(after) {
		t.Errorf("anchoring took the output error from %.4f to %.4f", before, after)
	}
}
