package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/pflag"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/cost"
	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/internal/measure"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/lut"
	"github.com/onnx-adapt/onnx-adapt/models/pretrained"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/report"
	"github.com/onnx-adapt/onnx-adapt/search"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

// adaptCmd is the NetAdapt job: onnx-adapt MODEL --latency-ms MS --data D -o OUT.
type adaptCmd struct {
	fs     *pflag.FlagSet
	model  modelFlags
	data   dataFlags
	learn  adaptDataFlags
	lut    lutFlags
	timing measureFlags
	table  string
	out    string

	latencyMS   float64
	latencyFrac float64
	macs        int64
	params      int64

	schedule search.Schedule
	maxIter  int
	roundTo  int
	rank     string

	heldOut    float64
	shortSteps int
	shortLR    float64
	longEpochs float64
	longLR     float64
	train      trainFlags
	maxDrop    float64
	tuneTop    int
	spread     int
	margin     float64
	ort        ortFlags
	force      bool
	// inBatch: a batch job, which names its model itself.
	inBatch bool
	// embedded: no MODEL, the embedded default model and its data.
	embedded bool
}

func (*adaptCmd) name() string { return "adapt" }
func (*adaptCmd) usage() string {
	return "[adapt] MODEL (--latency-ms MS | --latency-fraction F | --macs N | --params N) [--data D] -o OUTDIR [flags]\n" +
		"  onnx-adapt adapt            (no MODEL: the embedded default model on Fashion-MNIST, to 60% of its latency)"
}
func (*adaptCmd) summary() string {
	return "adapt a model to a latency budget with NetAdapt (the main job)"
}

func (c *adaptCmd) flags(fs *pflag.FlagSet) {
	c.fs = fs
	c.model.register(fs)
	c.data.register(fs)
	c.learn.register(fs)
	c.lut.register(fs)
	fs.StringVarP(&c.out, "output", "o", "", "output folder: iter_NNN.onnx per iteration, adapted.onnx, history.json, plan.json, report.md, tradeoff.png")
	fs.Float64Var(&c.latencyMS, "latency-ms", 0, "target onnxruntime latency in ms (batch 1, median, measured)")
	fs.Float64Var(&c.latencyFrac, "latency-fraction", 0, "target latency as a fraction of the source model's measured latency")
	fs.Int64Var(&c.macs, "macs", 0, "maximum multiply-accumulates")
	fs.Int64Var(&c.params, "params", 0, "maximum Conv/Gemm parameters")
	fs.StringVar(&c.table, "lut", "", "latency lookup table to use and extend (default: one per set-up in the user cache folder)")
	fs.Float64Var(&c.schedule.First, "reduction", 0, "first iteration's reduction as a fraction of the source's resource (0: spread the gap over --iterations)")
	fs.Float64Var(&c.schedule.Decay, "decay", search.DefaultDecay, "each iteration's reduction is the previous one times this")
	fs.IntVar(&c.schedule.Iterations, "iterations", search.DefaultIterations, "iterations the schedule aims to reach the target in")
	fs.IntVar(&c.maxIter, "max-iterations", 100, "stop after this many iterations")
	fs.IntVar(&c.roundTo, "round-to", search.DefaultRoundTo, "keep channel counts at multiples of this")
	fs.StringVar(&c.rank, "rank", "l2", "filter ranking: l2 or l1 norm, or recon (the least reconstruction error after the refit)")
	// The defaults of the fine-tuning flags are fixed for labelled data on
	// a model of at most search.CostlyMACs; without labels, or above that
	// cost, flags not given follow the model's cost and the data
	// (trainingDefaults): the "cost-following" parts of their help.
	fs.Float64Var(&c.heldOut, "held-out", 0.1, "held-out part of the training data for choosing candidates (count, or fraction below 1; cost-following: a fifth, at most 2000 and 3e10 MACs of inference)")
	fs.IntVar(&c.shortSteps, "short-steps", 100, "short-term fine-tuning steps per candidate (cost-following: about 5e9 MACs of training, none for a costly model; see search.ShortTermBudget)")
	fs.Float64Var(&c.shortLR, "short-lr", defaultShortLR, "short-term fine-tuning learning rate (cost-following: this times batch/64, or 0.0001 times batch/64 above 30M MACs)")
	fs.Float64Var(&c.longEpochs, "long-epochs", defaultLongEpochs, "long-term fine-tuning epochs of the final model (0: none; cost-following: 500 steps, at most 1e12 MACs, 1 to 60 epochs)")
	fs.Float64Var(&c.longLR, "long-lr", defaultLongLR, "long-term fine-tuning learning rate, cosine schedule (cost-following: this times batch/64, or 0.0002 times batch/64 above 30M MACs)")
	c.train.register(fs)
	fs.Lookup("batch").Usage = "fine-tuning batch size (cost-following: the short-term budget's, 8 to 64)"
	fs.Lookup("freeze-bn").Usage = "keep BatchNormalization statistics fixed (cost-following: for batches under 32)"
	fs.Lookup("distill").Usage = "distil from the source model, run in onnxruntime: the long-term fine-tuning (cost-following: the short-term one too; on for unlabelled data, alone, and for fewer than 100 labelled images per class)"
	fs.Lookup("augment").Usage = "train-time augmentation: none, or items joined by ':' among rrc, rrc=MIN,MAX, ratio=MIN,MAX, pad=N, flip (cost-following and distilling: flip, with pad=H/16 below 96 pixels and rrc=0.35,1 from 96)"
	fs.Lookup("seed").Usage = "seed of the data order, augmentation, dropout, held-out split and synthetic images"
	c.timing.register(fs)
	fs.Float64Var(&c.margin, "margin", 0, "aim this fraction below the latency target, against measurement noise (0: 1.95 times the noise floor measured at the start, 5.9% at most)")
	fs.IntVar(&c.spread, "spread", 1, "also try spreading each step over the 2, 4, … up to K groups that lose the least as cut (1: one group per step, as the paper; cost-following: 8 when candidates get no short-term fine-tuning)")
	fs.IntVar(&c.tuneTop, "tune-top", defaultTuneTop, "short-term fine-tune only the K candidates of a step that lose the least held-out accuracy as cut (0: every candidate, as the paper)")
	fs.Float64Var(&c.maxDrop, "max-drop", 0, "most held-out top-1 points a chosen candidate may lose against the current model (0: 3 standard errors of the held-out accuracy, within [1, 2], or 5 points of agreement for unlabelled data; negative: no limit)")
	fs.BoolVar(&c.force, "force", false, "start over in an output folder that holds another run (another model or settings), removing its models and history")
	c.ort.register(fs)
}

