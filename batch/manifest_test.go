package batch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeManifest writes a manifest and an (empty) model file m.onnx beside
// it, and returns the manifest's path.
func writeManifest(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "m.onnx"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "zoo.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkFlags accepts the flags a test manifest uses, as adapt's parser
// would, and refuses others.
func checkFlags(name, value string) error {
	switch name {
	case "data", "latency-ms", "latency-fraction", "macs", "params", "short-steps", "seed", "input-shape", "distill":
		if name == "short-steps" && strings.Trim(value, "0123456789") != "" {
			return fmt.Errorf("not an integer")
		}
		return nil
	}
	return fmt.Errorf("not a flag of onnx-adapt adapt")
}

// TestParse: jobs are every model × every constraint set (or the model's
// own), in order, with folders under output, and flags layered defaults <
// model < constraint set.
func TestParse(t *testing.T) {
	path := writeManifest(t, `output: out
defaults:
  data: fm
  short-steps: 5
  seed: 1
models:
  - default
  - path: m.onnx
    flags: {short-steps: 7, input-shape: ["a=1,1,8,8", "b=1,2"]}
  - name: small
    path: m.onnx
    constraints:
      - params: 1000
constraints:
  - macs: 100
  - name: fast
    latency-fraction: 0.5
    flags: {seed: 2}
`)
	m, err := Load(path, checkFlags)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	type want struct {
		name, path string
		args       []string
		line       int
	}
	wants := []want{
		{"default/macs-100", "", []string{"--data=" + dir + "/fm", "--short-steps=5", "--seed=1", "--macs=100"}, 15},
		{"default/fast", "", []string{"--data=" + dir + "/fm", "--short-steps=5", "--latency-fraction=0.5", "--seed=2"}, 16},
		{"m/macs-100", dir + "/m.onnx", []string{"--data=" + dir + "/fm", "--seed=1", "--short-steps=7", "--input-shape=a=1,1,8,8", "--input-shape=b=1,2", "--macs=100"}, 15},
		{"m/fast", dir + "/m.onnx", []string{"--data=" + dir + "/fm", "--short-steps=7", "--input-shape=a=1,1,8,8", "--input-shape=b=1,2", "--latency-fraction=0.5", "--seed=2"}, 16},
		{"small/params-1000", dir + "/m.onnx", []string{"--data=" + dir + "/fm", "--short-steps=5", "--seed=1", "--params=1000"}, 13},
	}
	if len(m.Jobs) != len(wants) {
		t.Fatalf("%d jobs, want %d", len(m.Jobs), len(wants))
	}
	for i, w := range wants {
		j := m.Jobs[i]
		if j.Index != i || j.Name != w.name || j.Path != w.path || !slices.Equal(j.Args(), w.args) || j.Line != w.line ||
			j.Dir != filepath.Join(dir, "out", filepath.FromSlash(w.name)) {
			t.Errorf("job %d: %+v\nargs %q\nwant %+v", i, j, j.Args(), w)
		}
	}
}

// TestParseJSON: a JSON manifest is read too (YAML reads JSON), with its
// lines.
func TestParseJSON(t *testing.T) {
	path := writeManifest(t, `{
  "models": ["m.onnx"],
  "constraints": [
    {"macs": 100},
    {"macs": "lots"}
  ]
}`)
	_, err := Load(path, func(name, value string) error {
		if value == "lots" {
			return errors.New("not a number")
		}
		return nil
	})
	var le *LineError
	if !errors.As(err, &le) || le.Line != 5 || !strings.Contains(err.Error(), "macs: not a number") {
		t.Fatalf("error %v, want line 5", err)
	}
}

// TestParseErrors: every kind of mistake is refused with its line.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, text string
		line       int
		want       string
	}{
		{"syntax", "models:\n  - m.onnx\nconstraints:\n  - macs: 1\n   seed: 2\n", 5, "not valid YAML"},
		{"tab", "models:\n\t- m.onnx\n", 2, "not valid YAML"},
		{"empty", "", 1, "empty manifest"},
		{"top-level key", "models: [m.onnx]\nconstraint: [{macs: 1}]\n", 2, `unknown key "constraint"`},
		{"no models", "constraints: [{macs: 1}]\n", 1, "models: give a list"},
		{"missing model file", "models:\n  - path: none.onnx\nconstraints: [{macs: 1}]\n", 2, "model none.onnx: no such file"},
		{"unknown flag", "defaults:\n  short-stepz: 3\nmodels: [m.onnx]\nconstraints: [{macs: 1}]\n", 2, "short-stepz: not a flag"},
		{"bad value", "models: [m.onnx]\nconstraints:\n  - macs: 1\n    flags:\n      short-steps: many\n", 5, "short-steps: not an integer"},
		{"reserved flag", "defaults: {o: x}\nmodels: [m.onnx]\nconstraints: [{macs: 1}]\n", 1, "o is set by batch"},
		{"no target", "models: [m.onnx]\nconstraints:\n  - name: x\n", 3, "needs a target"},
		{"no constraints", "models: [m.onnx]\n", 1, `model "m" has no constraint set`},
		{"duplicate model", "models: [m.onnx, m.onnx]\nconstraints: [{macs: 1}]\n", 1, `model "m" is also on line 1`},
		{"duplicate set", "models: [m.onnx]\nconstraints:\n  - {macs: 1}\n  - {macs: 1}\n", 4, "is also on line 3"},
		{"duplicate key", "models: [m.onnx]\nconstraints:\n  - macs: 1\n    macs: 2\n", 4, `mapping key "macs" already defined`},
		{"bad name", "models:\n  - name: a/b\n    path: m.onnx\nconstraints: [{macs: 1}]\n", 2, `name "a/b"`},
		{"flags not a mapping", "models:\n  - path: m.onnx\n    flags: [1]\nconstraints: [{macs: 1}]\n", 3, "flags must be a mapping"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeManifest(t, tc.text), checkFlags)
			var le *LineError
			if !errors.As(err, &le) || le.Line != tc.line || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant line %d and %q", err, tc.line, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "batch: ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("not one line prefixed batch: %q", err)
			}
		})
	}
}
