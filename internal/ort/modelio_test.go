package ort

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	ortgo "github.com/yalue/onnxruntime_go"

	"github.com/onnx-adapt/onnx-adapt/models"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// TestDeclaredIOMatchesOnnxruntime: wherever NewSession reads inputs and
// outputs from the model bytes instead of a throwaway onnxruntime session,
// it must see what onnxruntime sees: the same names, element types and
// shapes. Over every libonnx-testdata model and every models/ net.
func TestDeclaredIOMatchesOnnxruntime(t *testing.T) {
	if err := Init(); err != nil {
		t.Fatal(err)
	}
	type model struct {
		name string
		data []byte
	}
	var all []model
	paths, err := filepath.Glob("/usr/share/libonnx-testdata/data/*/*/model.onnx")
	if err != nil || len(paths) < 1000 {
		t.Fatalf("libonnx-testdata is missing (run ./scripts/setup): %d models, %v", len(paths), err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, model{p, b})
	}
	for _, name := range models.Names() {
		for _, bn := range []models.BNMode{models.BNKept, models.BNFolded} {
			m, err := models.Build(name, models.Config{Resolution: 32, Classes: 10, BN: bn})
			if err != nil {
				t.Fatal(err)
			}
			b, err := onnxio.Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, model{name + "/" + bn.String(), b})
		}
	}
	fast := 0
	for _, m := range all {
		ins, outs, ok := declaredIO(m.data)
		wantIns, wantOuts, err := ortgo.GetInputOutputInfoWithONNXData(m.data)
		if !ok {
			continue
		}
		if err != nil {
			// onnxruntime refuses the model; NewSession then fails when it
			// creates the session instead.
			continue
		}
		fast++
		if len(ins) != len(wantIns) || len(outs) != len(wantOuts) {
			t.Errorf("%s: %d inputs, %d outputs; onnxruntime: %d, %d", m.name, len(ins), len(outs), len(wantIns), len(wantOuts))
			continue
		}
		for i, w := range wantIns {
			got := ins[i]
			if got.Name != w.Name || got.DataType != int32(w.DataType) || !reflect.DeepEqual(got.Shape, []int64(w.Dimensions)) &&
				!(len(got.Shape) == 0 && len(w.Dimensions) == 0) {
				t.Errorf("%s: input %d is %v; onnxruntime: %v", m.name, i, got, w)
			}
		}
		for i, w := range wantOuts {
			got := outs[i]
			if got.Name != w.Name || got.DataType != int32(w.DataType) || !reflect.DeepEqual(got.Shape, []int64(w.Dimensions)) &&
				!(len(got.Shape) == 0 && len(w.Dimensions) == 0) {
				t.Errorf("%s: output %d is %v; onnxruntime: %v", m.name, i, got, w)
			}
		}
	}
	t.Logf("%d of %d models read without a throwaway session", fast, len(all))
	if fast < len(all)*9/10 {
		t.Errorf("only %d of %d models take the fast path", fast, len(all))
	}
}

// FuzzDeclaredIO: malformed bytes never panic.
func FuzzDeclaredIO(f *testing.F) {
	for _, p := range []string{
		"/usr/share/libonnx-testdata/data/node/test_constant/model.onnx",
		"/usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding/model.onnx",
		"/usr/share/libonnx-testdata/data/node/test_sequence_insert_at_back/model.onnx",
	} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ins, outs, ok := declaredIO(b)
		if !ok && (ins != nil || outs != nil) {
			t.Fatal("not ok, but inputs or outputs returned")
		}
	})
}