// defaultLongEpochs is --long-epochs' fixed default (labelled data on a
// model of at most search.CostlyMACs). NetAdapt's long-term fine-tune is
// where the accuracy the iterations lost comes back, and it keeps coming
// back well past three epochs. A Fashion-MNIST MobileNetV2 exported from
// PyTorch, adapted to 47% of its latency (held-out top-1 92.2% → 87.6%
// over 21 iterations), came to a test top-1 of 88.80% after one epoch at
// 0.01 and 90.02% after three (its source: 90.21%). The same network
// trained better (90.74%) and adapted to 45% (held-out 92.9% → 86.4% over
// 27 iterations) came to 89.82% after three epochs and 90.62% after six
// (labels alone; distilled from the source, 89.82% and 90.56%): six
// epochs cost its run about five minutes more (BENCHMARKS.md).
const defaultLongEpochs = 6

// defaultTuneTop is --tune-top's default. Fine-tuning every feasible
// candidate, as the paper does, makes an iteration of a MobileNetV2 with
// some 25 groups cost 25 short-term fine-tunes; the candidates that lose
// the most as cut rarely win after a short fine-tune, so only the five
// best as cut are fine-tuned (search.Options.TuneTop). A Fashion-MNIST
// MobileNetV2 exported from PyTorch (10.7M MACs at 96×96, 100 steps of 64
// per candidate) took about ten minutes per iteration with every
// candidate fine-tuned (BENCHMARKS.md).
const defaultTuneTop = 5

// defaultDataset is where Debian's dataset-fashion-mnist installs the data
// of the embedded default model.
const defaultDataset = "/usr/share/datasets/fashion-mnist"

func (c *adaptCmd) run(e *env, args []string) error {
	job, err := c.prepare(e, args)
	if err != nil {
		return err
	}
	return job.execute(e)
}

