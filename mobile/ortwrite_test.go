package mobile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/ort"
)

// TestWriteORT writes the .ort file of real PyTorch exports at each level a
// user may ask for and checks that it is in place, in ORT format, loads,
// matches its source on the batches compared, and leaves no temporary file.
func TestWriteORT(t *testing.T) {
	names := []string{"mobilenet_v3_small_w035.bn.onnx", "densenet_tiny.folded.onnx", "inception_tiny.bn.onnx"}
	dir := copyModels(t, names...)
	for _, n := range names {
		for _, level := range []ort.OptLevel{ort.OptAll, ort.OptBasic} {
			src := filepath.Join(dir, n)
			f, err := WriteORT(src, ORTOptions{Level: level})
			if err != nil {
				t.Fatalf("%s at %v: %v", n, level, err)
			}
			if want := strings.TrimSuffix(src, ".onnx") + ".ort"; f.Path != want {
				t.Errorf("path %s, want %s", f.Path, want)
			}
			data, err := os.ReadFile(f.Path)
			if err != nil {
				t.Fatal(err)
			}
			if !ort.IsORTFormat(data) || int64(len(data)) != f.Bytes {
				t.Errorf("%s: %d bytes (reported %d), ORT format %v", f.Path, len(data), f.Bytes, ort.IsORTFormat(data))
			}
			// Dynamic batch: batches 1 and 2 are compared.
			if f.Batches != 2 || f.MaxDiff > DefaultTolerance || f.Level != level.String() {
				t.Errorf("%s: %+v", n, f)
			}
			s, err := ort.NewSession(data, ort.Options{})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
		}
	}
	assertNoTemps(t, dir)
}

func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

// TestWriteORTFailures: whatever goes wrong, no .ort file appears and no
// temporary file is left.
func TestWriteORTFailures(t *testing.T) {
	dir := copyModels(t, "resnet18_w0125.folded.onnx")
	src := filepath.Join(dir, "resnet18_w0125.folded.onnx")
	garbage := filepath.Join(dir, "garbage.onnx")
	if err := os.WriteFile(garbage, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		path string
		opts ORTOptions
		want string
	}{
		{"missing", filepath.Join(dir, "none.onnx"), ORTOptions{}, "no such file"},
		{"not a model", garbage, ORTOptions{}, "onnxio"},
		{"inputs fail", src, ORTOptions{Inputs: func([]ort.IOInfo) ([][]ort.Tensor, error) { return nil, errors.New("no data") }}, "no data"},
		{"no inputs", src, ORTOptions{Inputs: func([]ort.IOInfo) ([][]ort.Tensor, error) { return nil, nil }}, "no inputs"},
		{"wrong inputs", src, ORTOptions{Inputs: func(infos []ort.IOInfo) ([][]ort.Tensor, error) {
			x, err := ort.NewFloat32([]int64{1, 3}, make([]float32, 3))
			return [][]ort.Tensor{{x}}, err
		}}, "shape"},
		{"tolerance", src, ORTOptions{Tolerance: -1}, "more than"},
	} {
		_, err := WriteORT(tc.path, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
		if _, err := os.Stat(ORTPath(tc.path)); !os.IsNotExist(err) {
			t.Errorf("%s: %s exists after a failure", tc.name, ORTPath(tc.path))
		}
	}
	assertNoTemps(t, dir)
}

func TestORTPath(t *testing.T) {
	for in, want := range map[string]string{"a/iter_001.onnx": "a/iter_001.ort", "M.ONNX": "M.ort", "model": "model.ort"} {
		if got := ORTPath(in); got != want {
			t.Errorf("ORTPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzReadORT: reading an ORT file never panics or hangs, whatever its
// bytes; a malformed one is an error.
func FuzzReadORT(f *testing.F) {
	dir := copyModels(f, "inception_tiny.folded.onnx")
	w, err := WriteORT(filepath.Join(dir, "inception_tiny.folded.onnx"), ORTOptions{})
	if err != nil {
		f.Fatal(err)
	}
	seed, err := os.ReadFile(w.Path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add([]byte("\x08\x00\x00\x00ORTM"))
	f.Fuzz(func(t *testing.T, b []byte) {
		readORT(b)
	})
}
