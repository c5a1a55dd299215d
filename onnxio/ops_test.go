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

// TestNormAxis checks ONNX's axis convention: [-rank, rank), negative
// counted from the end.
func TestNormAxis(t *testing.T) {
	tests := []struct {
		a    int64
		rank int
		want int // -1: error
	}{{0, 4, 0}, {3, 4, 3}, {-1, 4, 3}, {-4, 4, 0}, {4, 4, -1}, {-5, 4, -1}, {0, 0, -1}}
	for _, tc := range tests {
		got, err := NormAxis(tc.a, tc.rank)
		if tc.want < 0 && err == nil || tc.want >= 0 && (err != nil || got != tc.want) {
			t.Errorf("NormAxis(%d, %d) = %d, %v; want %d", tc.a, tc.rank, got, err, tc.want)
		}
	}
}

// TestShapeRange checks Shape's start and end attributes (opset 15):
// negative counted from the end, clamped to [0, rank], never end < start.
func TestShapeRange(t *testing.T) {
	tests := []struct {
		start, end *int64
		want       [2]int
	}{
		{nil, nil, [2]int{0, 4}},
		{ptr(1), nil, [2]int{1, 4}},
		{nil, ptr(-1), [2]int{0, 3}},
		{ptr(-10), ptr(10), [2]int{0, 4}},
		{ptr(3), ptr(1), [2]int{3, 3}},
	}
	for _, tc := range tests {
		g := NewGraph("g")
		n := g.AddNode("Shape", "", nil, []string{"s"})
		if tc.start != nil {
			n.SetAttrInt("start", *tc.start)
		}
		if tc.end != nil {
			n.SetAttrInt("end", *tc.end)
		}
		if s, e := ShapeRange(n, 4); [2]int{s, e} != tc.want {
			t.Errorf("start %v end %v: ShapeRange = [%d, %d), want %v", tc.start, tc.end, s, e, tc.want)
		}
	}
}

func ptr(v int64) *int64 { return &v }
