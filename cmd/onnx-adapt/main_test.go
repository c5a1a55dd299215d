package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cli runs the program in-process and returns its exit code and output.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// zooModel writes a small reference net for the CLI tests.
func zooModel(t *testing.T, name string, extra ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".onnx")
	args := append([]string{"zoo", name, "-o", path, "--resolution", "32", "--classes", "10", "--width", "0.25"}, extra...)
	if code, _, stderr := cli(t, args...); code != exitOK {
		t.Fatalf("zoo %s: exit %d: %s", name, code, stderr)
	}
	return path
}

func TestExitCodes(t *testing.T) {
	model := zooModel(t, "mobilenetv2")
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // substring expected on stdout
		stderr string // substring expected on stderr
	}{
		{"no args", nil, exitUsage, "", "Usage:"},
		{"help", []string{"--help"}, exitOK, "Commands:", ""},
		{"version", []string{"--version"}, exitOK, "onnx-adapt ", ""},
		{"unknown command flag", []string{"--frobnicate"}, exitUsage, "", "unknown command"},
		{"command help", []string{"inspect", "--help"}, exitOK, "Usage:\n  onnx-adapt inspect", ""},
		{"help command", []string{"help", "measure"}, exitOK, "onnx-adapt measure", ""},
		{"missing model", []string{"inspect"}, exitUsage, "", "missing MODEL"},
		{"two models", []string{"inspect", model, model}, exitUsage, "", "expected one MODEL"},
		{"unknown flag", []string{"inspect", model, "--nope"}, exitUsage, "", "unknown flag: --nope"},
		{"bad enum", []string{"measure", model, "--opt-level", "max"}, exitUsage, "", "--opt-level"},
		{"bad input shape", []string{"inspect", model, "--input-shape", "input=1,x"}, exitUsage, "", "--input-shape"},
		{"no such file", []string{"inspect", filepath.Join(t.TempDir(), "none.onnx")}, exitError, "", "no such file"},
		{"not onnx", []string{"inspect", writeFile(t, "junk.onnx", "\x00\x01garbage")}, exitError, "", "onnxio"},
		{"inspect", []string{"inspect", model}, exitOK, "MACs", ""},
		{"measure", []string{"measure", model, "--blocks", "3", "--block-ms", "1"}, exitOK, "median", ""},
		{"measure bad blocks", []string{"measure", model, "--blocks", "0"}, exitUsage, "", "--blocks"},
		{"zoo unknown", []string{"zoo", "alexnet", "-o", filepath.Join(t.TempDir(), "a.onnx")}, exitError, "", "alexnet"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := cli(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			if !strings.Contains(stdout, tc.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdout, stdout)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr)
			}
			if code == exitError && strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
				t.Errorf("error message is not one line:\n%s", stderr)
			}
			if code == exitUsage && len(tc.args) > 0 {
				checkUsageMistake(t, stderr)
			}
			if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine") {
				t.Errorf("panic output:\n%s", stderr)
			}
		})
	}
}

// checkUsageMistake asserts the form of a usage mistake on stderr: one
// line that says what is wrong, and one that says where the help is, not
// the help itself.
func checkUsageMistake(t *testing.T, stderr string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "onnx-adapt") ||
		!strings.HasPrefix(lines[1], "see 'onnx-adapt ") || !strings.HasSuffix(lines[1], " --help'") ||
		strings.Contains(stderr, "Flags:") {
		t.Errorf("a usage mistake is not one line and where the help is:\n%s", stderr)
	}
}

