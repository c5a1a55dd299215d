package onnxio_test

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxcheck"
	"github.com/onnx-adapt/onnx-adapt/internal/onnxpb"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

const testdataRoot = "/usr/share/libonnx-testdata/data"

// testdataModels lists every model.onnx of Debian's libonnx-testdata. The
// package is installed by scripts/setup; its absence fails the test.
func testdataModels(t *testing.T) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(testdataRoot, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == "model.onnx" {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("libonnx-testdata is missing (run ./scripts/setup): %v", err)
	}
	if len(paths) < 1000 {
		t.Fatalf("found only %d models under %s", len(paths), testdataRoot)
	}
	return paths
}

// TestRoundTripTestdata: for every ONNX test model, the IR encodes back to a
// ModelProto equal to the file's, and load → save → load is stable.
func TestRoundTripTestdata(t *testing.T) {
	for _, path := range testdataModels(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want := &onnxpb.ModelProto{}
		if err := proto.Unmarshal(data, want); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		m, err := onnxio.Load(path)
		if err != nil {
			t.Errorf("%s: load: %v", path, err)
			continue
		}
		got, err := m.Proto()
		if err != nil {
			t.Errorf("%s: encode: %v", path, err)
			continue
		}
		if !proto.Equal(got, want) {
			t.Errorf("%s: encoded model differs from the file", path)
			continue
		}
		out := filepath.Join(t.TempDir(), "m.onnx")
		if err := onnxio.Save(out, m, onnxio.SaveOptions{}); err != nil {
			t.Errorf("%s: save: %v", path, err)
			continue
		}
		onnxcheck.FromSource(out, path)
		m2, err := onnxio.Load(out)
		if err != nil {
			t.Errorf("%s: reload: %v", path, err)
			continue
		}
		got2, _ := m2.Proto()
		if !proto.Equal(got2, want) {
			t.Errorf("%s: reloaded model differs", path)
		}
	}
}

// TestUnknownFieldsRoundTrip: fields this build's onnx.proto does not know
// (written by a newer ONNX) survive Decode → Encode on every message the
// IR takes apart: model, opset import, graph, node, attribute, initializer
// and value info.
func TestUnknownFieldsRoundTrip(t *testing.T) {
	m := onnxio.NewModel(17)
	g := m.Graph
	x := g.AddInput("x", onnxio.Type{Elem: onnxio.Float, Shape: onnxio.ShapeOf(1, 4), HasShape: true})
	w, _ := onnxio.NewFloat32Tensor([]int64{4}, []float32{1, 2, 3, 4})
	y := g.AddNode("Mul", "mul", []*onnxio.Value{x, g.AddInitializer("w", w)}, []string{"y"}, onnxio.AttrString("note", "n")).Output(0)
	y.Type = x.Type
	g.Outputs = append(g.Outputs, y)
	data, err := onnxio.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	want := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(data, want); err != nil {
		t.Fatal(err)
	}
	unknown := func(msg proto.Message, field protowire.Number) {
		r := msg.ProtoReflect()
		b := protowire.AppendTag(r.GetUnknown(), field, protowire.BytesType)
		r.SetUnknown(protowire.AppendString(b, "from a newer ONNX"))
	}
	gp := want.Graph
	for i, msg := range []proto.Message{want, want.OpsetImport[0], gp, gp.Node[0], gp.Node[0].Attribute[0], gp.Initializer[0], gp.Input[0], gp.Output[0]} {
		unknown(msg, protowire.Number(900+i))
	}
	data, err = proto.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := onnxio.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	out, err := got.Proto()
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(out, want) {
		t.Errorf("unknown fields did not survive the round trip:\n got %v\nwant %v", out, want)
	}
}
