package ort

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxpb"
)

// torchFixture is a real PyTorch export (models/testdata/README.md) with a
// dynamic batch dimension and convolutions wide enough for NCHWc.
var torchFixture = filepath.Join("..", "..", "models", "testdata", "torch", "mobilenet_v2_w035.folded.onnx")

// domainsOf returns the node domains of a serialized ONNX model.
func domainsOf(t *testing.T, model []byte) []string {
	t.Helper()
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(model, &m); err != nil {
		t.Fatal(err)
	}
	var ds []string
	for _, n := range m.GetGraph().GetNode() {
		if !slices.Contains(ds, n.GetDomain()) {
			ds = append(ds, n.GetDomain())
		}
	}
	return ds
}

// TestSaveOptimized writes a model as onnxruntime optimises it, in both
// formats, and checks that each file is in the format asked for, loads, and
// computes what the source computes; and that DisabledOptimizers keeps the
// NCHWc transformer out of the graph.
func TestSaveOptimized(t *testing.T) {
	src, err := os.ReadFile(torchFixture)
	if err != nil {
		t.Fatal(err)
	}
	ref := mustSession(t, src, Options{OptLevel: OptDisable, IntraOpThreads: 1})
	in, err := RandomInputs(ref.Inputs(), 2, 7)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		format Format
		opts   Options
	}{
		{"all.ort", ORTFormat, Options{DisabledOptimizers: []string{"NchwcTransformer"}}},
		{"extended.ort", ORTFormat, Options{OptLevel: OptExtended}},
		{"all.onnx", ONNXFormat, Options{}},
		{"no-nchwc.onnx", ONNXFormat, Options{DisabledOptimizers: []string{"NchwcTransformer"}}},
	} {
		path := filepath.Join(dir, tc.name)
		if err := SaveOptimized(src, path, tc.format, tc.opts); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if IsORTFormat(data) != (tc.format == ORTFormat) {
			t.Errorf("%s: IsORTFormat = %v", tc.name, IsORTFormat(data))
		}
		s := mustSession(t, data, Options{OptLevel: OptDisable, IntraOpThreads: 1})
		if !ioEqual(s.Inputs(), ref.Inputs()) || !ioEqual(s.Outputs(), ref.Outputs()) {
			t.Errorf("%s: inputs %v outputs %v, source %v %v", tc.name, s.Inputs(), s.Outputs(), ref.Inputs(), ref.Outputs())
		}
		got, err := s.Run(in)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		g, _ := got[0].Float32()
		w, _ := want[0].Float32()
		for i := range w {
			if d := g[i] - w[i]; d > 1e-5 || d < -1e-5 {
				t.Fatalf("%s: output %d is %g, source %g", tc.name, i, g[i], w[i])
			}
		}
		if tc.format == ONNXFormat {
			nchwc := slices.Contains(domainsOf(t, data), "com.microsoft.nchwc")
			if disabled := len(tc.opts.DisabledOptimizers) > 0; disabled && nchwc {
				t.Errorf("%s: NCHWc nodes despite DisabledOptimizers", tc.name)
			} else if !disabled && !nchwc {
				t.Logf("%s: no NCHWc nodes at level all (this CPU has no NCHWc kernels)", tc.name)
			}
		}
	}
}

func TestSaveOptimizedErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		model []byte
		path  string
		opts  Options
		want  string
	}{
		{"empty", nil, filepath.Join(dir, "a.ort"), Options{}, "empty model"},
		{"no path", addModel(t), "", Options{}, "no path"},
		{"bad optimizer", addModel(t), filepath.Join(dir, "b.ort"), Options{DisabledOptimizers: []string{"A,B"}}, "invalid optimizer"},
		{"garbage", []byte("not a model"), filepath.Join(dir, "c.ort"), Options{}, "ort: "},
		{"no folder", addModel(t), filepath.Join(dir, "none", "d.ort"), Options{}, "ort: "},
	} {
		err := SaveOptimized(tc.model, tc.path, ORTFormat, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestIsORTFormat(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		want bool
	}{
		{nil, false},
		{[]byte("ORTM"), false},
		{[]byte("\x10\x00\x00\x00ORTM\x00\x00"), true},
		{addModel(t), false},
	} {
		if got := IsORTFormat(tc.b); got != tc.want {
			t.Errorf("IsORTFormat(%q) = %v", tc.b, got)
		}
	}
}
