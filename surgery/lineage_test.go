package surgery

import (
	"reflect"
	"slices"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/models"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// TestLineage: a lineage survives a file round trip in metadata_props
// without disturbing the model's other entries; a model derived twice
// keeps the first source and a plan that, applied to the source, gives
// the derived architecture.
func TestLineage(t *testing.T) {
	src, err := models.MobileNetV2(models.Config{Width: 0.35, Resolution: 32, Classes: 10})
	if err != nil {
		t.Fatal(err)
	}
	src.SetMetadata("author", "someone")
	data, err := onnxio.Encode(src)
	if err != nil {
		t.Fatal(err)
	}
	l, err := SourceLineage(src, data, "src.onnx")
	if err != nil {
		t.Fatal(err)
	}
	if l.SourceSHA256 != SHA256(data) || len(l.SourceSHA256) != 64 || l.SourceName != "src.onnx" || len(l.Plan.Groups) != 0 {
		t.Fatalf("source lineage %+v", l)
	}
	if _, ok, _ := ReadLineage(src); ok {
		t.Fatal("a model onnx-adapt did not write has a lineage")
	}

	// Two prunings in a row, each stamped.
	m := src.Clone()
	cur := l
	for step, drop := range []int{8, 16} {
		a, err := Analyze(m.Graph)
		if err != nil {
			t.Fatal(err)
		}
		var g *Group
		for _, c := range a.Prunable() {
			if c.Size > 2*drop {
				g = c
				if step == 0 {
					break
				}
			}
		}
		p, err := a.Resolve(Plan{Groups: []GroupPlan{{Group: g.ID, Drop: drop}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := Apply(m.Graph, p); err != nil {
			t.Fatal(err)
		}
		if cur, err = cur.Derive(p); err != nil {
			t.Fatal(err)
		}
		cur.Fingerprint = "fp"
		if err := cur.Stamp(m); err != nil {
			t.Fatal(err)
		}
		b, err := onnxio.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if m, err = onnxio.Decode(b); err != nil {
			t.Fatal(err)
		}
		got, ok, err := ReadLineage(m)
		if err != nil || !ok || !reflect.DeepEqual(got, cur) {
			t.Fatalf("step %d: read %+v, %v, %v; want %+v", step, got, ok, err, cur)
		}
		// Loaded again as a source, the model keeps its lineage.
		if again, err := SourceLineage(m, b, "other.onnx"); err != nil || !reflect.DeepEqual(again, cur) {
			t.Fatalf("step %d: a derived model's source lineage %+v, %v", step, again, err)
		}
	}
	if v, ok := m.Metadata("author"); !ok || v != "someone" {
		t.Errorf("metadata author = %q, %v after stamping", v, ok)
	}
	if len(cur.Plan.Groups) != 2 {
		t.Fatalf("composed plan %+v, want two groups", cur.Plan)
	}
	// The lineage's plan replays the derived architecture on the source.
	replay := src.Clone()
	if err := Apply(replay.Graph, cur.Plan); err != nil {
		t.Fatal(err)
	}
	shapes := func(m *onnxio.Model) [][]int64 {
		var out [][]int64
		for _, v := range m.Graph.Initializers() {
			out = append(out, v.Const.Dims)
		}
		return out
	}
	if !slices.EqualFunc(shapes(replay), shapes(m), slices.Equal) {
		t.Error("the lineage's plan does not replay the derived architecture")
	}
	// A corrupt plan entry is an error, not a silent empty lineage.
	m.SetMetadata("onnx-adapt.plan", "{not json")
	if _, _, err := ReadLineage(m); err == nil {
		t.Error("a corrupt lineage plan was read")
	}
}
