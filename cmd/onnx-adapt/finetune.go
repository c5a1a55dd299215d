package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/spf13/pflag"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/internal/kernels"
	"github.com/onnx-adapt/onnx-adapt/mobile"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/recon"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

type finetuneCmd struct {
	model    modelFlags
	data     dataFlags
	train    trainFlags
	out      string
	epochs   float64
	steps    int
	lr       float64
	schedule finetune.ScheduleKind
	warmup   float64
	stepEp   float64
	gamma    float64
	minLR    float64
	teacher  string
	anchor   string
	threads  int
	eval     string
	ort      ortFlags
}

func (*finetuneCmd) name() string { return "finetune" }
func (*finetuneCmd) usage() string {
	return "finetune MODEL --data D --epochs N [--distill] [--lr] [--batch] [--momentum] [--nesterov] [--wd] [--schedule cosine|step|constant] [--label-smoothing] [--seed] [--freeze-bn] -o OUT.onnx [--json]"
}
func (*finetuneCmd) summary() string {
	return "train a model's weights in Go (SGD, optional distillation from the original) and save it"
}

func (c *finetuneCmd) flags(fs *pflag.FlagSet) {
	d := finetune.DefaultConfig()
	c.schedule = d.Schedule.Kind
	c.model.register(fs)
	c.data.register(fs)
	fs.StringVarP(&c.out, "output", "o", "", "where to write the trained model (checked in onnxruntime before it appears)")
	fs.Float64Var(&c.epochs, "epochs", d.Epochs, "passes over the training data (may be fractional)")
	fs.IntVar(&c.steps, "steps", 0, "optimiser steps instead of --epochs")
	fs.Float64Var(&c.lr, "lr", d.LR, "learning rate")
	fs.Var(&c.schedule, "schedule", "learning-rate schedule")
	fs.Float64Var(&c.warmup, "warmup", 0, "linear warm-up, in epochs")
	fs.Float64Var(&c.stepEp, "step-epochs", 0, "step schedule: decay every this many epochs (0: a third of the run)")
	fs.Float64Var(&c.gamma, "gamma", 0.1, "step schedule: decay factor")
	fs.Float64Var(&c.minLR, "min-lr", 0, "cosine schedule: final learning rate")
	c.train.register(fs)
	fs.StringVar(&c.teacher, "teacher", "", "distill from this model instead of the original (implies --distill)")
	fs.StringVar(&c.anchor, "anchor", "", "first refit, front to back by least squares, every layer of the model (pruned from this source, as its lineage says) to reproduce the source's outputs at that layer (with --steps 0: only that)")
	fs.IntVar(&c.threads, "threads", 0, "compute threads (0: one per CPU)")
	fs.StringVar(&c.eval, "eval", "final", "accuracy on the test split: final (engine and onnxruntime), epoch (also after every epoch), none")
	c.ort.register(fs)
}

type accJSON struct {
	Top1 float64 `json:"top1"`
	Top5 float64 `json:"top5"`
	N    int     `json:"n"`
}

func accOf(a *finetune.Accuracy) *accJSON {
	if a == nil {
		return nil
	}
	return &accJSON{a.Top1, a.Top5, a.N}
}

type finetuneJSON struct {
	Model        string    `json:"model"`
	Output       string    `json:"output"`
	Data         string    `json:"data"`
	TrainSamples int       `json:"train_samples"`
	Steps        int       `json:"steps"`
	Epochs       float64   `json:"epochs"`
	Images       int       `json:"images"`
	Seconds      float64   `json:"seconds"`
	ImagesPerSec float64   `json:"images_per_sec"`
	EpochLoss    []float64 `json:"epoch_loss"`
	Threads      int       `json:"threads"`
	EvalEngine   *accJSON  `json:"eval_engine,omitempty"`
	EvalORT      *accJSON  `json:"eval_onnxruntime,omitempty"`
	// ORT is the ORT-format file written with --emit-ort.
	ORT *mobile.ORTFile `json:"ort,omitempty"`
}