// adaptJob is an adaptation that prepare has checked and set up, and that
// has written nothing yet.
type adaptJob struct {
	c         *adaptCmd
	m         *onnxio.Model
	source    string
	opts      search.Options
	tablePath string
	pre       *dataset.Preprocess
	// held is what held-out figures measure: top-1, or agreement with
	// the source.
	held string
	// prev is the run the output folder holds, which execute continues
	// (or, finished, reports).
	prev *search.Result
}

// prepare loads and checks everything an adaptation needs — flags, model,
// data, target, table, output folder and its free space — and writes
// nothing: bad input is refused here, before the output folder exists.
func (c *adaptCmd) prepare(e *env, args []string) (*adaptJob, error) {
	var m *onnxio.Model
	var lineage surgery.Lineage
	var err error
	var source string
	switch len(args) {
	case 0:
		// The embedded default: a small pretrained model and its data.
		if m, err = pretrained.Load(); err != nil {
			return nil, err
		}
		source = pretrained.Name
		c.embedded = true
		if lineage, err = sourceLineage(m, pretrained.Bytes(), pretrained.Name); err != nil {
			return nil, err
		}
		if c.data.data == "" {
			c.data.data = defaultDataset
		}
		if c.latencyMS == 0 && c.latencyFrac == 0 && c.macs == 0 && c.params == 0 {
			c.latencyFrac = 0.6
		}
		if c.out == "" {
			c.out = "out"
		}
		// A schedule sized for a demonstration that runs in minutes; flags
		// given on the command line win. Of a step's candidates, only the 2
		// that keep the most held-out accuracy as cut are fine-tuned (over
		// three runs the third best as cut won 4 of 34 steps, three of them
		// by at most 3 of 2000 held-out images, and it cost a fifth of
		// every iteration: BENCHMARKS.md), and (with its labels:
		// embeddedFineTuning) the long-term fine-tune takes one epoch: the
		// quickstart stays within 5 minutes with a busy core.
		for _, f := range [][2]string{{"iterations", "5"}, {"tune-top", "2"}} {
			if !c.fs.Changed(f[0]) {
				if err := c.fs.Set(f[0], f[1]); err != nil {
					return nil, err
				}
			}
		}
		if !e.quiet && !c.inBatch {
			fmt.Fprintf(e.stderr, "onnx-adapt: no MODEL given: adapting the embedded %s on %s to %s into %s/\n",
				source, c.data.data, c.targetString(), c.out)
		}
	case 1:
		source = args[0]
		if m, lineage, err = c.model.loadWithLineage(source); err != nil {
			return nil, err
		}
	default:
		return nil, usagef("expected one MODEL, got %d arguments", len(args))
	}
	if err := c.lut.check(); err != nil {
		return nil, err
	}
	if err := c.timing.check(); err != nil {
		return nil, err
	}
	if c.rank == "recon" && !c.fs.Changed("refit") {
		c.learn.refit = true // the ranking is the refit's error
	}
	opts, err := c.options(e)
	if err != nil {
		return nil, err
	}
	if err := c.validate(opts); err != nil {
		return nil, err
	}
	if err := m.Graph.InferShapes(); err != nil {
		return nil, err
	}
	// The groups, and a MACs or parameter target (the search checks a
	// latency target once it has measured the source), then the options
	// as the training defaults resolve them for the images to be made:
	// after the data, whose mistakes come first, but before the data-free
	// mode spends minutes synthesising images.
	var plan *syntheticPlan // the data-free mode's images, nil with --data
	if c.data.data == "" {
		if err := search.Preflight(m, opts); err != nil {
			return nil, err
		}
		if plan, err = c.checkDataFree(e, m); err != nil {
			return nil, err
		}
	}
	if err := ort.Init(); err != nil {
		return nil, err
	}

	// Data: training, held-out (carved from training), test; or
	// synthetic images.
	src, err := onnxio.Encode(m)
	if err != nil {
		return nil, err
	}
	d, err := c.prepareData(e, m, src, plan)
	if err != nil {
		return nil, err
	}
	if err := c.trainingDefaults(d); err != nil {
		return nil, err
	}
	if opts, err = c.options(e); err != nil {
		return nil, err
	}
	if err := c.validate(opts); err != nil {
		return nil, err
	}
	opts.Train, opts.HeldOut, opts.Test, opts.Data = d.train, d.held, d.test, d.info
	opts.Lineage = lineage
	opts.ShortTerm.Preprocess, opts.LongTerm.Preprocess = &d.pre, &d.pre
	if c.train.distill {
		// Labelled data on a small model distils in the long-term
		// fine-tuning only, as before the cost-following defaults.
		opts.LongTerm.Teacher = m
		if d.follow {
			opts.ShortTerm.Teacher = m
		}
	}
	// Accuracy is not a latency: evaluate on every core, whatever the
	// deployment's thread count.
	opts.Eval = finetune.EvalOptions{Batch: 100, Threads: runtime.NumCPU(), Preprocess: &d.pre, Workers: c.data.workers}
	if err := search.Preflight(m, opts); err != nil {
		return nil, err
	}
	tablePath := c.table
	if tablePath == "" {
		if tablePath, err = lut.CachePath(opts.Runtime, c.lut.step); err != nil {
			return nil, fmt.Errorf("%w; give --lut FILE", err)
		}
	}
	if opts.Table, _, err = c.lut.open(tablePath); err != nil {
		return nil, err
	}
	prev, err := search.CheckOutDir(opts)
	if err != nil {
		var oe *search.OutDirError
		if errors.As(err, &oe) {
			return nil, fmt.Errorf("output folder %s %s; give another -o, or --force to start over there", oe.Dir, oe.Reason)
		}
		return nil, err
	}
	if prev == nil || !prev.Finished() {
		if err := checkFreeSpace(c.out, m, c.schedule.Iterations); err != nil {
			return nil, err
		}
	}
	return &adaptJob{c: c, m: m, source: source, opts: opts, tablePath: tablePath, pre: &d.pre, held: d.info.HeldOutMeasure, prev: prev}, nil
}

