package main

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/lut"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

const fashionMNIST = "/usr/share/datasets/fashion-mnist"

// frozenModel writes a model whose only channel group is frozen: one Conv
// whose filters are the classes of the graph's output (Conv → global
// average pool → Flatten), so no channel of it may go.
func frozenModel(t *testing.T) string {
	t.Helper()
	m := onnxio.NewModel(13)
	g := m.Graph
	x := g.AddInput("input", onnxio.Type{Elem: onnxio.Float, Shape: onnxio.ShapeOf(1, 1, 32, 32), HasShape: true})
	rng := rand.New(rand.NewPCG(1, 2))
	w := make([]float32, 10*1*3*3)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	wt, err := onnxio.NewFloat32Tensor([]int64{10, 1, 3, 3}, w)
	if err != nil {
		t.Fatal(err)
	}
	conv := g.AddNode("Conv", "conv", []*onnxio.Value{x, g.AddInitializer("w", wt)}, []string{"c"},
		onnxio.AttrInts("kernel_shape", []int64{3, 3}), onnxio.AttrInts("pads", []int64{1, 1, 1, 1}))
	gap := g.AddNode("GlobalAveragePool", "gap", []*onnxio.Value{conv.Output(0)}, []string{"p"})
	flat := g.AddNode("Flatten", "flat", []*onnxio.Value{gap.Output(0)}, []string{"logits"}, onnxio.AttrInt("axis", 1))
	g.Outputs = append(g.Outputs, flat.Output(0))
	if err := g.InferShapes(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "frozen.onnx")
	if err := onnxio.Save(path, m, onnxio.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	return path
}

// foreignTable writes a table measured, by its header, on another device.
func foreignTable(t *testing.T) string {
	t.Helper()
	h, err := lut.HostHeader(ort.Options{IntraOpThreads: 1}, lut.DefaultStep)
	if err != nil {
		t.Fatal(err)
	}
	h.CPU = "Some Phone SoC"
	path := filepath.Join(t.TempDir(), "phone.json")
	if err := lut.New(h, nil).Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// smallDisk mounts a 512 KiB tmpfs for the test, or skips it, saying so,
// where it cannot (not root, or no mount permission in this container).
func smallDisk(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		t.Skip("SKIP full disk: mounting a small tmpfs needs root")
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("SKIP full disk: cannot mount a small tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	return dir
}

// TestAdaptBadInput: every kind of bad input exits 1 with a one-line
// message that names the problem and what to do, and writes nothing: the
// output folder does not exist afterwards.
func TestAdaptBadInput(t *testing.T) {
	model := zooModel(t, "mobilenetv2", "--in-channels", "1")
	fiveClasses := zooModel(t, "mobilenetv2", "--in-channels", "1", "--classes", "5")
	empty := writeFile(t, "empty.txt", "")
	table := filepath.Join(t.TempDir(), "lut.json")
	run := func(model string, extra ...string) []string {
		return append([]string{model, "--data", fashionMNIST, "--macs", "400000", "--short-steps", "2", "--batch", "16",
			"--held-out", "100", "--lut", table, "-q"}, extra...)
	}
	tests := []struct {
		name string
		args []string
		out  string // the output folder ("" for a fresh one)
		want []string
	}{
		{"empty data set", run(model, "--data", empty), "", []string{"no samples", "give --data"}},
		{"class count", run(fiveClasses), "", []string{"labels up to 9", "outputs only 5 classes", "give the data set the model was trained on"}},
		{"every group frozen", run(frozenModel(t)), "", []string{"every channel group of the model is frozen", "group 0 (conv):", "onnx-adapt groups"}},
		{"unreachable MACs", run(model, "--macs", "1000"), "", []string{"MACs target 1.0k is below what pruning can reach", "give a target of at least"}},
		{"foreign table", run(model, "--lut", foreignTable(t)), "", []string{"measured on another set-up", "cpu: table Some Phone SoC", "--lut-foreign"}},
		{"full disk", nil, "disk", []string{"is full", "free some space or give -o on another disk"}},
		// Without labels: no data-free mode for a model without
		// BatchNormalization statistics; an image folder without images;
		// and no class check (a foreign table is what stops this one, after
		// the data).
		{"data-free without statistics", []string{zooModel(t, "mobilenetv2", "--bn-folded"), "--macs", "400000", "--lut", table, "-q"}, "",
			[]string{"no --data, and the model has no BatchNormalization statistics", "give --data with a few hundred images"}},
		{"empty image folder", run(model, "--data", t.TempDir()), "", []string{"give --data"}},
		{"unlabelled: no class check", run(fiveClasses, "--unlabelled", "--lut", foreignTable(t)), "", []string{"measured on another set-up"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			if tc.out == "disk" {
				out = filepath.Join(smallDisk(t), "out")
				tc.args = run(model)
			}
			checkRefused(t, append(tc.args, "-o", out), out, tc.want)
		})
	}
}

// checkRefused runs the command with args and checks that it refuses bad
// input: exit code 1, one line on stderr holding every string of want,
// nothing on stdout, and no output folder out.
func checkRefused(t *testing.T, args []string, out string, want []string) {
	t.Helper()
	code, stdout, stderr := cli(t, args...)
	if code != exitError {
		t.Fatalf("exit %d, want 1\nstderr: %s", code, stderr)
	}
	if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 0 || stdout != "" {
		t.Errorf("not one line on stderr and nothing on stdout:\nstdout %q\nstderr %s", stdout, stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("message lacks %q:\n%s", w, stderr)
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the output folder was created (%v)", err)
	}
}
