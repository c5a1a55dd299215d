package surgery

import (
	"bytes"
	"slices"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/models"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// TestPrunedShapePredictsApply checks the planner's view: for random
// plans, PrunedShape on the original analysis gives the shape every node
// output has after Apply; and Apply keeps node names, operators, order,
// opsets and graph inputs and outputs.
func TestPrunedShapePredictsApply(t *testing.T) {
	var nets []func() *onnxio.Model
	for _, n := range smallNets {
		nets = append(nets, func() *onnxio.Model { return netByName(t, n.name) })
	}
	for _, name := range []string{"mobilenetv3-large", "concatnet", "resnet"} {
		nets = append(nets, func() *onnxio.Model {
			m, err := models.Build(name, models.Config{Resolution: 32, Classes: 10, Width: 0.5, Style: models.StyleTF2ONNX})
			if err != nil {
				t.Fatal(err)
			}
			return m
		})
	}
	for i, build := range nets {
		m := build()
		a, err := Analyze(m.Graph)
		if err != nil {
			t.Fatal(err)
		}
		rng := newRand(uint64(i))
		applied := 0
		for trial := 0; trial < 5; trial++ {
			rp, err := a.Resolve(randomPlan(rng, a))
			if err != nil {
				t.Fatal(err)
			}
			pm := m.Clone()
			if err := Apply(pm.Graph, rp); err != nil {
				continue // a refused plan; TestInvalidPlansChangeNothing covers those
			}
			applied++
			sel := rp.Selection()
			for j, n := range pm.Graph.Nodes {
				o := m.Graph.Nodes[j]
				if n.Name != o.Name || n.Op != o.Op {
					t.Fatalf("node %d is %v after Apply, was %v", j, n, o)
				}
				for _, v := range n.Outputs() {
					if v == nil {
						continue
					}
					want := a.PrunedShape(v.Name, sel)
					if got := v.Type.Shape.Ints(); !slices.Equal(got, want) {
						t.Fatalf("%q has shape %v after Apply, PrunedShape says %v", v.Name, got, want)
					}
				}
			}
			if pm.Opset("") != m.Opset("") || len(pm.Graph.Inputs) != len(m.Graph.Inputs) || len(pm.Graph.Outputs) != len(m.Graph.Outputs) {
				t.Fatal("Apply changed the opset or the graph's inputs or outputs")
			}
			for k, v := range pm.Graph.Outputs {
				if v.Name != m.Graph.Outputs[k].Name || !slices.Equal(v.Type.Shape.Ints(), m.Graph.Outputs[k].Type.Shape.Ints()) {
					t.Fatalf("graph output %q changed", v.Name)
				}
			}
		}
		if applied < 2 {
			t.Errorf("net %d: only %d of 5 random plans applied", i, applied)
		}
	}
}

// TestFileShrinksByRemovedParameters: the written model is smaller by the
// bytes of the parameters removed (float32), up to protobuf framing.
func TestFileShrinksByRemovedParameters(t *testing.T) {
	m := loadShared(t, "imagenet-mini/mobilenetv2-1.0.onnx")
	a, err := Analyze(m.Graph)
	if err != nil {
		t.Fatal(err)
	}
	before, err := onnxio.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	count := func(g *onnxio.Graph) (n int64) {
		for _, v := range g.Initializers() {
			n += v.Const.NumElements()
		}
		return n
	}
	for _, frac := range []float64{0.25, 0.5} {
		var p Plan
		for _, g := range a.Prunable() {
			p.Groups = append(p.Groups, GroupPlan{Group: g.ID, Drop: int(float64(g.Size) * frac)})
		}
		pm := m.Clone()
		if err := Apply(pm.Graph, p); err != nil {
			t.Fatal(err)
		}
		after, err := onnxio.Encode(pm)
		if err != nil {
			t.Fatal(err)
		}
		removed := count(m.Graph) - count(pm.Graph)
		shrink := int64(len(before) - len(after))
		t.Logf("drop %.0f%%: %d parameters removed (%d bytes), file %d → %d bytes", 100*frac, removed, 4*removed, len(before), len(after))
		if removed <= 0 || shrink < 4*removed || shrink > 4*removed+1024 {
			t.Errorf("drop %.0f%%: file shrank by %d bytes for %d removed parameters (%d bytes)", 100*frac, shrink, removed, 4*removed)
		}
		if bytes.Equal(before, after) {
			t.Error("nothing changed")
		}
	}
}