// execute runs the job and reports its result.
func (j *adaptJob) execute(e *env) error {
	res, err := j.search(e)
	if err != nil {
		return err
	}
	c := j.c
	if e.json {
		if err := e.writeJSON(res); err != nil {
			return err
		}
	} else {
		printResult(e.stdout, j.source, res)
		fmt.Fprintf(e.stdout, "report: %s, %s\n", filepath.Join(c.out, report.MarkdownFile), filepath.Join(c.out, report.PlotFile))
	}
	switch {
	case res.File == "":
		return fmt.Errorf("stopped without a model that meets the constraints: %s; see %s",
			res.Blocked, filepath.Join(c.out, "history.json"))
	case !res.Met:
		return fmt.Errorf("the adapted model does not meet every constraint after %d iterations (%.3f ms measured); see %s",
			len(res.Iterations), res.Final.MeasuredMS, filepath.Join(c.out, "history.json"))
	}
	return nil
}

// search runs the search (or continues the run the output folder holds)
// and saves the table.
func (j *adaptJob) search(e *env) (*search.Result, error) {
	c, opts := j.c, j.opts
	p := e.progress()
	switch {
	case j.prev != nil && j.prev.Finished():
		p.Line("%s holds this run, finished: reporting it (--force starts over)", c.out)
	case j.prev != nil:
		p.Line("resuming the run in %s after iteration %d", c.out, len(j.prev.Iterations))
	}
	rep := newReporter(e, c.out, c.latencyFrac)
	rep.held = j.held
	opts.Event = rep.event
	// Every model file gets its .ort file (--emit-ort), checked on held-out
	// images; every history, its report.
	held := opts.HeldOut
	opts.Saved = func(path string) error {
		f, err := c.ort.write(e, path, sampleInputs(e.ctx, held, j.pre))
		if f != nil {
			rep.p.Line("  %s", ortLine(f))
		}
		return err
	}
	opts.History = func(res *search.Result) error { return report.Write(c.out, res) }
	res, err := search.Run(e.ctx, j.m, opts)
	rep.finish()
	if serr := opts.Table.Save(j.tablePath); serr != nil {
		e.log.Warn("could not save the lookup table", "path", j.tablePath, "err", serr)
	}
	if err != nil {
		return nil, resumable(err, c.out)
	}
	return res, nil
}

func (c *adaptCmd) targetString() string {
	switch {
	case c.latencyMS > 0:
		return fmt.Sprintf("%.3g ms", c.latencyMS)
	case c.latencyFrac > 0:
		return fmt.Sprintf("%.0f%% of its latency", 100*c.latencyFrac)
	case c.macs > 0:
		return fmt.Sprintf("%s MACs", cost.String(c.macs))
	}
	return fmt.Sprintf("%s params", cost.String(c.params))
}