func (c *finetuneCmd) run(e *env, args []string) error {
	path, err := oneModelArg(args)
	if err != nil {
		return err
	}
	if c.out == "" {
		return usagef("-o OUT.onnx is required")
	}
	if c.eval != "final" && c.eval != "epoch" && c.eval != "none" {
		return usagef("--eval must be final, epoch or none")
	}
	if c.threads < 0 || (c.steps <= 0 && !(c.epochs > 0) && c.anchor == "") {
		return usagef("--threads must be at least 0, and --epochs or --steps positive")
	}
	cfg, err := c.train.config()
	if err != nil {
		return err
	}
	m, lin, err := c.model.loadWithLineage(path)
	if err != nil {
		return err
	}
	sp, pre, err := c.data.openFor(m)
	if err != nil {
		return err
	}
	threads := c.threads
	if threads == 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	cfg.Epochs, cfg.Steps, cfg.LR = c.epochs, c.steps, c.lr
	cfg.Schedule = finetune.Schedule{Kind: c.schedule, WarmupEpochs: c.warmup, StepEpochs: c.stepEp, Gamma: c.gamma, MinLR: c.minLR}
	cfg.Preprocess, cfg.Workers, cfg.LoaderWorkers = &pre, threads, c.data.workers
	if c.teacher != "" {
		if cfg.Teacher, err = onnxio.Load(c.teacher); err != nil {
			return err
		}
	} else if c.train.distill {
		cfg.Teacher = m.Clone()
	}
	if c.eval != "none" && sp.Test == nil {
		e.log.Warn("the data has no test split: no accuracy is reported", "data", c.data.data)
	}
	if c.eval == "epoch" && sp.Test != nil {
		cfg.Eval = sp.Test
	}
	if err := os.MkdirAll(filepath.Dir(c.out), 0o755); err != nil {
		return err
	}
	if c.anchor != "" {
		if err := c.anchorTo(e, m, lin, sp.Train, &pre, threads); err != nil {
			return err
		}
		if c.steps <= 0 && !(c.epochs > 0) {
			return c.saveAnchored(e, m, lin)
		}
	}
	prog := newTrainProgress(e)
	cfg.Progress = prog.update
	e.log.Info("fine-tuning", "model", path, "data", c.data.data, "samples", sp.Train.Len(), "batch", cfg.Batch,
		"threads", threads, "gemm", kernels.GEMMBackend)
	res, err := finetune.Train(e.ctx, m, sp.Train, cfg)
	prog.finish()
	if err != nil {
		return err
	}
	out := finetuneJSON{Model: path, Output: c.out, Data: c.data.data, TrainSamples: sp.Train.Len(), Steps: res.Steps,
		Epochs: res.Epochs, Images: res.Images, Seconds: res.Duration.Seconds(), ImagesPerSec: res.ImagesPerSec,
		EpochLoss: res.EpochLoss, Threads: threads, EvalEngine: accOf(res.Eval)}
	if c.eval != "none" && sp.Test != nil && res.Eval == nil {
		eng, err := engineAccuracy(e.ctx, m, sp.Test, pre, cfg.Batch, c.data.workers)
		if err != nil {
			return err
		}
		out.EvalEngine = accOf(&eng)
	}
	if err := lin.Stamp(m); err != nil {
		return err
	}
	saved := func(data []byte) error { return checkRuns(data) }
	if c.eval != "none" && sp.Test != nil {
		saved = func(data []byte) error {
			if err := checkRuns(data); err != nil {
				return err
			}
			acc, err := finetune.Evaluate(e.ctx, data, sp.Test, finetune.EvalOptions{Batch: 100, Threads: threads, Preprocess: &pre, Workers: c.data.workers})
			if err != nil {
				return err
			}
			out.EvalORT = accOf(&acc)
			return nil
		}
	}
	if err := onnxio.Save(c.out, m, onnxio.SaveOptions{Check: saved}); err != nil {
		return err
	}
	samples := sp.Test
	if samples == nil {
		samples = sp.Train
	}
	if out.ORT, err = c.ort.write(e, c.out, sampleInputs(e.ctx, samples, &pre)); err != nil {
		return err
	}
	if e.json {
		return e.writeJSON(out)
	}
	fmt.Fprintf(e.stdout, "%s: %d steps (%.2f epochs) of batch %d in %s, %.1f img/s; final loss %.4f\n",
		c.out, res.Steps, res.Epochs, cfg.Batch, res.Duration.Round(time.Second), res.ImagesPerSec, res.EpochLoss[len(res.EpochLoss)-1])
	if a := out.EvalEngine; a != nil {
		fmt.Fprintf(e.stdout, "test accuracy (trainer):     top-1 %.2f%%, top-5 %.2f%% (%d images)\n", 100*a.Top1, 100*a.Top5, a.N)
	}
	if a := out.EvalORT; a != nil {
		fmt.Fprintf(e.stdout, "test accuracy (onnxruntime): top-1 %.2f%%, top-5 %.2f%% (%d images)\n", 100*a.Top1, 100*a.Top5, a.N)
	}
	if out.ORT != nil {
		fmt.Fprintln(e.stdout, ortLine(out.ORT))
	}
	return nil
}

