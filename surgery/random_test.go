package surgery

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// randomNet builds a random CNN from a menu of blocks, all at 8×8: convs,
// depthwise convs, BN, activations, residual Adds, channel Concats,
// Splits and Slices, SE blocks, per-channel constants and pooling, ending
// in GlobalAveragePool → Flatten → Gemm.
func randomNet(tb testing.TB, seed uint64) *onnxio.Model {
	b := newTG(tb, 17, seed)
	rng := rand.New(rand.NewPCG(seed, 77))
	ch := func(v *onnxio.Value) int64 { return b.dims(v)[1] }
	feats := []*onnxio.Value{b.relu(b.conv(b.input(2, 3, 8, 8), 4+int64(rng.IntN(5)), 3, 1, 1, true))}
	pick := func() *onnxio.Value { return feats[rng.IntN(len(feats))] }
	steps := 6 + rng.IntN(8)
	for range steps {
		x := pick()
		var y *onnxio.Value
		switch rng.IntN(10) {
		case 0, 1:
			y = b.conv(x, 2+int64(rng.IntN(7)), 1+2*int64(rng.IntN(2)), 1, 1, rng.IntN(2) == 0)
			if rng.IntN(2) == 0 {
				y = b.bn(y)
			}
			y = b.relu(y)
		case 2:
			y = b.op("Clip", []*onnxio.Value{b.conv(x, ch(x), 3, 1, ch(x), true), b.scalar(0), b.scalar(6)})
		case 3:
			var same []*onnxio.Value
			for _, f := range feats {
				if f != x && ch(f) == ch(x) {
					same = append(same, f)
				}
			}
			if len(same) == 0 {
				same = []*onnxio.Value{b.conv(pick(), ch(x), 1, 1, 1, false)}
			}
			y = b.op("Add", []*onnxio.Value{x, same[rng.IntN(len(same))]})
		case 4:
			y = b.op("Concat", []*onnxio.Value{x, pick()}, onnxio.AttrInt("axis", 1))
		case 5:
			if c := ch(x); c >= 2 {
				k := 1 + rng.Int64N(c-1)
				parts := b.opN("Split", []*onnxio.Value{x, b.ints(k, c-k)}, 2, onnxio.AttrInt("axis", 1))
				feats = append(feats, parts[0])
				y = parts[1]
			}
		case 6:
			if c := ch(x); c >= 2 {
				lo := rng.Int64N(c - 1)
				hi := lo + 1 + rng.Int64N(c-lo-1)
				y = b.op("Slice", []*onnxio.Value{x, b.ints(lo), b.ints(hi), b.ints(1)})
			}
		case 7:
			s := b.relu(b.conv(b.gap(x), 2+int64(rng.IntN(3)), 1, 1, 1, true))
			s = b.op("Sigmoid", []*onnxio.Value{b.conv(s, ch(x), 1, 1, 1, true)})
			y = b.op("Mul", []*onnxio.Value{x, s})
		case 8:
			y = b.op("Mul", []*onnxio.Value{x, b.w(ch(x), 1, 1)})
		case 9:
			y = b.op("MaxPool", []*onnxio.Value{x}, onnxio.AttrInts("kernel_shape", []int64{3, 3}), onnxio.AttrInts("pads", []int64{1, 1, 1, 1}))
		}
		if y != nil {
			feats = append(feats, y)
		}
	}
	last := feats[len(feats)-1]
	return b.output(b.gemm(b.flatten(b.gap(last)), 3))
}

// TestRandomNets checks random graphs against the oracle.
func TestRandomNets(t *testing.T) {
	needORT(t)
	plans := 0
	for seed := uint64(0); seed < 40; seed++ {
		m := randomNet(t, seed)
		a, err := Analyze(m.Graph)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if len(a.Prunable()) == 0 {
			continue
		}
		rng := newRand(seed)
		for i := 0; i < 5; i++ {
			if checkPlan(t, m, a, randomPlan(rng, a)) {
				plans++
			}
		}
	}
	if plans < 100 {
		t.Errorf("only %d plans checked", plans)
	}
}

// FuzzRandomNet: for any generator seed and plan seed, Analyze never
// fails and Apply either refuses the plan or leaves a graph that
// verifies with the shapes PrunedShape predicts.
func FuzzRandomNet(f *testing.F) {
	for s := range uint64(8) {
		f.Add(s, s*7)
	}
	f.Fuzz(func(t *testing.T, netSeed, planSeed uint64) {
		m := randomNet(t, netSeed%4096)
		a, err := Analyze(m.Graph)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Prunable()) == 0 {
			return
		}
		rp, err := a.Resolve(randomPlan(newRand(planSeed), a))
		if err != nil {
			t.Fatal(err)
		}
		pm := m.Clone()
		if err := Apply(pm.Graph, rp); err != nil {
			if !strings.Contains(err.Error(), "removes every channel") {
				t.Fatal(err)
			}
			return
		}
		for _, n := range pm.Graph.Nodes {
			for _, v := range n.Outputs() {
				if got, want := v.Type.Shape.Ints(), a.PrunedShape(v.Name, rp.Selection()); !slices.Equal(got, want) {
					t.Fatalf("%q: shape %v, PrunedShape %v", v.Name, got, want)
				}
			}
		}
	})
}