// options are the search options the flags give; the data, the table and
// the preprocessing are added once they are open.
func (c *adaptCmd) options(e *env) (search.Options, error) {
	short, err := c.train.config()
	if err != nil {
		return search.Options{}, err
	}
	short.Epochs, short.Steps, short.LR = 0, c.shortSteps, c.shortLR
	short.Schedule = finetune.Schedule{Kind: finetune.Constant}
	short.LoaderWorkers = c.data.workers
	long := short
	long.Steps, long.Epochs, long.LR = 0, c.longEpochs, c.longLR
	long.Schedule = finetune.Schedule{Kind: finetune.Cosine}
	rank, reconRank := surgery.Rank(c.rank), c.rank == "recon"
	if reconRank {
		rank = surgery.RankL2 // tie-breaks; the kept channels are listed
	}
	return search.Options{
		Constraints:   search.Constraints{LatencyMS: c.latencyMS, LatencyFraction: c.latencyFrac, MACs: c.macs, Params: c.params},
		Schedule:      c.schedule,
		MaxIterations: c.maxIter,
		RoundTo:       c.roundTo,
		Rank:          rank,
		Recon:         search.Recon{Refit: c.learn.refit, Rank: reconRank, Anchor: c.learn.anchor, AnchorEvery: c.learn.anchorEvery},
		ShortTerm:     short,
		LongTerm:      long,
		Runtime:       c.lut.options(),
		Measure:       c.timing.protocol(c.lut.options()),
		Timer:         searchTimer(),
		Margin:        c.margin,
		MaxDrop:       c.maxDrop,
		TuneTop:       c.tuneTop,
		Spread:        c.spread,
		OutDir:        c.out,
		Force:         c.force,
		Log:           e.log.WithGroup("search"),
	}, nil
}

// adaptFlagOf names the flag of each search option that adapt sets.
var adaptFlagOf = map[string]string{
	"Constraints.LatencyMS":       "--latency-ms",
	"Constraints.LatencyFraction": "--latency-fraction",
	"Constraints.MACs":            "--macs",
	"Constraints.Params":          "--params",
	"Schedule.First":              "--reduction",
	"Schedule.Decay":              "--decay",
	"Schedule.Iterations":         "--iterations",
	"MaxIterations":               "--max-iterations",
	"RoundTo":                     "--round-to",
	"Rank":                        "--rank",
	"Margin":                      "--margin",
	"Measure":                     "--blocks, --block-ms",
	"MaxDrop":                     "--max-drop",
	"TuneTop":                     "--tune-top",
	"Spread":                      "--spread",
	"Recon.AnchorEvery":           "--anchor-every",
	"ShortTerm.Steps":             "--short-steps",
	"LongTerm.Epochs":             "--long-epochs",
	"OutDir":                      "-o OUTDIR",
	"Constraints":                 "--latency-ms, --latency-fraction, --macs, --params",
}

// validate has search check the options (search.Options.Validate) and
// turns a refusal into a usage error naming the flag.
func (c *adaptCmd) validate(opts search.Options) error {
	// search reads 0 as "the default" for these; typed on the command
	// line, 0 is a mistake.
	for _, name := range []string{"iterations", "max-iterations", "round-to"} {
		if f := c.fs.Lookup(name); f.Changed && f.Value.String() == "0" {
			return usagef("--%s 0: must be at least 1", name)
		}
	}
	if opts.Recon.Rank && !opts.Recon.Refit {
		return usagef("--rank recon ranks filters by the error left after the refit: it needs --refit")
	}
	if c.heldOut < 0 || c.learn.images < 0 || c.learn.test < 0 || c.learn.synthetic < 0 {
		return usagef("--held-out, --images, --test and --synthetic must not be negative")
	}
	return optionUsage(opts.Validate(), adaptFlagOf)
}

// optionUsage turns a *search.OptionError into a usage error that names the
// flag of the refused option; other errors pass through.
func optionUsage(err error, flagOf map[string]string) error {
	var oe *search.OptionError
	if !errors.As(err, &oe) {
		return err
	}
	flag, ok := flagOf[oe.Field]
	switch {
	case ok && oe.Value != nil:
		return usagef("%s %v: %s", flag, oe.Value, oe.Reason)
	case ok:
		return usagef("%s (%s)", oe.Reason, flag)
	}
	return usagef("%s", oe.Reason)
}

