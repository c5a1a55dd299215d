package onnxio

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// ONNX 1.12, whose node tests libonnx-testdata ships, defines opset 17.
const testdataOpset = 17

// notInNodeTests are operators of opset ≤ 17 that ONNX 1.12 defines but has
// no node test for.
var notInNodeTests = []string{"GlobalLpPool", "LpNormalization", "LpPool"}

// TestOpTable checks the operator table against ONNX's own node tests: every
// operator it lists from opset 17 or earlier is the operator of some test
// model (a misspelt or invented name fails), and in every single-node test of
// a classified operator the declared output shape is what the class implies
// (a shape-changing operator listed as element-wise fails).
func TestOpTable(t *testing.T) {
	dirs, err := filepath.Glob("/usr/share/libonnx-testdata/data/node/test_*")
	if err != nil || len(dirs) < 500 {
		t.Fatalf("libonnx-testdata node tests are missing (run ./scripts/setup): %d found, %v", len(dirs), err)
	}
	seen := map[string]bool{}
	checked := 0
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
		if err != nil {
			continue
		}
		m, err := Decode(data)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		g := m.Graph
		for _, n := range g.Nodes {
			if n.DefaultDomain() {
				seen[n.Op] = true
			}
		}
		if len(g.Nodes) != 1 {
			continue
		}
		n := g.Nodes[0]
		x, y := n.Input(0), n.Output(0)
		if x == nil || y == nil || !x.Type.HasShape || !y.Type.HasShape {
			continue
		}
		want := x.Type.Shape
		switch ClassOf(n.Op) {
		case OpUnary, OpNormalize:
		case OpBroadcast:
			for _, v := range n.Inputs()[1:] {
				if v != nil && v.Type.HasShape {
					if want, err = broadcastShapes(want, v.Type.Shape); err != nil {
						t.Fatalf("%s: %v", filepath.Base(dir), err)
					}
				}
			}
		case OpGlobalPool:
			want = slices.Clone(want)
			for i := 2; i < len(want); i++ {
				want[i] = Dim{Value: 1}
			}
		default:
			continue
		}
		checked++
		if want.String() != y.Type.Shape.String() {
			t.Errorf("%s: %s (%v) declares output %v, its class implies %v", filepath.Base(dir), n.Op, ClassOf(n.Op), y.Type.Shape, want)
		}
	}
	for op, info := range opTable {
		if info.since <= testdataOpset && !seen[op] && !slices.Contains(notInNodeTests, op) {
			t.Errorf("%s (opset %d) is in the operator table but in no ONNX node test", op, info.since)
		}
		if info.since > testdataOpset && seen[op] {
			t.Errorf("%s is in ONNX 1.12's node tests, but the table says opset %d", op, info.since)
		}
	}
	for _, op := range notInNodeTests {
		if seen[op] {
			t.Errorf("%s has node tests now: take it off notInNodeTests", op)
		}
	}
	if checked < 250 {
		t.Errorf("only %d single-node tests of classified operators", checked)
	}
}
