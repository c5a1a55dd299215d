package onnxio_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// TestInferShapesTestdata checks shape inference against the output shapes
// and element types declared by ONNX's own node test models, for every test
// whose operator the inference claims to know.
func TestInferShapesTestdata(t *testing.T) {
	checked := 0
	for _, path := range testdataModels(t) {
		if !strings.Contains(path, "/node/") {
			continue
		}
		m, err := onnxio.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		g := m.Graph
		declared := map[string]onnxio.Type{}
		for _, o := range g.Outputs {
			declared[o.Name] = onnxio.Type{Elem: o.Type.Elem, Shape: append(onnxio.Shape(nil), o.Type.Shape...)}
		}
		// Fold the test's inputs into constants, so that inputs that feed
		// shapes (Reshape targets, Slice bounds, axes) are known.
		dir := filepath.Dir(path)
		for i, in := range append([]*onnxio.Value(nil), g.Inputs...) {
			data, err := os.ReadFile(filepath.Join(dir, "test_data_set_0", fmt.Sprintf("input_%d.pb", i)))
			if err != nil {
				break
			}
			tensor, err := onnxio.DecodeTensor(data)
			if err != nil {
				break // not a plain tensor (sequence, optional)
			}
			if in.Type.Elem != onnxio.Undefined && tensor.DataType != in.Type.Elem {
				continue // bfloat16 data stored as uint16 by ONNX 1.12's generator
			}
			if err := g.InputToConst(in.Name, tensor); err != nil {
				t.Fatal(err)
			}
		}
		known := true
		for _, n := range g.Nodes {
			if !onnxio.KnowsOp(n.Op) {
				known = false
			}
		}
		if !known {
			continue
		}
		if err := g.InferShapes(); err != nil {
			t.Errorf("%s: %v", filepath.Base(filepath.Dir(path)), err)
			continue
		}
		checked++
		for _, o := range g.Outputs {
			want := declared[o.Name]
			if want.Shape.String() != o.Type.Shape.String() {
				t.Errorf("%s: output %q: inferred %v, declared %v", filepath.Base(filepath.Dir(path)), o.Name, o.Type.Shape, want.Shape)
			}
			if want.Elem != o.Type.Elem {
				t.Errorf("%s: output %q: inferred element type %v, declared %v", filepath.Base(filepath.Dir(path)), o.Name, o.Type.Elem, want.Elem)
			}
		}
	}
	t.Logf("checked %d node tests", checked)
	if checked < 300 {
		t.Errorf("only %d node tests exercised shape inference", checked)
	}
}