// reporter shows the search's progress on stderr: a line per iteration,
// and a bar over each iteration's candidates on a terminal.
type reporter struct {
	e    *env
	out  string
	frac float64 // --latency-fraction
	held string  // what held-out accuracy measures: top-1 or agreement
	p    *progress
}

func newReporter(e *env, out string, frac float64) *reporter {
	return &reporter{e: e, out: out, frac: frac, held: "top-1", p: e.progress()}
}

func (r *reporter) event(ev search.Event) {
	switch ev.Kind {
	case search.SourceMeasured:
		f := ev.Figures
		r.p.Line("source: %.3f ± %.3f ms measured (runs p10 %.3f, p90 %.3f), %s MACs, %s params, held-out %s %.2f%%",
			f.MeasuredMS, f.NoiseMS, f.P10MS, f.P90MS, cost.String(f.MACs), cost.String(f.Params), r.held, 100*f.HeldOut.Top1)
		if r.frac > 0 {
			r.p.Line("latency target %.3f ms: %.0f%% of the source's; every measurement times the source alongside and is judged as a ratio to it",
				r.frac*f.MeasuredMS, 100*r.frac)
		}
		if ev.Floor != nil {
			r.p.Line("%s; aiming %.1f%% below the latency target", floorString(ev.Floor), 100*ev.Margin)
		}
	case search.IterationStart:
		r.p.Line("iteration %d: %s budget %s", ev.Iteration, ev.Resource, budgetString(ev.Resource, ev.Budget))
	case search.CandidateTuned:
		c := ev.Candidate
		r.p.Step(ev.Index+1, ev.Count, fmt.Sprintf("iteration %d: fine-tuning candidates", ev.Iteration))
		r.e.log.Info("candidate", "iteration", ev.Iteration, "group", c.Group, "keep", c.Keep, "size", c.Size,
			"estimated_ms", c.EstimatedMS, "held_out_top1", c.HeldOutTop1, "rejected", c.Rejected)
	case search.StepShrunk:
		r.p.Finish()
		r.p.Line("iteration %d: step rejected: %s; trying a smaller one", ev.Iteration, ev.Reason)
	case search.IterationDone:
		r.p.Finish()
		f := ev.Figures
		smoothed := ""
		if f.PathRatio > 0 {
			smoothed = fmt.Sprintf(", %.3f× smoothed", f.PathRatio)
		}
		r.p.Line("iteration %d: %.3f ± %.3f ms measured (%.3f× the source%s; estimate %.3f), %s MACs, held-out %s %.2f%% → %s",
			ev.Iteration, f.MeasuredMS, f.NoiseMS, f.Ratio, smoothed, f.EstimatedMS, cost.String(f.MACs), r.held, 100*f.HeldOut.Top1,
			filepath.Join(r.out, fmt.Sprintf("iter_%03d.onnx", ev.Iteration)))
	case search.Checked:
		c := ev.Check
		what := "check"
		if c.Final {
			what = "final check"
		}
		r.p.Line("%s: %.3f ± %.3f ms against %.3f ms: %s%s", what, c.MeasuredMS, c.NoiseMS, c.LimitMS, c.Verdict, pooledString(c))
	case search.LongTermStart:
		r.p.Line("long-term fine-tuning")
	case search.AnchorStart:
		r.p.Line("refitting every layer towards the source (anchoring)")
	}
}

func (r *reporter) finish() { r.p.Finish() }

// pooledString says, for a final check whose verdict pools two
// measurements of its architecture, which and what its own one read.
func pooledString(c *search.Check) string {
	if c.Own == nil {
		return ""
	}
	return fmt.Sprintf(" (pooled with the check after iteration %d, the same architecture before the long-term fine-tune; alone %.3f ± %.3f)",
		c.After, c.Own.Value, c.Own.Noise)
}

// floorString describes a run's measured noise floor.
func floorString(f *measure.Floor) string {
	return fmt.Sprintf("noise floor: ratios to the source moved by %.2f%% of its latency between %d processes (%d variants; %.0f%% upper bound %.2f%%)",
		100*f.SD, f.Processes, f.Models, 100*measure.FloorConfidence, 100*f.Upper)
}

func budgetString(r search.Resource, b float64) string {
	if r == search.Latency {
		return fmt.Sprintf("%.3f ms", b)
	}
	return cost.String(int64(b))
}

