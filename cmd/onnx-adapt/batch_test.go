package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// batchManifest writes a manifest of two small zoo models and three MACs
// budgets (three short jobs) and returns its path.
func batchManifest(t *testing.T, table string) string {
	t.Helper()
	dir := t.TempDir()
	v2 := zooModel(t, "mobilenetv2", "--in-channels", "1")
	v1 := zooModel(t, "mobilenetv1", "--in-channels", "1")
	text := fmt.Sprintf(`lut: %s
defaults:
  data: %s
  short-steps: 2
  batch: 16
  held-out: 100
  long-epochs: 0.002
  blocks: 2
  block-ms: 1
  iterations: 2
  tune-top: 2
  max-drop: -1
models:
  - name: v2
    path: %s
    constraints:
      - macs: 650000
      - macs: 560000
  - name: v1
    path: %s
    constraints:
      - macs: 740000
`, table, trainOnly(t), v2, v1)
	path := filepath.Join(dir, "zoo.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// deterministic are the summary columns that do not depend on timing:
// with MACs targets they must be equal however the batch was run.
var deterministic = []string{"job", "status", "iterations", "source_macs", "final_macs", "final_params", "final_bytes", "held_out_top1", "test_top1"}

// summaryRows reads a summary.csv, keeping the deterministic columns.
func summaryRows(t *testing.T, dir string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "summary.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var keep []int
	for i, c := range rows[0] {
		if slices.Contains(deterministic, c) {
			keep = append(keep, i)
		}
	}
	var out [][]string
	for _, r := range rows[1:] {
		var x []string
		for _, i := range keep {
			x = append(x, r[i])
		}
		out = append(out, x)
	}
	return out
}

// modelFiles returns every model file under dir, by relative path.
func modelFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".onnx") {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameModels(t *testing.T, what string, got, want map[string][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d models, want %d", what, len(got), len(want))
	}
	for name, w := range want {
		if !bytes.Equal(got[name], w) {
			t.Errorf("%s: %s differs from the one-process batch's", what, name)
		}
	}
}

// TestBatch: a manifest of 3 jobs runs to completion with a 3-row
// summary; killed with kill -9 part-way and run again, it skips the
// finished jobs and ends with the same summary and models; run as 3
// shards in 3 processes at once, then summarized, it gives the same
// models and summary as one process (every column that does not depend
// on timing).
func TestBatch(t *testing.T) {
	table := filepath.Join(t.TempDir(), "lut.json")
	manifest := batchManifest(t, table)
	one := filepath.Join(t.TempDir(), "one")
	code, stdout, stderr := cli(t, "batch", manifest, "-o", one, "-q")
	if code != exitOK {
		t.Fatalf("batch: exit %d\n%s", code, stderr)
	}
	want := summaryRows(t, one)
	if len(want) != 3 || !strings.Contains(stdout, "3 jobs: 3 met") {
		t.Fatalf("summary %v\n%s", want, stdout)
	}
	for _, f := range []string{"summary.md", "tradeoff.png"} {
		if st, err := os.Stat(filepath.Join(one, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	wantModels := modelFiles(t, one)

	// kill -9 part-way through the second job, then run again.
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	killed := filepath.Join(t.TempDir(), "killed")
	at := rng.IntN(4) // a line of the second job's progress
	second := -1
	hit, _, errOut := runFor(t, child("batch", manifest, "-o", killed), func(line string, n int) bool {
		if strings.Contains(line, "batch: job 2/3") {
			second = n
		}
		return second > 0 && n >= second+at
	}, syscall.SIGKILL, rng)
	if !hit {
		t.Fatalf("the batch ended before the kill:\n%s", errOut)
	}
	code, _, stderr = cli(t, "batch", manifest, "-o", killed)
	if code != exitOK {
		t.Fatalf("batch after kill -9: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "finished before") {
		t.Errorf("the rerun does not say what it skipped:\n%s", stderr)
	}
	if got := summaryRows(t, killed); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("after kill -9 and a rerun the summary is\n%v\nwant\n%v", got, want)
	}
	sameModels(t, "after kill -9", modelFiles(t, killed), wantModels)

	// 3 shards in 3 processes at once, then --summarize.
	sharded := filepath.Join(t.TempDir(), "sharded")
	var procs []*exec.Cmd
	var errs []*bytes.Buffer
	for i := range 3 {
		c := child("batch", manifest, "-o", sharded, "--shard", fmt.Sprintf("%d/3", i), "-q")
		errs = append(errs, &bytes.Buffer{})
		c.Stderr = errs[i]
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, c)
	}
	for i, c := range procs {
		if err := c.Wait(); err != nil {
			t.Fatalf("shard %d: %v\n%s", i, err, errs[i])
		}
	}
	if _, err := os.Stat(filepath.Join(sharded, "summary.csv")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a shard wrote the summary (%v); only --summarize merges them", err)
	}
	code, _, stderr = cli(t, "batch", manifest, "-o", sharded, "--summarize", "-q")
	if code != exitOK {
		t.Fatalf("--summarize: exit %d\n%s", code, stderr)
	}
	if got := summaryRows(t, sharded); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("3 shards give the summary\n%v\nwant\n%v", got, want)
	}
	sameModels(t, "3 shards", modelFiles(t, sharded), wantModels)
}

// TestBatchBadInput: bad input to batch — a malformed manifest, a job
// with bad data, a table from another device, a full disk — exits 1 with
// one line naming the problem (and, for the manifest, its line) and what
// to do, and writes nothing: no job runs and no output folder appears.
func TestBatchBadInput(t *testing.T) {
	model := zooModel(t, "mobilenetv2", "--in-channels", "1")
	five := zooModel(t, "mobilenetv2", "--in-channels", "1", "--classes", "5")
	table := filepath.Join(t.TempDir(), "lut.json")
	write := func(text string) string {
		path := filepath.Join(t.TempDir(), "zoo.yaml")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	manifest := func(lut, path string, extra string) string {
		return write(fmt.Sprintf("lut: %s\ndefaults:\n  data: %s\n  short-steps: 2\n%smodels:\n  - path: %s\nconstraints:\n  - macs: 600000\n  - macs: 500000\n",
			lut, fashionMNIST, extra, path))
	}
	tests := []struct {
		name     string
		manifest string
		disk     bool
		want     []string
	}{
		{"bad flag value", manifest(table, model, "  held-out: lots\n"), false, []string{"zoo.yaml:5: defaults: held-out: invalid value \"lots\""}},
		{"unknown flag", manifest(table, model, "  short-stepz: 2\n"), false, []string{"zoo.yaml:5: defaults: short-stepz: not a flag of onnx-adapt adapt"}},
		{"YAML syntax", write("models:\n  - path: x\nconstraints:\n  - macs: 1\n   seed: 2\n"), false, []string{"zoo.yaml:5: not valid YAML"}},
		{"adapt option", manifest(table, model, "  decay: 2\n"), false, []string{"job mobilenetv2/macs-600000", "zoo.yaml:9", "--decay 2: must be in (0, 1] (manifest line 5)"}},
		{"class count", manifest(table, five, ""), false, []string{"job mobilenetv2/macs-600000", "outputs only 5 classes"}},
		{"foreign table", manifest(foreignTable(t), model, ""), false, []string{"job mobilenetv2/macs-600000", "measured on another set-up", "--lut-foreign"}},
		{"full disk", manifest(table, model, ""), true, []string{"is full", "free some space"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "runs")
			if tc.disk {
				out = filepath.Join(smallDisk(t), "runs")
			}
			checkRefused(t, []string{"batch", tc.manifest, "-o", out, "-q"}, out, tc.want)
		})
	}
}
