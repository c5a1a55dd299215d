package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onnx-adapt/onnx-adapt/internal/cost"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/search"
	"github.com/onnx-adapt/onnx-adapt/synth"
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
		"--blocks", "3", "--block-ms", "1", "--lut", filepath.Join(t.TempDir(), "lut.json"), "--json", "-q", "--emit-ort",
		// An untrained net: its held-out top-1 is chance, and a 2-point
		// guard on 200 images stopped the run in CI now and then.
		"--max-drop", "-1")
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

// TestAdaptDataFreeUsageFirst: in the data-free mode, a usage mistake
// that shows only once the training defaults follow the model's cost is
// reported before any image is synthesised. On a 224×224 model the cost
// leaves no short-term steps, so --refit=false leaves nothing to repair a
// cut; it took minutes of synthesis to say so.
func TestAdaptDataFreeUsageFirst(t *testing.T) {
	costly := zooModel(t, "mobilenetv2", "--in-channels", "1", "--resolution", "224", "--width", "1")
	out := filepath.Join(t.TempDir(), "out")
	start := time.Now()
	code, _, stderr := cli(t, costly, "--macs", "200000000", "--refit=false", "-o", out,
		"--lut", filepath.Join(t.TempDir(), "lut.json"))
	if code != exitUsage || !strings.Contains(stderr, "--short-steps 0") {
		t.Fatalf("exit %d, stderr %q; want the usage error for --short-steps 0", code, stderr)
	}
	checkUsageMistake(t, stderr) // two lines: nothing about synthesising
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("the output folder exists after a usage mistake: %v", err)
	}
	t.Logf("refused in %v", time.Since(start).Round(time.Millisecond))
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
			if sy := hist.Data.Synthetic; sy != nil && (sy.ClassWeight != synth.DefaultClassWeight || !(sy.ClassLoss > 0) || sy.Hits <= 0) {
				t.Errorf("history.json: synthetic images %+v, want the default class term (weight %g) with its cross-entropy and hits", sy, synth.DefaultClassWeight)
			}
		})
	}
}

// resolved are the options adapt resolves from its flags and the data
// that depend on the defaults of the fine-tuning flags.
type resolved struct {
	HeldOut, Steps, Batch, TuneTop       int
	ShortLR, LongLR, LongEpochs, MaxDrop float64
	FreezeBN, ShortDistill, LongDistill  bool
	Augment, Refit, ReconRank            bool
	Mode                                 string
}

func resolvedOf(o search.Options) resolved {
	return resolved{HeldOut: o.HeldOut.Len(), Steps: o.ShortTerm.Steps, Batch: o.ShortTerm.Batch, TuneTop: o.TuneTop,
		ShortLR: o.ShortTerm.LR, LongLR: o.LongTerm.LR, LongEpochs: o.LongTerm.Epochs, MaxDrop: o.MaxDrop,
		FreezeBN: o.ShortTerm.FreezeBN, ShortDistill: o.ShortTerm.Teacher != nil, LongDistill: o.LongTerm.Teacher != nil,
		Augment: o.ShortTerm.Augment != nil, Refit: o.Recon.Refit, ReconRank: o.Recon.Rank, Mode: o.Data.Mode}
}