func printResult(w io.Writer, source string, res *search.Result) {
	s, f := res.Source, res.Final
	acc := func(a *finetune.Accuracy) string {
		if a == nil {
			return "-"
		}
		return fmt.Sprintf("%.2f%%", 100*a.Top1)
	}
	if res.File == "" {
		if n := len(res.Iterations); n > 0 {
			f = res.Iterations[n-1].Figures
		} else {
			f = s
		}
	}
	lat := func(x search.Figures) string { return fmt.Sprintf("%.3f ± %.3f", x.MeasuredMS, x.NoiseMS) }
	fmt.Fprintf(w, "%-18s %16s %16s\n", "", "source", "adapted")
	fmt.Fprintf(w, "%-18s %16s %16s\n", "latency ms", lat(s), lat(f))
	fmt.Fprintf(w, "%-18s %16s %16s\n", "MACs", cost.String(s.MACs), cost.String(f.MACs))
	fmt.Fprintf(w, "%-18s %16s %16s\n", "params", cost.String(s.Params), cost.String(f.Params))
	fmt.Fprintf(w, "%-18s %16s %16s\n", "file", bytesString(s.Bytes), bytesString(f.Bytes))
	heldName, testName := "held-out top-1", "test top-1"
	if res.Data.HeldOutMeasure == "agreement" {
		heldName = "held-out agree"
	}
	if res.Data.TestMeasure == "agreement" {
		testName = "test agree"
	}
	fmt.Fprintf(w, "%-18s %16s %16s\n", heldName, acc(s.HeldOut), acc(f.HeldOut))
	fmt.Fprintf(w, "%-18s %16s %16s\n", testName, acc(s.Test), acc(f.Test))
	printData(w, res)
	if res.File != "" {
		fmt.Fprintf(w, "\n%s → %s after %d iterations (%.0f s)", source, res.File, len(res.Iterations), res.Seconds)
		if !res.Met {
			fmt.Fprint(w, "; the constraints are NOT met")
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "\n%s: no adapted model after %d iterations (%.0f s)\n", source, len(res.Iterations), res.Seconds)
	}
	if res.Blocked != "" {
		fmt.Fprintf(w, "stopped: %s\n", res.Blocked)
	}
	if a := res.Anchor; a != nil {
		fmt.Fprintf(w, "anchoring: %s\n", anchorString(a, res.Data.HeldOutMeasure))
	}
	if res.LongTermRejected != "" {
		fmt.Fprintf(w, "long-term fine-tune: %s\n", res.LongTermRejected)
	}
	if res.NoiseFloor != nil {
		fmt.Fprintf(w, "%s; aimed %.1f%% below the latency target\n", floorString(res.NoiseFloor), 100*res.Margin)
	}
	if n := len(res.Checks); n > 0 && res.Checks[n-1].Final {
		c := res.Checks[n-1]
		if res.Constraints.LatencyFraction > 0 {
			fmt.Fprintf(w, "latency check: %.3f ± %.3f ms, %.3f ± %.3f× the source timed alongside (%.3f ms), against %.0f%%: %s%s\n",
				c.MeasuredMS, c.NoiseMS, c.Verdict.Value, c.Verdict.Noise, c.SourceMS, 100*res.Constraints.LatencyFraction, c.Verdict, pooledString(&c))
		} else {
			fmt.Fprintf(w, "latency check: %.3f ± %.3f ms against a target of %.3f ms: %s%s\n", c.MeasuredMS, c.NoiseMS, c.LimitMS, c.Verdict, pooledString(&c))
		}
	}
	var parts []string
	for _, it := range res.Iterations {
		c := it.Candidates[it.Chosen]
		part := fmt.Sprintf("g%d:%d→%d", c.Group, c.Size, c.Keep)
		for p := c.Pair; p != nil; p = p.Pair {
			part += fmt.Sprintf("+g%d:%d→%d", p.Group, p.Size, p.Keep)
		}
		parts = append(parts, part)
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "pruned: %s\n", strings.Join(parts, " "))
	}
}

// anchorString describes the refit of the last iteration's model towards
// the source.
func anchorString(a *search.AnchorResult, held string) string {
	if held == "" {
		held = "top-1"
	}
	return fmt.Sprintf("%d of %d layers refitted towards the source in %.0f s, held-out %s %.2f%% → %.2f%% (%s)",
		a.Refitted, a.Layers, a.Seconds, held, 100*a.Before.Top1, 100*a.After.Top1, a.Outcome())
}
