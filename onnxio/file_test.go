package onnxio_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxpb"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// externalModel writes, into dir, a model computing Y = X + W where W (4
// floats) lives in an external file at location, preceded by pad bytes.
func externalModel(t *testing.T, dir, location string, w []float32, pad int) string {
	t.Helper()
	raw := make([]byte, pad)
	wt, err := onnxio.NewFloat32Tensor([]int64{4}, w)
	if err != nil {
		t.Fatal(err)
	}
	wraw, _ := wt.Raw()
	raw = append(raw, wraw...)
	if !filepath.IsAbs(location) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, location)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, location), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f32 := int32(onnxio.Float)
	vi := func(name string) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(f32), Shape: &onnxpb.TensorShapeProto{
				Dim: []*onnxpb.TensorShapeProto_Dimension{{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 4}}}}}}}}
	}
	mp := &onnxpb.ModelProto{
		IrVersion:     proto.Int64(8),
		OpsetImport:   []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		MetadataProps: []*onnxpb.StringStringEntryProto{{Key: proto.String("k"), Value: proto.String("v")}},
		Graph: &onnxpb.GraphProto{
			Name: proto.String("g"),
			Node: []*onnxpb.NodeProto{{OpType: proto.String("Add"), Input: []string{"X", "W"}, Output: []string{"Y"}}},
			Initializer: []*onnxpb.TensorProto{{
				Name: proto.String("W"), DataType: proto.Int32(f32), Dims: []int64{4},
				DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(),
				ExternalData: []*onnxpb.StringStringEntryProto{
					{Key: proto.String("location"), Value: proto.String(location)},
					{Key: proto.String("offset"), Value: proto.String(strconv.Itoa(pad))},
					{Key: proto.String("length"), Value: proto.String("16")},
				},
			}},
			Input:  []*onnxpb.ValueInfoProto{vi("X")},
			Output: []*onnxpb.ValueInfoProto{vi("Y")},
		},
	}
	data, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestExternalDataRoundTrip(t *testing.T) {
	src := t.TempDir()
	w := []float32{1, -2, 3.5, 4}
	path := externalModel(t, src, "data/weights.bin", w, 64)
	m, err := onnxio.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	wv := m.Graph.Value("W")
	if !wv.Const.IsExternal() {
		t.Fatal("W should be external")
	}
	got, err := wv.Const.Float32()
	if err != nil || !slices.Equal(got, w) {
		t.Fatalf("W = %v, %v; want %v", got, err, w)
	}
	want, _ := m.Proto() // self-contained form

	// Keep: the data file is written next to the new model, same location
	// and offset, and the model's protobuf is unchanged.
	dst := t.TempDir()
	out := filepath.Join(dst, "out.onnx")
	if err := onnxio.Save(out, m, onnxio.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(path)
	saved, _ := os.ReadFile(out)
	a, b := &onnxpb.ModelProto{}, &onnxpb.ModelProto{}
	if proto.Unmarshal(orig, a) != nil || proto.Unmarshal(saved, b) != nil || !proto.Equal(a, b) {
		t.Fatal("saved model differs from the original file")
	}
	m2, err := onnxio.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if got2, _ := m2.Proto(); !proto.Equal(got2, want) {
		t.Fatal("reloaded model differs")
	}

	// Inline: one self-contained file.
	inl := filepath.Join(t.TempDir(), "inline.onnx")
	if err := onnxio.Save(inl, m, onnxio.SaveOptions{External: onnxio.InlineExternal}); err != nil {
		t.Fatal(err)
	}
	m3, err := onnxio.Decode(mustRead(t, inl))
	if err != nil {
		t.Fatalf("inlined model still needs external data: %v", err)
	}
	if got3, _ := m3.Graph.Value("W").Const.Float32(); !slices.Equal(got3, w) {
		t.Fatalf("inlined W = %v", got3)
	}

	// Decode refuses external data: it cannot know the folder.
	if _, err := onnxio.Decode(orig); !errors.Is(err, onnxio.ErrExternalData) {
		t.Fatalf("Decode of an external-data model: %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExternalDataRefused(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.bin"), make([]byte, 16), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, location, want string
		setup                func(dir string)
	}{
		{"absolute", filepath.Join(outside, "secret.bin"), "absolute path", nil},
		{"dotdot", "../" + filepath.Base(outside) + "/secret.bin", "leaves the model's folder", nil},
		{"nested dotdot", "a/../../secret.bin", "leaves the model's folder", nil},
		{"symlink out", "link.bin", "symlink out", func(dir string) {
			os.Remove(filepath.Join(dir, "link.bin"))
			if err := os.Symlink(filepath.Join(outside, "secret.bin"), filepath.Join(dir, "link.bin")); err != nil {
				t.Fatal(err)
			}
		}},
		{"symlinked folder out", "sub/secret.bin", "symlink out", func(dir string) {
			os.RemoveAll(filepath.Join(dir, "sub"))
			if err := os.Symlink(outside, filepath.Join(dir, "sub")); err != nil {
				t.Fatal(err)
			}
		}},
		{"too short", "short.bin", "too few", func(dir string) {
			if err := os.WriteFile(filepath.Join(dir, "short.bin"), make([]byte, 70), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"missing", "missing.bin", "no such file", func(dir string) { os.Remove(filepath.Join(dir, "missing.bin")) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := externalModel(t, dir, tc.location, []float32{1, 2, 3, 4}, 64)
			if tc.setup != nil {
				tc.setup(dir)
			}
			_, err := onnxio.Load(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: %v; want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestSaveAtomic(t *testing.T) {
	src := t.TempDir()
	m, err := onnxio.Load(externalModel(t, src, "w.bin", []float32{1, 2, 3, 4}, 0))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "m.onnx")
	if err := os.WriteFile(path, []byte("previous"), 0o644); err != nil {
		t.Fatal(err)
	}
	checked := false
	boom := errors.New("boom")
	err = onnxio.Save(path, m, onnxio.SaveOptions{Check: func(b []byte) error {
		checked = true
		if _, err := onnxio.Decode(b); err != nil {
			t.Errorf("check got bytes that do not decode on their own: %v", err)
		}
		return boom
	}})
	if !checked || !errors.Is(err, boom) {
		t.Fatalf("Save with a failing check: checked=%v err=%v", checked, err)
	}
	if got := string(mustRead(t, path)); got != "previous" {
		t.Fatalf("failed save replaced the file: %q", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("failed save left files behind: %v", names)
	}
	if err := onnxio.Save(filepath.Join(dir, "no", "such", "m.onnx"), m, onnxio.SaveOptions{}); err == nil {
		t.Fatal("Save into a missing folder succeeded")
	}
	if err := onnxio.Save(path, m, onnxio.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := onnxio.Load(path); err != nil {
		t.Fatal(err)
	}
}

// TestDeclaredSizeRefused: tensors declaring more data than they carry are
// refused (the decoder checks sizes before allocating).
func TestDeclaredSizeRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		tp   *onnxpb.TensorProto
	}{
		{"raw too short", &onnxpb.TensorProto{Name: proto.String("W"), DataType: proto.Int32(1), Dims: []int64{1 << 30}, RawData: []byte{1, 2, 3, 4}}},
		{"typed too short", &onnxpb.TensorProto{Name: proto.String("W"), DataType: proto.Int32(1), Dims: []int64{1 << 20, 1 << 20}, FloatData: []float32{1}}},
		{"overflow", &onnxpb.TensorProto{Name: proto.String("W"), DataType: proto.Int32(1), Dims: []int64{1 << 40, 1 << 40}, RawData: []byte{}}},
		{"negative dim", &onnxpb.TensorProto{Name: proto.String("W"), DataType: proto.Int32(1), Dims: []int64{-1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mp := &onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: &onnxpb.GraphProto{Initializer: []*onnxpb.TensorProto{tc.tp}}}
			data, _ := proto.Marshal(mp)
			if _, err := onnxio.Decode(data); err == nil {
				t.Fatal("decoded a tensor whose declared size exceeds its data")
			}
			tb, _ := proto.Marshal(tc.tp)
			if _, err := onnxio.DecodeTensor(tb); err == nil {
				t.Fatal("DecodeTensor accepted it")
			}
		})
	}
}