// TestUsageMistakes: the exact two lines of usage mistakes, whichever
// part of the program finds them (the flag parser, the command, search's
// option check), and --help still prints the whole help.
func TestUsageMistakes(t *testing.T) {
	model := zooModel(t, "mobilenetv1")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--frobnicate"}, "onnx-adapt: unknown command \"--frobnicate\"\nsee 'onnx-adapt --help'\n"},
		{[]string{"inspect"}, "onnx-adapt inspect: missing MODEL\nsee 'onnx-adapt inspect --help'\n"},
		{[]string{"measure", model, "--blocks", "x"}, "onnx-adapt measure: invalid argument \"x\" for \"--blocks\" flag: must be an integer\nsee 'onnx-adapt measure --help'\n"},
		{[]string{"prune", model, "-o", "x.onnx"}, "onnx-adapt prune: give exactly one of --plan, --group or --fraction\nsee 'onnx-adapt prune --help'\n"},
		{[]string{"finetune", model, "-o", "x.onnx", "--batch", "0"}, "onnx-adapt finetune: --batch 0: must be at least 1\nsee 'onnx-adapt finetune --help'\n"},
		{[]string{model, "--macs", "10", "--margin", "0.7", "-o", "o"}, "onnx-adapt adapt: --margin 0.7: must be in [0, 0.5)\nsee 'onnx-adapt adapt --help'\n"},
		{[]string{model, "--macs", "10", "--data", "/usr/share/datasets/fashion-mnist", "-o", "o", "--augment", "spin"},
			"onnx-adapt adapt: --augment: dataset: augment spec \"spin\": unknown item \"spin\" (want rrc, rrc=MIN,MAX, ratio=MIN,MAX, pad=N or flip)\nsee 'onnx-adapt adapt --help'\n"},
	}
	for _, tc := range tests {
		code, stdout, stderr := cli(t, tc.args...)
		if code != exitUsage || stderr != tc.want || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr\n%s\nwant exit 2 and\n%s", tc.args, code, stdout, stderr, tc.want)
		}
	}
	for _, args := range [][]string{{"adapt", "--help"}, {"prune", "-h"}, {"help", "finetune"}} {
		code, stdout, _ := cli(t, args...)
		if code != exitOK || !strings.Contains(stdout, "Usage:") || !strings.Contains(stdout, "Flags:") || !strings.Contains(stdout, "--json") {
			t.Errorf("%v: exit %d, want 0 and the whole help:\n%s", args, code, stdout)
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestJSONOutput(t *testing.T) {
	model := zooModel(t, "mobilenetv1")
	code, stdout, stderr := cli(t, "inspect", model, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var ins struct {
		Opset int64 `json:"opset"`
		Cost  struct {
			MACs   int64 `json:"macs"`
			Params int64 `json:"params"`
			Layers []struct {
				Op string `json:"op"`
			} `json:"layers"`
		} `json:"cost"`
	}
	if err := json.Unmarshal([]byte(stdout), &ins); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, stdout)
	}
	if ins.Opset != 17 || ins.Cost.MACs <= 0 || ins.Cost.Params <= 0 || len(ins.Cost.Layers) == 0 {
		t.Fatalf("inspect --json: %+v", ins)
	}
	code, stdout, stderr = cli(t, "measure", model, "--json", "--blocks", "5", "--block-ms", "1")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var meas measureJSON
	if err := json.Unmarshal([]byte(stdout), &meas); err != nil {
		t.Fatalf("measure --json: %v\n%s", err, stdout)
	}
	l := meas.Latency
	if len(l.BlocksMS) != 5 || l.Runs != 5*l.BlockRuns || l.NoiseMS < 0 || !(l.MS > 0) || meas.Protocol.Blocks != 5 || meas.Runtime != "1.24.1" {
		t.Fatalf("measure --json: %+v", meas)
	}
}

// TestDynamicSpatialInput: a model whose spatial dims are symbolic is
// refused with a message naming the input and the fix, and accepted with
// --input-shape.
func TestDynamicSpatialInput(t *testing.T) {
	model := zooModel(t, "mobilenetv2")
	code, _, stderr := cli(t, "inspect", model, "--input-shape", "input=1,3,0,32")
	if code != exitUsage {
		t.Fatalf("zero dim accepted: %d %s", code, stderr)
	}
	code, stdout, stderr := cli(t, "inspect", model, "--input-shape", "input=1,3,64,64", "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, `"shape": "[1 3 64 64]"`) {
		t.Errorf("input shape not applied:\n%s", stdout[:min(len(stdout), 400)])
	}
	code, _, stderr = cli(t, "inspect", model, "--input-shape", "nosuch=1,3,64,64")
	if code != exitUsage || !strings.Contains(stderr, "nosuch") {
		t.Fatalf("unknown input accepted: %d %s", code, stderr)
	}
}