// TestAdaptDefaults checks the options adapt resolves, without running
// the search. Labelled data on a small model keeps the fixed defaults
// that adapt had before the data modes, but for the 5 best candidates
// as cut (the quickstart's: 2000 held-out
// images, 20 short-term steps of 64 at 0.005 for the 2 best candidates as
// cut, one long-term epoch at 0.01 (others: three), distillation only with
// --distill and only in the long-term fine-tuning, no refit); without
// labels, or on a model above
// search.CostlyMACs, flags not given follow the model's cost and the data.
func TestAdaptDefaults(t *testing.T) {
	if err := ort.Init(); err != nil {
		t.Fatal(err)
	}
	small := zooModel(t, "mobilenetv2", "--in-channels", "1")
	costly := zooModel(t, "mobilenetv2", "--in-channels", "1", "--resolution", "224", "--width", "1")
	costlyMACs := modelMACs(t, costly)
	if costlyMACs <= search.CostlyMACs {
		t.Fatalf("the 224×224 model has %d MACs, not above search.CostlyMACs", costlyMACs)
	}
	fixed := resolved{HeldOut: 6000, Steps: 100, Batch: 64, TuneTop: 5, ShortLR: 0.005, LongLR: 0.01, LongEpochs: 6, Mode: search.ModeLabelled}
	quickstart := fixed
	quickstart.HeldOut, quickstart.Steps, quickstart.LongEpochs, quickstart.TuneTop = 2000, 20, 1, 2
	distill, rank := fixed, fixed
	distill.LongDistill = true
	rank.Refit, rank.ReconRank = true, true
	for _, tc := range []struct {
		name string
		args []string
		want resolved
	}{
		{"quickstart", nil, quickstart},
		{"labelled", []string{small, "--data", fashionMNIST}, fixed},
		{"labelled --distill", []string{small, "--data", fashionMNIST, "--distill"}, distill},
		{"labelled --rank recon", []string{small, "--data", fashionMNIST, "--rank", "recon"}, rank},
		// 600 images, 120 held out (a fifth); 480 images give 7 steps of
		// 64 and 60 epochs (the most), not the quickstart's lengths; as in
		// the quickstart, 2 candidates are tuned per step.
		{"unlabelled", []string{"--unlabelled", "--images", "600"}, resolved{HeldOut: 120, Steps: 7, Batch: 64, TuneTop: 2,
			ShortLR: 0.005, LongLR: 0.01, LongEpochs: 60, MaxDrop: 5, ShortDistill: true, LongDistill: true,
			Augment: true, Refit: true, Mode: search.ModeUnlabelled}},
		// Labelled, but too costly for 100 steps of 64: no short-term
		// steps (the refit stands alone), batches of 8 with frozen
		// BatchNormalization and the costly models' learning rates
		// scaled to them (the small models' 0.005/8 and 0.01/8 wreck a
		// pretrained 224×224 network: see search.CostlyLongLR).
		{"labelled, costly", []string{costly, "--data", fashionMNIST}, resolved{HeldOut: search.HeldOutSize(60000, costlyMACs),
			Steps: 0, Batch: 8, TuneTop: 5, ShortLR: 1e-4 / 8, LongLR: 2e-4 / 8, LongEpochs: 1, FreezeBN: true, Refit: true, Mode: search.ModeLabelled}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--macs", "400000", "--lut", filepath.Join(t.TempDir(), "lut.json"),
				"-o", filepath.Join(t.TempDir(), "out")}, tc.args...)
			if tc.want.Steps == 0 {
				args[1] = "200000000" // within the costly model's reach
			}
			e := &env{ctx: context.Background(), stdout: io.Discard, stderr: io.Discard, quiet: true, log: slog.New(slog.DiscardHandler)}
			c := &adaptCmd{}
			fs := newFlagSet(c, e)
			if err := fs.Parse(args); err != nil {
				t.Fatal(err)
			}
			job, err := c.prepare(e, fs.Args())
			if err != nil {
				t.Fatal(err)
			}
			if got := resolvedOf(job.opts); got != tc.want {
				t.Errorf("resolved\n%+v, want\n%+v", got, tc.want)
			}
		})
	}
}

// modelMACs is the multiply-accumulates of the model at path.
func modelMACs(t *testing.T, path string) int64 {
	t.Helper()
	m, err := onnxio.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Graph.InferShapes(); err != nil {
		t.Fatal(err)
	}
	rep, err := cost.Analyze(m.Graph)
	if err != nil {
		t.Fatal(err)
	}
	return rep.MACs
}
