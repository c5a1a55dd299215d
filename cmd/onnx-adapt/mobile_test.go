package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/mobile"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/search"
)

// torchExport is a real PyTorch export with a dynamic batch dimension "N"
// (models/testdata/README.md): input "input" N×3×96×96, output "output"
// N×10, opset 13.
var torchExport = filepath.Join("..", "..", "models", "testdata", "torch", "mobilenet_v2_w035.bn.onnx")

// iface is the interface a model shows its users: opset imports, and the
// name, element type and shape (symbolic dimensions by name) of each input
// and output.
func iface(t *testing.T, path string) string {
	t.Helper()
	m, err := onnxio.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "opsets %v", m.OpsetImports())
	for _, side := range [][]*onnxio.Value{m.Graph.Inputs, m.Graph.Outputs} {
		for _, v := range side {
			if v.Const == nil {
				fmt.Fprintf(&b, "; %s %v %v", v.Name, v.Type.Elem, v.Type.Shape)
			}
		}
	}
	return b.String()
}

// runsBatches runs a model file (.onnx or .ort) at batches 1 and 8 and
// checks its input and output names and shapes.
func runsBatches(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ort.NewSession(data, ort.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer s.Close()
	if in, out := s.Inputs(), s.Outputs(); len(in) != 1 || in[0].Name != "input" || len(out) != 1 || out[0].Name != "output" {
		t.Fatalf("%s: inputs %v, outputs %v; want input and output", path, in, out)
	}
	for _, batch := range []int64{1, 8} {
		x, err := ort.RandomInputs(s.Inputs(), batch, batch)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		y, err := s.Run(x)
		if err != nil {
			t.Fatalf("%s at batch %d: %v", path, batch, err)
		}
		if !slices.Equal(y[0].Shape, []int64{batch, 10}) {
			t.Errorf("%s at batch %d: output shape %v", path, batch, y[0].Shape)
		}
	}
}

// TestTorchExportKeepsInterface prunes and fine-tunes a PyTorch export with
// a dynamic batch dimension, writing .ort files along the way: every
// output keeps the source's opset, input and output names and symbolic
// batch, and runs in onnxruntime at batches 1 and 8, in both formats.
func TestTorchExportKeepsInterface(t *testing.T) {
	dir := t.TempDir()
	pruned, tuned := filepath.Join(dir, "pruned.onnx"), filepath.Join(dir, "tuned.onnx")
	code, stdout, stderr := cli(t, "prune", torchExport, "--fraction", "0.3", "--round-to", "8", "-o", pruned, "--emit-ort", "--json")
	if code != exitOK {
		t.Fatalf("prune: exit %d: %s", code, stderr)
	}
	var pj pruneJSON
	if err := json.Unmarshal([]byte(stdout), &pj); err != nil || pj.ORT == nil || pj.ORT.Path != filepath.Join(dir, "pruned.ort") || pj.ORT.Batches != 2 {
		t.Fatalf("prune --json: %v %+v", err, pj.ORT)
	}
	if pj.ParamsOut >= pj.ParamsIn {
		t.Fatalf("prune removed nothing: %d → %d params", pj.ParamsIn, pj.ParamsOut)
	}
	code, stdout, stderr = cli(t, "finetune", pruned, "--data", "/usr/share/datasets/fashion-mnist", "--steps", "2", "--batch", "4",
		"--eval", "none", "-o", tuned, "--emit-ort", "--ort-opt-level", "extended")
	if code != exitOK {
		t.Fatalf("finetune: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "tuned.ort (ORT format") || !strings.Contains(stdout, "optimisation extended") || !strings.Contains(stdout, "on 2 batches") {
		t.Errorf("finetune does not report its .ort file:\n%s", stdout)
	}
	want := iface(t, torchExport)
	for _, p := range []string{pruned, tuned} {
		if got := iface(t, p); got != want {
			t.Errorf("%s: interface\n%s\nsource:\n%s", p, got, want)
		}
		runsBatches(t, p)
		runsBatches(t, mobile.ORTPath(p))
	}
	if !strings.Contains(want, "input float32 [N 3 96 96]") || !strings.Contains(want, "opsets map[:13]") {
		t.Fatalf("the fixture is not what this test expects: %s", want)
	}
}

// checkMobileOutputs checks the mobile outputs of an adapt run with
// --emit-ort into out, from model: a .ort file beside every .onnx, in ORT
// format (WriteORT loaded it and matched it with its .onnx before it was
// put in place); the source's interface (opset, names, symbolic batch) on
// every model, which runs at batches 1 and 8 in both formats; report.md
// and tradeoff.png, which `report` writes again from history.json; and
// `ops` over the folder, which lists exactly the operators of the models'
// nodes.
func checkMobileOutputs(t *testing.T, model, out string, res *search.Result) {
	t.Helper()
	onnxFiles, _ := filepath.Glob(filepath.Join(out, "*.onnx"))
	ortFiles, _ := filepath.Glob(filepath.Join(out, "*.ort"))
	if len(onnxFiles) < 2 || len(ortFiles) != len(onnxFiles) {
		t.Fatalf("%d .onnx and %d .ort files", len(onnxFiles), len(ortFiles))
	}
	for _, f := range onnxFiles {
		data, err := os.ReadFile(mobile.ORTPath(f))
		if err != nil {
			t.Fatal(err)
		}
		if !ort.IsORTFormat(data) {
			t.Errorf("%s: not an ORT-format file", mobile.ORTPath(f))
		}
	}
	// The adapted models keep the source's interface, dynamic batch
	// included.
	for _, f := range onnxFiles {
		if got, want := iface(t, f), iface(t, model); got != want {
			t.Errorf("%s: interface\n%s\nsource:\n%s", f, got, want)
		}
	}
	runsBatches(t, filepath.Join(out, "adapted.onnx"))
	runsBatches(t, filepath.Join(out, "adapted.ort"))
	for _, name := range []string{"report.md", "tradeoff.png"} {
		st, err := os.Stat(filepath.Join(out, name))
		if err != nil || st.Size() == 0 {
			t.Fatalf("%s: %v", name, err)
		}
		if err := os.Remove(filepath.Join(out, name)); err != nil {
			t.Fatal(err)
		}
	}
	if code, stdout, stderr := cli(t, "report", out); code != exitOK || !strings.Contains(stdout, "report.md") {
		t.Fatalf("report: exit %d: %s%s", code, stdout, stderr)
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if rows := strings.Count(string(md), "\n| iter_"); rows != len(res.Iterations) || !strings.Contains(string(md), "adapted.onnx") {
		t.Errorf("report.md has %d iteration rows for %d iterations:\n%s", rows, len(res.Iterations), md)
	}

	// ops over the folder, against the models' node lists.
	want := map[string]bool{}
	for _, f := range onnxFiles {
		m, err := onnxio.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range m.Graph.Nodes {
			want[fmt.Sprintf("ai.onnx;%d;%s", m.Opset(""), n.Op)] = true
		}
	}
	lists := map[string]map[string]bool{}
	for _, format := range []string{"onnx", "ort", "any"} {
		code, stdout, stderr := cli(t, "ops", out, "--format", format, "--json")
		if code != exitOK {
			t.Fatalf("ops --format %s: exit %d: %s", format, code, stderr)
		}
		var oj opsJSON
		if err := json.Unmarshal([]byte(stdout), &oj); err != nil {
			t.Fatal(err)
		}
		lists[format] = map[string]bool{}
		for _, l := range oj.Operators {
			for _, op := range l.Ops {
				lists[format][fmt.Sprintf("%s;%d;%s", l.Domain, l.Opset, op)] = true
			}
		}
		if n := len(oj.Models); n != map[string]int{"onnx": 1, "ort": 1, "any": 2}[format]*len(onnxFiles) {
			t.Errorf("ops --format %s read %d models", format, n)
		}
	}
	if !maps.Equal(lists["onnx"], want) {
		t.Errorf("ops --format onnx: %v\nnodes: %v", slices.Sorted(maps.Keys(lists["onnx"])), slices.Sorted(maps.Keys(want)))
	}
	union := maps.Clone(lists["onnx"])
	maps.Copy(union, lists["ort"])
	if !maps.Equal(lists["any"], union) || !lists["ort"]["com.microsoft;1;FusedConv"] {
		t.Errorf("ops: any %v, onnx ∪ ort %v", slices.Sorted(maps.Keys(lists["any"])), slices.Sorted(maps.Keys(union)))
	}
	// The configuration file itself, in onnxruntime's format.
	cfg := filepath.Join(out, "required_operators.config")
	if code, _, stderr := cli(t, "ops", out, "--format", "ort", "-o", cfg); code != exitOK {
		t.Fatalf("ops -o: %s", stderr)
	}
	f, err := os.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	parsed, err := mobile.ParseConfig(f)
	if err != nil || len(parsed.Lines()) == 0 {
		t.Fatalf("the written configuration does not parse: %v", err)
	}
}

func TestMobileUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ops"}, "at least one MODEL"},
		{[]string{"ops", ".", "--format", "tflite"}, "want any, onnx or ort"},
		{[]string{"report"}, "one OUTDIR"},
		{[]string{"prune", "m.onnx", "-o", "x.onnx", "--fraction", "0.1", "--ort-opt-level", "max"}, "unknown optimization level"},
	} {
		code, _, stderr := cli(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want usage error with %q", tc.args, code, stderr, tc.want)
		}
	}
	if code, _, stderr := cli(t, "report", t.TempDir()); code != exitError || !strings.Contains(stderr, "history.json") {
		t.Errorf("report of a folder without history.json: exit %d, %s", code, stderr)
	}
}