// engineAccuracy evaluates m with the Go engine.
func engineAccuracy(ctx context.Context, m *onnxio.Model, ds dataset.Dataset, pre dataset.Preprocess, batch, workers int) (finetune.Accuracy, error) {
	eng, err := finetune.Compile[float32](m, finetune.Options{Batch: batch})
	if err != nil {
		return finetune.Accuracy{}, err
	}
	return finetune.EvaluateEngine(ctx, eng, ds, finetune.EvalOptions{Preprocess: &pre, Workers: workers})
}

// trainProgress shows training progress on stderr: a bar over the steps
// on a terminal, and a line per epoch.
type trainProgress struct{ p *progress }

func newTrainProgress(e *env) *trainProgress { return &trainProgress{e.progress()} }

func (t *trainProgress) update(pr finetune.Progress) {
	t.p.Step(pr.Step, pr.Steps, fmt.Sprintf("epoch %d/%d loss %.4f %.0f img/s", pr.Epoch, pr.Epochs, pr.Loss, pr.ImagesPerSec))
	if pr.EpochEnd {
		t.p.Line("%s", epochLine(pr))
	}
}

func epochLine(pr finetune.Progress) string {
	s := fmt.Sprintf("epoch %d/%d: loss %.4f, lr %.4g, %.1f img/s, elapsed %s, ETA %s",
		pr.Epoch, pr.Epochs, pr.Loss, pr.LR, pr.ImagesPerSec, pr.Elapsed.Round(time.Second), pr.ETA.Round(time.Second))
	if pr.Eval != nil {
		s += fmt.Sprintf(", test top-1 %.2f%% top-5 %.2f%%", 100*pr.Eval.Top1, 100*pr.Eval.Top5)
	}
	return s
}

func (t *trainProgress) finish() { t.p.Finish() }

// anchorTo refits every layer of m towards the source --anchor names (its
// lineage's plan relates the two), on calibration images from calib.
func (c *finetuneCmd) anchorTo(e *env, m *onnxio.Model, lin surgery.Lineage, calib dataset.Dataset, pre *dataset.Preprocess, threads int) error {
	data, err := os.ReadFile(c.anchor)
	if err != nil {
		return err
	}
	if sha := surgery.SHA256(data); sha != lin.SourceSHA256 {
		return fmt.Errorf("--anchor %s is not the model's source (its lineage names %.12s…, the file is %.12s…)", c.anchor, lin.SourceSHA256, sha)
	}
	src, err := c.model.load(c.anchor)
	if err != nil {
		return err
	}
	an, err := surgery.Analyze(src.Graph)
	if err != nil {
		return err
	}
	plan, err := an.Resolve(lin.Plan)
	if err != nil {
		return err
	}
	start := time.Now()
	fits, err := recon.Anchor(e.ctx, m, src, plan, calib, recon.Options{Preprocess: pre, Threads: threads, Workers: c.data.workers, Log: e.log})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "anchored to %s: %d of %d layers refitted in %s\n", c.anchor, recon.Refitted(fits), len(fits), time.Since(start).Round(time.Second))
	return nil
}

// saveAnchored writes m, anchored and not trained.
func (c *finetuneCmd) saveAnchored(e *env, m *onnxio.Model, lin surgery.Lineage) error {
	if err := lin.Stamp(m); err != nil {
		return err
	}
	if err := onnxio.Save(c.out, m, onnxio.SaveOptions{Check: checkRuns}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: anchored, not trained\n", c.out)
	return nil
}
