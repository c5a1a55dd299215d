package search_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/internal/measure"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/lut"
	"github.com/onnx-adapt/onnx-adapt/models"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/search"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

const fashionMNIST = "/usr/share/datasets/fashion-mnist"

// data returns small seeded subsets of Fashion-MNIST: training, held-out
// (carved from training) and test.
func data(t *testing.T, train, held, test int) (dataset.Dataset, dataset.Dataset, dataset.Dataset) {
	t.Helper()
	sp, err := dataset.Open(fashionMNIST)
	if err != nil {
		t.Fatalf("%v (run ./scripts/setup)", err)
	}
	tr, ho, err := dataset.HoldOut(sp.Train, float64(held), 1)
	if err != nil {
		t.Fatal(err)
	}
	first := func(ds dataset.Dataset, n int) dataset.Dataset {
		if n == 0 {
			return nil
		}
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i * (ds.Len() / n)
		}
		sub, err := dataset.Subset(ds, idx)
		if err != nil {
			t.Fatal(err)
		}
		return sub
	}
	return first(tr, train), ho, first(sp.Test, test)
}

func tinyNet(t *testing.T) *onnxio.Model {
	t.Helper()
	m, err := models.MobileNetV2(models.Config{Width: 0.35, Resolution: 32, Classes: 10, InChannels: 1, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func shortTerm() finetune.Config {
	c := finetune.DefaultConfig()
	c.Epochs, c.Steps, c.Batch, c.LR = 0, 4, 32, 0.01
	c.Workers, c.LoaderWorkers = 2, 2
	return c
}

// TestRunMACs adapts a small MobileNetV2 to 60% of its MACs and checks the
// whole contract: iterations meet their budgets, each picks the best
// held-out candidate, every file runs in onnxruntime, the final model
// meets the constraint, and the composed plan replays the adapted
// architecture on the original model.
func TestRunMACs(t *testing.T) {
	if err := ort.Init(); err != nil {
		t.Fatal(err)
	}
	src := tinyNet(t)
	train, held, test := data(t, 512, 200, 200)
	out := t.TempDir()
	srcMACs := macsOf(t, src)
	target := srcMACs * 6 / 10
	// The hooks see every model file once it is in place, and every
	// history as it is written.
	var saved []string
	var histories []int
	timed := 0 // measurements through Options.Timer
	res, err := search.Run(context.Background(), src, search.Options{
		Timer: countingTimer(&timed),
		Saved: func(path string) error {
			if _, err := os.Stat(path); err != nil {
				t.Errorf("Saved(%s) before the file is in place: %v", path, err)
			}
			saved = append(saved, path)
			return nil
		},
		History: func(r *search.Result) error {
			if _, err := os.Stat(filepath.Join(out, "history.json")); err != nil {
				t.Error(err)
			}
			histories = append(histories, len(r.Iterations))
			return nil
		},
		Constraints: search.Constraints{MACs: target},
		Schedule:    search.Schedule{Iterations: 4},
		// The accuracy guard has its own test
		// (TestNeverTakesDestructiveCandidate). Here, on 200 held-out
		// images of an untrained net, its default of at most 2 points (4
		// images) is a coin toss that the last bit of training's rounding
		// decides, and this test is about a run that completes.
		MaxDrop: -1,
		Train:   train, HeldOut: held, Test: test,
		ShortTerm: shortTerm(),
		Eval:      finetune.EvalOptions{Batch: 100, Threads: 1},
		Runtime:   ort.Options{IntraOpThreads: 1},
		Measure:   fastProtocol(),
		OutDir:    out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Met || res.Final.MACs > target {
		t.Fatalf("final MACs %d, target %d, met %v, %d iterations, blocked: %s", res.Final.MACs, target, res.Met, len(res.Iterations), res.Blocked)
	}
	if len(res.Iterations) == 0 {
		t.Fatal("no iteration")
	}
	prev := float64(srcMACs)
	for _, it := range res.Iterations {
		c := it.Candidates[it.Chosen]
		if float64(c.MACs) > it.Budget || it.Budget >= prev {
			t.Errorf("iteration %d: budget %.0f (previous %.0f), chosen MACs %d", it.Index, it.Budget, prev, c.MACs)
		}
		if it.Figures.MACs != c.MACs {
			t.Errorf("iteration %d: chosen candidate priced at %d MACs, the written model has %d", it.Index, c.MACs, it.Figures.MACs)
		}
		for _, o := range it.Candidates {
			if o.Keep > 0 && o.HeldOutTop1 > c.HeldOutTop1 {
				t.Errorf("iteration %d: chose group %d (%.3f) over group %d (%.3f)", it.Index, c.Group, c.HeldOutTop1, o.Group, o.HeldOutTop1)
			}
			if o.Keep > 0 && (o.Keep%8 != 0 || o.Keep >= o.Size) {
				t.Errorf("iteration %d: group %d keeps %d of %d (round-to 8)", it.Index, o.Group, o.Keep, o.Size)
			}
		}
		checkFile(t, it.File)
		// The iteration's held-out accuracy is tune's, of the same weights
		// as the written file; the test set decides nothing and is left
		// for the source and the final model.
		data, err := os.ReadFile(it.File)
		if err != nil {
			t.Fatal(err)
		}
		acc, err := finetune.Evaluate(context.Background(), data, held, finetune.EvalOptions{Batch: 100, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		if it.Figures.HeldOut == nil || *it.Figures.HeldOut != acc {
			t.Errorf("iteration %d: held-out figures %+v, its file evaluates to %+v", it.Index, it.Figures.HeldOut, acc)
		}
		if it.Figures.Test != nil {
			t.Errorf("iteration %d: evaluated on the test set", it.Index)
		}
		prev = float64(it.Figures.MACs)
	}
	if res.Source.Test == nil {
		t.Error("the source was not evaluated on the test set")
	}
	// Every measurement after the source's goes through the timer: each
	// iteration's model, and the final one in three processes, pooled.
	if timed != len(res.Iterations)+3 {
		t.Errorf("the timer timed %d models, want %d (every iteration's, and the final one 3 times)", timed, len(res.Iterations)+3)
	}
	checkFile(t, res.File)
	var files []string
	counts := []int{0} // the history is written before the first iteration, for a resume
	for i, it := range res.Iterations {
		files, counts = append(files, it.File), append(counts, i+1)
	}
	if files, counts = append(files, res.File), append(counts, len(res.Iterations)); !slices.Equal(saved, files) || !slices.Equal(histories, counts) {
		t.Errorf("Saved got %v, want %v; History saw %v iterations, want %v", saved, files, histories, counts)
	}
	if res.Final.Test == nil || res.Final.HeldOut == nil || res.Final.MeasuredMS <= 0 {
		t.Errorf("final figures incomplete: %+v", res.Final)
	}

	// history.json and plan.json are written and parse.
	var hist search.Result
	readJSON(t, filepath.Join(out, "history.json"), &hist)
	if len(hist.Iterations) != len(res.Iterations) || hist.File != res.File {
		t.Errorf("history.json does not match the result")
	}
	checkReplay(t, src, out, res)
}

// checkReplay checks that out/plan.json, the composed plan, gives the
// adapted architecture (every initializer's shape, the MACs) on the
// original model src.
func checkReplay(t *testing.T, src *onnxio.Model, out string, res *search.Result) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(out, "plan.json"))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := surgery.ParsePlan(data)
	if err != nil {
		t.Fatal(err)
	}
	replay := src.Clone()
	if err := surgery.Apply(replay.Graph, plan); err != nil {
		t.Fatal(err)
	}
	adapted, err := onnxio.Load(res.File)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := initShapes(replay), initShapes(adapted); !equalShapes(got, want) {
		t.Errorf("replayed plan gives %v, adapted model has %v", got, want)
	}
	if macsOf(t, replay) != res.Final.MACs {
		t.Errorf("replayed MACs %d, adapted %d", macsOf(t, replay), res.Final.MACs)
	}
}

// latencyOptions are the options of a run on a latency target, with a
// lookup table measured lazily at 1 thread, on train training and held
// held-out images; it skips the test in -short mode.
func latencyOptions(t *testing.T, train, held int) search.Options {
	t.Helper()
	if testing.Short() {
		t.Skip("measures a lookup table")
	}
	tr, ho, _ := data(t, train, held, 0)
	rt := ort.Options{IntraOpThreads: 1}
	h, err := lut.HostHeader(rt, 8)
	if err != nil {
		t.Fatal(err)
	}
	return search.Options{
		Train: tr, HeldOut: ho,
		ShortTerm: shortTerm(),
		Eval:      finetune.EvalOptions{Batch: 100, Threads: 1},
		Table:     lut.New(h, &lut.Measurer{Options: rt}), Runtime: rt,
		Measure: fastProtocol(), CalibrationVariants: 2,
		// The latency tests are about measuring, not the accuracy guard,
		// which on an untrained net's 100 held-out images blocked a run now
		// and then.
		MaxDrop: -1,
		OutDir:  t.TempDir(),
	}
}

// TestRunLatency adapts to a latency target with a lazily measured table:
// every chosen candidate's estimate meets its iteration's budget, and the
// table was calibrated against measurements.
//
// A target below what pruning can reach is refused first, once the table
// is calibrated and before anything is written, with the best reachable
// latency (in ms, and as a fraction of the source for a fractional
// target); a run then aims at 70% of the source's latency, which two
// short iterations do not reach.
func TestRunLatency(t *testing.T) {
	opts := latencyOptions(t, 256, 100)
	opts.Constraints = search.Constraints{LatencyMS: 1e-6}
	opts.Schedule = search.Schedule{First: 0.1, Decay: 0.9}
	opts.MaxIterations = 2
	opts.OutDir = filepath.Join(opts.OutDir, "out")
	_, err := search.Run(context.Background(), tinyNet(t), opts)
	var ue *search.UnreachableError
	if !errors.As(err, &ue) || ue.Resource != search.Latency || !(ue.Best > 0) {
		t.Fatalf("an unreachable target: error %v, want an *UnreachableError with the best reachable latency", err)
	}
	if _, err := os.Stat(opts.OutDir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused run created its output folder (%v)", err)
	}
	opts.Constraints = search.Constraints{LatencyFraction: 1e-6}
	if _, err = search.Run(context.Background(), tinyNet(t), opts); !errors.As(err, &ue) || !ue.Fraction || !(ue.Best > 0 && ue.Best < 1) {
		t.Fatalf("an unreachable fraction: error %v, want an *UnreachableError with the best reachable fraction, below 1", err)
	}
	// 70% of the source's latency is reachable, but not in two iterations
	// of 5% and 4.5%. (Not a multiple of the best reachable figure: that
	// moved 6× between runs, through the calibration line's intercept on a
	// net this small, and reached 0.58 of the source on an idle machine.)
	// On a loaded machine the fixed cost of each of the net's operators
	// grows, and the smallest model is slower against the source (the
	// table priced it at 0.77 and 0.98 of the source with two training
	// threads on the two cores; the refusal is now on the smallest model
	// timed alongside the source, ue.Measured): 70% is then out of reach,
	// and this part cannot run.
	if ue.Best > 0.65 {
		t.Skipf("the smallest model measured %.3f ± %.3f of the source on this (loaded?) machine: 70%% is out of reach", ue.Best, ue.Noise)
	}
	opts.Constraints.LatencyFraction = 0.7
	opts.Schedule = search.Schedule{First: 0.05, Decay: 0.9}
	res, err := search.Run(context.Background(), tinyNet(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Met {
		t.Fatal("an unreachable target was met")
	}
	if len(res.Iterations) != 2 {
		t.Fatalf("%d iterations, want 2", len(res.Iterations))
	}
	for _, it := range res.Iterations {
		c := it.Candidates[it.Chosen]
		if c.EstimatedMS > it.Budget || c.EstimatedMS <= 0 {
			t.Errorf("iteration %d: chosen estimate %.4f ms, budget %.4f", it.Index, c.EstimatedMS, it.Budget)
		}
		if it.Figures.MeasuredMS <= 0 || it.Figures.P10MS > it.Figures.P90MS {
			t.Errorf("iteration %d: measured %+v", it.Index, it.Figures)
		}
	}
	// The calibration: the source, its 2 variants, 2 iterations, the final
	// check, and any confirmation check. (On a loaded machine a wild
	// measurement of an iteration can read it under the target: it is then
	// checked, and the check fails.)
	n := len(res.Checks)
	if len(res.Cal) == 0 || res.Cal[0].Scale <= 0 || len(res.Cal[0].Points) != 5+n {
		t.Errorf("calibration not refitted from measurements: %+v", res.Cal)
	}
	if n == 0 || !res.Checks[n-1].Final || res.Checks[n-1].Passed || res.Checks[n-1].After != 2 {
		t.Fatalf("checks %+v, want the final model's last, failed: the search never met its target", res.Checks)
	}
	for _, c := range res.Checks[:n-1] {
		if c.Final || c.Passed {
			t.Errorf("check %+v passed: the search never met its target", c)
		}
	}
}

// countingTimer times models in this process, as the search does without a
// timer, and counts its calls in *n.
func countingTimer(n *int) measure.Timer {
	return func(models [][]byte, p measure.Protocol) ([]measure.Latency, error) {
		*n++
		return measure.Models(models, p)
	}
}

// TestReachableMeasured: the table's price of the smallest model (every
// group at 8 channels) never refuses a latency target by itself. A target
// nothing reaches is refused on that model timed alongside the source; with
// the table's 8-channel entries a hundred times too slow (as a fresh table
// timed in a slow phase of the host was, beside an overhead entry from a
// fast one), a target the smallest model really meets is not refused.
func TestReachableMeasured(t *testing.T) {
	opts := latencyOptions(t, 256, 100)
	opts.Schedule = search.Schedule{First: 0.05, Decay: 0.9}
	opts.MaxIterations = 1
	net := tinyNet(t)
	opts.Constraints = search.Constraints{LatencyFraction: 1e-6}
	opts.OutDir = filepath.Join(t.TempDir(), "refused")
	_, err := search.Run(context.Background(), net, opts)
	var ue *search.UnreachableError
	if !errors.As(err, &ue) || !ue.Measured || !(ue.Best > 0 && ue.Best < 2) || !(ue.Noise > 0) {
		t.Fatalf("an unreachable fraction: error %v (%+v), want an *UnreachableError measured on the smallest model", err, ue)
	}
	if !strings.Contains(err.Error(), "(measured, ± ") {
		t.Errorf("error %q does not say the best reachable figure was measured", err)
	}
	smallest := ue.Best

	for _, e := range opts.Table.Entries() {
		if e.Op != lut.OpOverhead && (e.Cin <= 8 || e.Cout <= 8) {
			e.MS, e.P10, e.P90 = 100*e.MS, 100*e.P10, 100*e.P90
			if err := opts.Table.Put(e); err != nil {
				t.Fatal(err)
			}
		}
	}
	an, err := surgery.Analyze(net.Graph)
	if err != nil {
		t.Fatal(err)
	}
	small := net.Clone()
	plan := surgery.Plan{RoundTo: 8}
	for _, g := range an.Prunable() {
		if g.Size > 8 {
			plan.Groups = append(plan.Groups, surgery.GroupPlan{Group: g.ID, Drop: g.Size - 8})
		}
	}
	if err := surgery.Apply(small.Graph, plan); err != nil {
		t.Fatal(err)
	}
	a, err := opts.Table.Estimate(small.Graph, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := opts.Table.Estimate(net.Graph, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.RawMS < b.RawMS {
		t.Fatalf("the doctored table prices the smallest model at %.4g ms, below the source's %.4g: the test does not test", a.RawMS, b.RawMS)
	}
	// Above the measured figure by three of its noise figures and 10%,
	// so that a second measurement does not miss it with confidence.
	frac := smallest + 3*ue.Noise + 0.1
	if frac >= 1 {
		t.Skipf("the smallest model measured %.3f ± %.3f of the source on this (loaded?) machine: no reachable target below 1 to try", smallest, ue.Noise)
	}
	opts.Constraints = search.Constraints{LatencyFraction: frac}
	opts.OutDir = filepath.Join(t.TempDir(), "run")
	if _, err := search.Run(context.Background(), net, opts); errors.As(err, &ue) {
		t.Fatalf("target %.3f (the smallest model measured %.3f of the source) refused: %v", frac, smallest, err)
	} else if err != nil {
		t.Fatal(err)
	}
}

// TestConfirmation: a source that already meets its latency target is
// timed once more before the search stops, and the confirmation is
// recorded. Both checks are timed by Options.Timer, three times each and
// pooled, and say so; so are the three measurements of the source with
// its calibration variants, whose spread is the run's noise floor, from
// which the margin follows.
func TestConfirmation(t *testing.T) {
	opts := latencyOptions(t, 64, 100)
	opts.Constraints = search.Constraints{LatencyMS: 1000}
	timed := 0
	opts.Timer = countingTimer(&timed)
	out := opts.OutDir
	res, err := search.Run(context.Background(), tinyNet(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Met || len(res.Iterations) != 0 {
		t.Fatalf("met %v after %d iterations; a 1 s target is met by the source", res.Met, len(res.Iterations))
	}
	if len(res.Checks) != 2 {
		t.Fatalf("checks %+v, want one before stopping and one of the final model", res.Checks)
	}
	if timed != 3+2*3 || !res.Checks[0].FreshProcess || !res.Checks[1].FreshProcess || res.Checks[0].Processes != 3 || res.Checks[1].Processes != 3 {
		t.Errorf("the timer timed %d times: want the source 3 times and the 2 checks 3 times each (%+v)", timed, res.Checks)
	}
	fl := res.NoiseFloor
	if fl == nil || fl.Processes != 3 || fl.Models != opts.CalibrationVariants || fl.DF != 2*opts.CalibrationVariants || !(fl.Upper > fl.SD) {
		t.Fatalf("noise floor %+v, want %d variants' ratios in 3 processes", fl, opts.CalibrationVariants)
	}
	t1 := 1000 / res.Source.MeasuredMS
	want := (1 + 1.6448536/math.Sqrt(3)) * min(max(fl.Upper, 0.01*t1), 0.03*t1) / t1
	if math.Abs(res.Margin-want) > 1e-6 || res.Margin > 0.059 || res.Margin < 0.019 {
		t.Errorf("margin %v, want 1.95 floors at the target (one for the path, 1.645 of a check pooled over 3 processes: %v)", res.Margin, want)
	}
	c := res.Checks[0]
	if c.After != 0 || c.Final || !c.Passed || !c.Verdict.Met() || c.MeasuredMS <= 0 || c.MeasuredMS > c.LimitMS || c.LimitMS != 1000 || c.SourceMS <= 0 {
		t.Errorf("check %+v, want a passed check after 0 iterations against 1000 ms", c)
	}
	f := res.Checks[1]
	if !f.Final || !f.Passed || f.LimitMS != 1000 || f.MeasuredMS != res.Final.MeasuredMS || f.NoiseMS != res.Final.NoiseMS {
		t.Errorf("final check %+v, want a passed check against 1000 ms of the final figures %+v", f, res.Final)
	}
	if res.Verdict == nil || *res.Verdict != f.Verdict {
		t.Errorf("result verdict %+v, want the final check's %+v", res.Verdict, f.Verdict)
	}
	// The final model has the architecture the check before it measured:
	// its verdict pools both measurements.
	if f.Own == nil || f.After != c.After || *f.Own == f.Verdict || !(f.Verdict.Noise < f.Own.Noise && f.Verdict.Noise < c.Verdict.Noise) ||
		f.Verdict.Value < min(f.Own.Value, c.Verdict.Value) || f.Verdict.Value > max(f.Own.Value, c.Verdict.Value) {
		t.Errorf("final verdict %+v (own %+v), want the check %+v pooled with the final model's own measurement", f.Verdict, f.Own, c.Verdict)
	}
	var hist search.Result
	b, err := os.ReadFile(filepath.Join(out, "history.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &hist); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(hist.Checks, res.Checks) {
		t.Errorf("history.json checks %+v, want %+v", hist.Checks, res.Checks)
	}
}

// TestLatencyFraction: a target given as a fraction of the source's
// latency is anchored on the source's measurement, and every check times
// the source again alongside the model and moves the target with it.
func TestLatencyFraction(t *testing.T) {
	const frac = 0.9
	opts := latencyOptions(t, 256, 100)
	opts.Constraints = search.Constraints{LatencyFraction: frac}
	opts.Schedule = search.Schedule{First: 0.1, Decay: 0.9}
	opts.MaxIterations = 3
	res, err := search.Run(context.Background(), tinyNet(t), opts)
	// On a loaded machine (CI runs packages side by side) the tiny net's
	// smallest model, timed alongside the source, can come out above 0.9
	// of it (its operators' fixed costs grow; the table once priced it at
	// 0.993), and the search then refuses 0.9 as out of reach.
	// Reachability has its own test (TestRunLatency); this one is about
	// judging a fraction.
	var ue *search.UnreachableError
	if errors.As(err, &ue) {
		t.Skipf("the smallest model measured %.3f ± %.3f of the source on this (loaded?) machine: %v is out of reach", ue.Best, ue.Noise, frac)
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.Constraints.LatencyFraction != frac {
		t.Errorf("constraints %+v lost the fraction", res.Constraints)
	}
	if len(res.Checks) == 0 || !res.Checks[len(res.Checks)-1].Final {
		t.Fatalf("checks %+v, want a final one", res.Checks)
	}
	for _, c := range res.Checks {
		limit := frac * c.SourceMS
		passed := c.Verdict.Met()
		if c.Final {
			passed = c.Verdict.Value <= frac
		}
		if c.SourceMS <= 0 || math.Abs(c.LimitMS-limit) > 1e-12*limit || c.Verdict.Limit != frac || c.Passed != passed {
			t.Errorf("check %+v: want the limit %v from the source timed alongside, judged on the ratio", c, limit)
		}
	}
	last := res.Checks[len(res.Checks)-1]
	if res.Constraints.LatencyMS != frac*res.Source.MeasuredMS || res.Met != last.Passed {
		t.Errorf("constraints %+v, met %v; the final check %+v should decide", res.Constraints, res.Met, last)
	}
}

func TestOptionsRefused(t *testing.T) {
	src := tinyNet(t)
	for _, o := range []search.Options{
		{}, // no constraint
		{Constraints: search.Constraints{LatencyMS: 5}}, // latency without a table
		{Constraints: search.Constraints{MACs: -1}},
		{Constraints: search.Constraints{MACs: 1}, Schedule: search.Schedule{Decay: 2}},
	} {
		if _, err := search.Run(context.Background(), src, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}

// fastProtocol measures whole models briefly: these tests check the
// search's logic, not latencies.
func fastProtocol() measure.Protocol {
	return measure.Protocol{Blocks: 4, BlockTime: time.Millisecond, MinBlockRuns: 2, Warmup: time.Millisecond}
}

func macsOf(t *testing.T, m *onnxio.Model) int64 {
	t.Helper()
	rep, err := lut.ModelResources(m, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rep.MACs
}

func checkFile(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := ort.Check(data); err != nil {
		t.Errorf("%s: %v", path, err)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func initShapes(m *onnxio.Model) map[string][]int64 {
	out := map[string][]int64{}
	for _, v := range m.Graph.Initializers() {
		out[v.Name] = v.Const.Dims
	}
	return out
}

func equalShapes(a, b map[string][]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestShrinksInfeasibleStep: a first step that no single group can meet
// (half the MACs in one cut) is not forced: the search halves it until at
// least two groups can meet it, and records every rejected step and why.
// macsOptions are the options of a run of the tiny nets to a MACs target,
// on train training and held held-out images, writing into out.
func macsOptions(macs int64, train, held dataset.Dataset, out string) search.Options {
	return search.Options{
		Constraints: search.Constraints{MACs: macs},
		Train:       train, HeldOut: held,
		ShortTerm: shortTerm(),
		Eval:      finetune.EvalOptions{Batch: 100, Threads: 1},
		Runtime:   ort.Options{IntraOpThreads: 1},
		Measure:   fastProtocol(),
		OutDir:    out,
	}
}

func TestShrinksInfeasibleStep(t *testing.T) {
	src := tinyNet(t)
	train, held, _ := data(t, 128, 100, 0)
	srcMACs := macsOf(t, src)
	opts := macsOptions(srcMACs/2, train, held, t.TempDir())
	opts.Schedule, opts.MaxIterations = search.Schedule{First: 0.5}, 1
	res, err := search.Run(context.Background(), src, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Iterations) != 1 {
		t.Fatalf("%d iterations (blocked: %q), want 1", len(res.Iterations), res.Blocked)
	}
	it := res.Iterations[0]
	if len(it.Shrunk) == 0 {
		t.Fatalf("budget %.0f of %d MACs taken without shrinking the step", it.Budget, srcMACs)
	}
	want := 0.5 * float64(srcMACs)
	for k, st := range it.Shrunk {
		if math.Abs(st.Reduction-want) > 1e-6*want || !strings.Contains(st.Rejected, "groups can meet the budget") {
			t.Errorf("rejected step %d: %+v, want reduction %.0f rejected for too few feasible groups", k, st, want)
		}
		n := 0
		for _, c := range st.Candidates {
			if c.Keep > 0 {
				n++
			}
		}
		if n >= 2 {
			t.Errorf("rejected step %d had %d feasible groups", k, n)
		}
		want /= 2
	}
	feasible := 0
	for _, c := range it.Candidates {
		if c.Keep > 0 {
			feasible++
		}
	}
	if feasible < 2 || math.Abs(float64(srcMACs)-it.Budget-want) > 1e-6*want {
		t.Errorf("taken step: budget %.0f (reduction %.0f, want %.0f) with %d feasible groups", it.Budget, float64(srcMACs)-it.Budget, want, feasible)
	}
}

// trainedTinyNet is tinyNet trained briefly on Fashion-MNIST (well above
// chance, so that a candidate can lose accuracy).
func trainedTinyNet(t *testing.T, train dataset.Dataset) *onnxio.Model {
	t.Helper()
	m := tinyNet(t)
	c := shortTerm()
	c.Steps, c.LR = 400, 0.05
	if _, err := finetune.Train(context.Background(), m, train, c); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestNeverTakesDestructiveCandidate: when every candidate is destroyed by
// its short-term fine-tune (a learning rate of 50 on a trained model), the
// search tries smaller steps and pairs of groups, takes none of them, and
// stops with the reason, writing no adapted model.
func TestNeverTakesDestructiveCandidate(t *testing.T) {
	train, held, _ := data(t, 2048, 100, 0)
	src := trainedTinyNet(t, train)
	st := shortTerm()
	st.LR, st.Momentum = 50, 0
	out := t.TempDir()
	srcMACs := macsOf(t, src)
	opts := macsOptions(srcMACs/2, train, held, out)
	opts.Schedule, opts.ShortTerm = search.Schedule{First: 0.005}, st
	res, err := search.Run(context.Background(), src, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Iterations) != 0 || res.Met || res.File != "" || !strings.Contains(res.Blocked, "loses more than") {
		t.Fatalf("%d iterations, met %v, file %q, blocked %q; want a stop with the reason and nothing taken",
			len(res.Iterations), res.Met, res.File, res.Blocked)
	}
	if _, err := os.Stat(filepath.Join(out, "adapted.onnx")); !os.IsNotExist(err) {
		t.Errorf("adapted.onnx written by a blocked search (%v)", err)
	}
	it := res.BlockedAt
	if it == nil || len(it.Shrunk) < 2 {
		t.Fatalf("blocked at %+v, want the rejected steps", it)
	}
	base := 100 * res.Source.HeldOut.Top1
	if base < 40 {
		t.Fatalf("the trained source has %.1f%% held-out top-1: too close to chance to lose accuracy", base)
	}
	pairs := false
	for k, s := range it.Shrunk {
		single := len(s.Candidates) > 0 && s.Candidates[0].Pair == nil
		if k > 0 && single && s.Reduction > it.Shrunk[k-1].Reduction {
			t.Errorf("step %d grew: %v after %v", k, s.Reduction, it.Shrunk[k-1].Reduction)
		}
		for _, c := range s.Candidates {
			if c.Keep == 0 {
				continue
			}
			if c.Rejected == "" || base-100*c.HeldOutTop1 <= it.MaxDrop {
				t.Errorf("step %d: candidate %+v not rejected (source %.2f%%, max drop %.2f)", k, c, base, it.MaxDrop)
			}
			pairs = pairs || c.Pair != nil
		}
	}
	if !pairs {
		t.Error("no pair of groups was tried")
	}
	var hist search.Result
	readJSON(t, filepath.Join(out, "history.json"), &hist)
	if hist.Blocked != res.Blocked || hist.BlockedAt == nil {
		t.Errorf("history.json: blocked %q, want %q with its iteration", hist.Blocked, res.Blocked)
	}
}

// TestTuneTop: with TuneTop, only the TuneTop candidates most accurate as
// cut are fine-tuned, the rest are marked screened out, and the chosen
// one is among the tuned. With 200 held-out images screening is one stage
// on all of them; with 400, every candidate is screened on the first 200
// and only the 2·TuneTop best of those on all 400, ranked on them.
func TestTuneTop(t *testing.T) {
	for _, c := range []struct{ held, k int }{{200, 2}, {400, 1}} {
		t.Run(fmt.Sprint(c.held), func(t *testing.T) { testTuneTop(t, c.held, c.k) })
	}
}

func testTuneTop(t *testing.T, heldN, k int) {
	train, held, _ := data(t, 1024, heldN, 0)
	src := trainedTinyNet(t, train)
	opts := macsOptions(macsOf(t, src)*8/10, train, held, t.TempDir())
	opts.Schedule, opts.MaxIterations, opts.TuneTop = search.Schedule{Iterations: 2}, 2, k
	opts.MaxDrop = -1 // screening is under test, not the accuracy guard
	res, err := search.Run(context.Background(), src, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Iterations) == 0 {
		t.Fatalf("no iteration (blocked: %q)", res.Blocked)
	}
	anyScreened, anyHalf := false, false
	for _, it := range res.Iterations {
		var tuned, screened []search.Candidate
		full := 0 // candidates screened on every screening image
		for _, c := range it.Candidates {
			switch {
			case c.Keep == 0:
				continue
			case strings.HasPrefix(c.Skipped, "screened out"):
				screened = append(screened, c)
			default:
				tuned = append(tuned, c)
			}
			if c.ScreenImages == heldN {
				full++
			}
			anyHalf = anyHalf || c.ScreenImages == heldN/2
		}
		// With at most k feasible candidates there is nothing to screen;
		// else the k most accurate as cut are tuned (ties: the lower loss
		// as cut), ranked on every image where both were screened on them.
		if len(tuned) != min(k, len(tuned)+len(screened)) {
			t.Errorf("iteration %d: %d tuned, %d screened out; want %d tuned", it.Index, len(tuned), len(screened), k)
		}
		if len(screened) > 0 {
			want := len(tuned) + len(screened) // one stage: all
			if heldN >= 400 {
				want = min(2*k, want)
			}
			if full != want {
				t.Errorf("iteration %d: %d candidates screened on all %d images, want %d", it.Index, full, heldN, want)
			}
		}
		for _, c := range tuned {
			if len(screened) > 0 && c.ScreenImages != heldN {
				t.Errorf("iteration %d: tuned a candidate screened on %d of %d images", it.Index, c.ScreenImages, heldN)
			}
			for _, s := range screened {
				if s.ScreenImages != c.ScreenImages {
					continue // screened out on the first half
				}
				if s.ScreenTop1 > c.ScreenTop1 || s.ScreenTop1 == c.ScreenTop1 && s.ScreenLoss < c.ScreenLoss || c.ScreenLoss <= 0 {
					t.Errorf("iteration %d: tuned %.3f (loss %.4f) but screened out %.3f (loss %.4f)",
						it.Index, c.ScreenTop1, c.ScreenLoss, s.ScreenTop1, s.ScreenLoss)
				}
			}
		}
		anyScreened = anyScreened || len(screened) > 0
		if c := it.Candidates[it.Chosen]; c.Skipped != "" || c.HeldOutTop1 == 0 {
			t.Errorf("iteration %d: chose a candidate that was not tuned: %+v", it.Index, c)
		}
	}
	if !anyScreened {
		t.Error("no iteration screened a candidate out")
	}
	if heldN >= 400 && !anyHalf {
		t.Error("no candidate was screened out on the first half of the images")
	}
}

// TestRejectsDestructiveLongTerm: a long-term fine-tune that wrecks the
// model (a learning rate of 50) is not shipped: adapted.onnx is the last
// iteration's model, with its held-out accuracy, and the result says why.
func TestRejectsDestructiveLongTerm(t *testing.T) {
	train, held, _ := data(t, 1024, 200, 0)
	src := trainedTinyNet(t, train)
	lt := shortTerm()
	lt.Steps, lt.LR, lt.Momentum = 20, 50, 0
	out := t.TempDir()
	opts := macsOptions(macsOf(t, src)*9/10, train, held, out)
	opts.Schedule, opts.MaxIterations, opts.LongTerm = search.Schedule{Iterations: 1}, 1, lt
	opts.MaxDrop = 5 // the long-term guard follows the iterations' limit
	res, err := search.Run(context.Background(), src, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Iterations) != 1 {
		t.Fatalf("%d iterations (blocked %q), want 1", len(res.Iterations), res.Blocked)
	}
	last := res.Iterations[0]
	if res.LongTermRejected == "" {
		t.Fatalf("long-term fine-tune at learning rate 50 kept: held-out %.3f after, %.3f before",
			res.Final.HeldOut.Top1, last.Figures.HeldOut.Top1)
	}
	if res.Final.HeldOut.Top1 != last.Figures.HeldOut.Top1 {
		t.Errorf("final held-out %.4f, want the last iteration's %.4f", res.Final.HeldOut.Top1, last.Figures.HeldOut.Top1)
	}
	got, err := os.ReadFile(filepath.Join(out, "adapted.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(last.File)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("adapted.onnx (%d bytes) differs from %s (%d bytes)", len(got), last.File, len(want))
	}
	var hist search.Result
	readJSON(t, filepath.Join(out, "history.json"), &hist)
	if hist.LongTermRejected != res.LongTermRejected {
		t.Errorf("history.json: long_term_rejected %q, want %q", hist.LongTermRejected, res.LongTermRejected)
	}
}

// TestSpread: with Options.Spread, every step also offers candidates that
// share its reduction between the groups that lost the least as cut, in
// that order; each meets the step's budget, cuts every group no deeper
// than that group's single candidate, and is evaluated like the others;
// a chosen spread candidate's plan replays.
func TestSpread(t *testing.T) {
	train, held, _ := data(t, 1024, 200, 0)
	src := trainedTinyNet(t, train)
	opts := macsOptions(macsOf(t, src)*7/10, train, held, t.TempDir())
	opts.Schedule, opts.MaxIterations, opts.TuneTop, opts.Spread = search.Schedule{Iterations: 2}, 2, 2, 4
	opts.MaxDrop = -1 // the candidates are under test, not the accuracy guard
	res, err := search.Run(context.Background(), src, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Iterations) == 0 {
		t.Fatalf("no iteration (blocked: %q)", res.Blocked)
	}
	spreads := 0
	for _, it := range res.Iterations {
		singles := map[int]search.Candidate{}
		var order []search.Candidate // screened singles, least loss as cut first
		for _, c := range it.Candidates {
			if c.Keep > 0 && c.Pair == nil && c.ScreenImages > 0 {
				singles[c.Group] = c
				order = append(order, c)
			}
		}
		slices.SortStableFunc(order, func(a, b search.Candidate) int { return cmp.Compare(a.ScreenLoss, b.ScreenLoss) })
		for _, c := range it.Candidates {
			if c.Pair == nil {
				continue
			}
			spreads++
			if c.HeldOutTop1 == 0 || c.Skipped != "" {
				t.Errorf("iteration %d: spread candidate not evaluated: %+v", it.Index, c)
			}
			if float64(c.MACs) > it.Budget {
				t.Errorf("iteration %d: spread candidate of %d MACs misses the budget %.0f", it.Index, c.MACs, it.Budget)
			}
			if c.Group != order[0].Group {
				t.Errorf("iteration %d: spread starts at group %d, not at group %d, the least loss as cut", it.Index, c.Group, order[0].Group)
			}
			n, rank := 0, 0
			for p := &c; p != nil; p = p.Pair {
				n++
				s, ok := singles[p.Group]
				if !ok {
					t.Fatalf("iteration %d: spread cuts group %d, which had no screened single cut", it.Index, p.Group)
				}
				if p.Keep < s.Keep || p.Keep >= p.Size {
					t.Errorf("iteration %d: spread keeps %d of group %d's %d channels; its single cut keeps %d", it.Index, p.Keep, p.Group, p.Size, s.Keep)
				}
				r := slices.IndexFunc(order, func(o search.Candidate) bool { return o.Group == p.Group })
				if r < rank {
					t.Errorf("iteration %d: spread cuts group %d (rank %d as cut) after a group of rank %d", it.Index, p.Group, r, rank)
				}
				rank = r
			}
			if n < 2 || n > opts.Spread {
				t.Errorf("iteration %d: a spread candidate cuts %d groups (spread %d)", it.Index, n, opts.Spread)
			}
		}
	}
	if spreads == 0 {
		t.Fatal("no spread candidate was offered")
	}
	checkReplay(t, src, opts.OutDir, res)
}
