package main

import (
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/search"
)

// TestAdaptCLI runs the main job end to end on a small reference net with a
// MACs target, and checks its outputs: the JSON result on stdout, every
// file written loads and runs in onnxruntime, and the target holds; and,
// with --emit-ort, the mobile outputs (checkMobileOutputs).
func TestAdaptCLI(t *testing.T) {
	model := zooModel(t, "mobilenetv2", "--in-channels", "1")
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := cli(t, model, "--macs", "200000", "--data", "/usr/share/datasets/fashion-mnist",
		"-o", out, "--short-steps", "2", "--batch", "16", "--held-out", "200", "--long-epochs", "0",
		"--blocks", "3", "--block-ms", "1", "--lut", filepath.Join(t.TempDir(), "lut.json"), "--json", "-q", "--emit-ort")
	if code != exitOK {
		t.Fatalf("exit %d\nstderr: %s", code, stderr)
	}
	var res search.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("stdout is not the JSON result: %v\n%s", err, stdout)
	}
	if !res.Met || res.Final.MACs > 200000 || len(res.Iterations) == 0 {
		t.Fatalf("result: met %v, MACs %d, %d iterations", res.Met, res.Final.MACs, len(res.Iterations))
	}
	files, _ := filepath.Glob(filepath.Join(out, "*.onnx"))
	if len(files) != len(res.Iterations)+1 {
		t.Errorf("%d ONNX files for %d iterations: %v", len(files), len(res.Iterations), files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := ort.Check(data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	for _, name := range []string{"history.json", "plan.json"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") { // internal/atomicfile's temporary files
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
	checkMobileOutputs(t, model, out, &res)
}

func TestAdaptUsage(t *testing.T) {
	model := zooModel(t, "mobilenetv2")
	for _, tc := range []struct {
		args []string
		want string
	}{
		// search.Options.Validate decides; the message names the flag.
		{[]string{model, "--data", "x", "-o", "o"}, "no constraint: give a latency, MACs or parameter target (--latency-ms, --latency-fraction, --macs, --params)"},
		{[]string{model, "--latency-ms", "1", "--latency-fraction", "0.5", "--data", "x", "-o", "o"}, "not both"},
		{[]string{model, "--latency-fraction", "1.5", "--data", "x", "-o", "o"}, "--latency-fraction 1.5: must be in (0, 1)"},
		{[]string{model, "--macs", "10", "--data", "x"}, "no output folder (-o OUTDIR)"},
		{[]string{model, "--macs", "10", "--decay", "2", "-o", "o"}, "--decay 2: must be in (0, 1]"},
		{[]string{model, "--macs", "10", "--rank", "l3", "-o", "o"}, "--rank l3: is not l2 or l1"},
		{[]string{model, "--macs", "10", "--long-epochs", "-1", "-o", "o"}, "--long-epochs -1: must not be negative"},
		// 0 means "the default" to search, but not on the command line.
		{[]string{model, "--macs", "10", "--round-to", "0", "-o", "o"}, "--round-to 0: must be at least 1"},
		{[]string{"adapt", model, model}, "expected one MODEL"},
	} {
		code, _, stderr := cli(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want usage error with %q", tc.args, code, stderr, tc.want)
		}
		checkUsageMistake(t, stderr)
	}
	// A data set whose classes do not fit the model is an error, not a
	// usage mistake, and leaves no output folder content.
	out := filepath.Join(t.TempDir(), "o")
	code, _, stderr := cli(t, model, "--macs", "10", "--data", filepath.Join(t.TempDir(), "none"), "-o", out)
	if code != exitError || !strings.Contains(stderr, "dataset") {
		t.Errorf("missing data: exit %d, %q", code, stderr)
	}
}

// TestAdaptDataModes runs adapt without labels: on a folder of loose
// images (unlabelled) and with no data at all (data-free, synthesised
// from the model's BatchNormalization statistics). Each completes, and
// history.json and the summary say which mode ran and that held-out
// figures are agreement with the source.
func TestAdaptDataModes(t *testing.T) {
	model := zooModel(t, "mobilenetv2", "--in-channels", "1")
	images := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 40 {
		img := image.NewGray(image.Rect(0, 0, 32, 32))
		for j := range img.Pix {
			img.Pix[j] = uint8(rng.IntN(256))
		}
		f, err := os.Create(filepath.Join(images, fmt.Sprintf("%02d.png", i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	for _, tc := range []struct {
		mode string
		args []string
	}{
		{search.ModeUnlabelled, []string{"--data", images}},
		{search.ModeDataFree, []string{"--synthetic", "32"}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			args := append([]string{model, "--macs", "900000", "-o", out, "--long-epochs", "0", "--iterations", "1",
				"--lut", filepath.Join(t.TempDir(), "lut.json")}, tc.args...)
			code, stdout, stderr := cli(t, args...)
			if code != exitOK {
				t.Fatalf("exit %d\nstderr: %s", code, stderr)
			}
			if !strings.Contains(stdout, "data: "+tc.mode) || !strings.Contains(stdout, "held-out agree") {
				t.Errorf("the summary does not say the mode %q:\n%s", tc.mode, stdout)
			}
			var hist search.Result
			data, err := os.ReadFile(filepath.Join(out, "history.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &hist); err != nil {
				t.Fatal(err)
			}
			if hist.Data.Mode != tc.mode || hist.Data.HeldOutMeasure != "agreement" || !hist.Recon.Refit {
				t.Errorf("history.json: data %+v, recon %+v", hist.Data, hist.Recon)
			}
			if (tc.mode == search.ModeDataFree) != (hist.Data.Synthetic != nil) {
				t.Errorf("history.json: synthetic %+v in mode %s", hist.Data.Synthetic, tc.mode)
			}
		})
	}
}
