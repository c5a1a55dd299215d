package finetune

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/internal/kernels"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// Config configures Train. DefaultConfig gives sensible values.
type Config struct {
	// Epochs is the length of the run in passes over the data (may be
	// fractional). Steps, when positive, gives it in optimiser steps
	// instead (NetAdapt's short-term fine-tuning counts iterations).
	Epochs float64
	Steps  int
	// Batch is the batch size (the engine is compiled for it; a last
	// partial batch of an epoch is dropped).
	Batch int

	// SGD.
	LR, Momentum, WeightDecay float64
	Nesterov                  bool
	Schedule                  Schedule

	// LabelSmoothing is ε of the cross-entropy.
	LabelSmoothing float64
	// Teacher, when set, is distilled from: its logits come from
	// onnxruntime on the same batches (a final Softmax is removed first).
	// DistillWeight weighs the distillation term against the label loss
	// (see Loss); Temperature softens both distributions. Unlabelled data
	// (dataset.Labelled false) is learnt by distillation alone: a teacher
	// is then required and the weight is 1.
	Teacher       *onnxio.Model
	DistillWeight float64
	Temperature   float64

	// FreezeBN keeps BatchNormalization statistics fixed.
	FreezeBN bool
	// Seed seeds the data order, augmentation and Dropout.
	Seed uint64

	// Preprocess turns images into the model's input; nil derives it from
	// the model's input shape with the "none" preset (scale to [0,1]).
	Preprocess *dataset.Preprocess
	// Augment is train-time augmentation (nil: none).
	Augment *dataset.Augment

	// Workers is the number of kernel goroutines (0: GOMAXPROCS); it is
	// also the teacher's onnxruntime thread count. It changes the speed,
	// not the result: a run is bit-identical for the same Seed whatever
	// Workers and LoaderWorkers are (see the package documentation).
	Workers int
	// LoaderWorkers is the number of decoding goroutines (0: GOMAXPROCS).
	LoaderWorkers int

	// Eval, when set, is evaluated with the engine after every epoch (the
	// trainer's own accuracy; see EvaluateEngine).
	Eval dataset.Dataset
	// Progress, when set, is called after every optimiser step and at the
	// end of every epoch.
	Progress func(Progress)
}

// DefaultConfig returns the defaults of the finetune command: 1 epoch of
// batch 64, SGD with LR 0.01, momentum 0.9, weight decay 4e-5, cosine
// schedule; distillation, when a teacher is given, at weight 0.5 and
// temperature 2.
func DefaultConfig() Config {
	return Config{Epochs: 1, Batch: 64, LR: 0.01, Momentum: 0.9, WeightDecay: 4e-5,
		Schedule: Schedule{Kind: Cosine}, DistillWeight: 0.5, Temperature: 2}
}

// Progress reports how a run is going.
type Progress struct {
	Epoch, Epochs int // current epoch (1-based) and the number of epochs
	Step, Steps   int // optimiser steps done and in total
	Loss          float64
	LR            float64
	ImagesPerSec  float64 // training images per second so far (evaluations excluded)
	Elapsed, ETA  time.Duration
	// EpochEnd is set on the call that closes an epoch; Loss is then the
	// epoch's mean loss, and Eval its accuracy when Config.Eval is set.
	EpochEnd bool
	Eval     *Accuracy
}

// Result summarises a run.
type Result struct {
	Steps, Images int
	Epochs        float64
	EpochLoss     []float64     // mean loss of each epoch
	Duration      time.Duration // the whole run, evaluations included
	EvalDuration  time.Duration // spent evaluating Config.Eval
	ImagesPerSec  float64       // training throughput (evaluations excluded)
	Eval          *Accuracy     // the last epoch's evaluation, if any
}

// Train fine-tunes m on ds and writes the trained weights and
// BatchNormalization statistics back into m's initializers. On error
// (including a cancelled ctx) m is left unchanged.
func Train(ctx context.Context, m *onnxio.Model, ds dataset.Dataset, cfg Config) (*Result, error) {
	if cfg.Batch <= 0 {
		return nil, fmt.Errorf("finetune: batch %d must be positive", cfg.Batch)
	}
	if !(cfg.LR > 0) || math.IsInf(cfg.LR, 0) {
		return nil, fmt.Errorf("finetune: learning rate %v must be positive", cfg.LR)
	}
	if cfg.LabelSmoothing < 0 || cfg.LabelSmoothing >= 1 {
		return nil, fmt.Errorf("finetune: label smoothing %v must be in [0,1)", cfg.LabelSmoothing)
	}
	if cfg.Teacher != nil && (cfg.DistillWeight < 0 || cfg.DistillWeight > 1 || !(cfg.Temperature > 0)) {
		return nil, fmt.Errorf("finetune: distillation weight %v must be in [0,1] and temperature %v positive", cfg.DistillWeight, cfg.Temperature)
	}
	if !dataset.Labelled(ds) {
		// Pure distillation: unlabelled data teaches only through the
		// teacher's outputs.
		if cfg.Teacher == nil {
			return nil, errors.New("finetune: the data has no labels: give a teacher model to distil from")
		}
		cfg.DistillWeight = 1
	}
	if ds.Len() < cfg.Batch {
		return nil, fmt.Errorf("finetune: %d training samples are fewer than one batch of %d", ds.Len(), cfg.Batch)
	}
	if cfg.Workers > 0 {
		defer kernels.SetWorkers(kernels.SetWorkers(cfg.Workers))
	}
	e, err := Compile[float32](m, Options{Batch: cfg.Batch, Train: true, FreezeBN: cfg.FreezeBN, Seed: cfg.Seed})
	if err != nil {
		return nil, err
	}
	if err := dataset.CheckClasses(ds, e.Classes()); err != nil {
		return nil, err
	}
	lay, err := layoutOf(e.InputShape(0))
	if err != nil {
		return nil, err
	}
	pre, err := lay.preprocess(cfg.Preprocess)
	if err != nil {
		return nil, err
	}
	ld, err := dataset.NewLoader(ds, dataset.Config{BatchSize: cfg.Batch, Shuffle: true, DropLast: true,
		Seed: cfg.Seed, Workers: cfg.LoaderWorkers, Preprocess: pre, Augment: cfg.Augment})
	if err != nil {
		return nil, err
	}
	var teacher *teacherRun
	if cfg.Teacher != nil && cfg.DistillWeight > 0 {
		if teacher, err = newTeacher(cfg.Teacher, e.InputShape(0), e.Classes()); err != nil {
			return nil, err
		}
		defer teacher.close()
	}
	opt, err := NewSGD(e.Params(), cfg.Momentum, cfg.WeightDecay, cfg.Nesterov)
	if err != nil {
		return nil, err
	}
	perEpoch := ld.NumBatches()
	total := cfg.Steps
	if total <= 0 {
		if !(cfg.Epochs > 0) {
			return nil, fmt.Errorf("finetune: give a positive number of epochs or steps")
		}
		total = max(1, int(math.Round(cfg.Epochs*float64(perEpoch))))
	}
	sched := cfg.Schedule.resolve(cfg.LR, total, perEpoch)
	epochs := (total + perEpoch - 1) / perEpoch
	loss := &Loss{Classes: e.Classes(), LabelSmoothing: cfg.LabelSmoothing, DistillWeight: cfg.DistillWeight, Temperature: cfg.Temperature}

	res := &Result{}
	start := time.Now()
	var evalTime time.Duration // excluded from the training throughput
	step := 0
	for epoch := 0; step < total; epoch++ {
		sum, n := 0.0, 0
		it := ld.Epoch(ctx, epoch)
		ahead := newPrefetch(it, lay, teacher, cfg.Batch)
		for step < total {
			b, err := ahead.next(step+1 < total)
			if err == io.EOF {
				break
			}
			if err != nil {
				ahead.close()
				it.Close()
				return nil, err
			}
			copy(e.Input(0), b.x)
			e.Forward(true)
			lv := LossGrad(loss, cfg.Batch, e.Logits(), b.labels, b.logits, e.LogitsGrad())
			if math.IsNaN(lv.Total) || math.IsInf(lv.Total, 0) {
				ahead.close()
				it.Close()
				return nil, fmt.Errorf("finetune: the loss diverged (%v) at step %d of %d; lower the learning rate (%g)", lv.Total, step+1, total, sched.lr(step))
			}
			e.Backward()
			lr := sched.lr(step)
			opt.Step(lr)
			step++
			sum += lv.Total
			n++
			res.Images += cfg.Batch
			if cfg.Progress != nil {
				cfg.Progress(progressAt(start, evalTime, step, total, epoch, epochs, sum/float64(n), lr, res.Images, false))
			}
			if err := ctx.Err(); err != nil {
				ahead.close()
				it.Close()
				return nil, err
			}
		}
		ahead.close()
		if err := it.Close(); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if n == 0 {
			return nil, fmt.Errorf("finetune: epoch %d produced no batches", epoch+1)
		}
		res.EpochLoss = append(res.EpochLoss, sum/float64(n))
		p := progressAt(start, evalTime, step, total, epoch, epochs, sum/float64(n), sched.lr(max(step-1, 0)), res.Images, true)
		if cfg.Eval != nil {
			t0 := time.Now()
			acc, err := EvaluateEngine(ctx, e, cfg.Eval, EvalOptions{Preprocess: &pre, Workers: cfg.LoaderWorkers})
			if err != nil {
				return nil, err
			}
			evalTime += time.Since(t0)
			p.Eval, res.Eval = &acc, &acc
		}
		if cfg.Progress != nil {
			cfg.Progress(p)
		}
	}
	res.Steps = step
	res.Epochs = float64(step) / float64(perEpoch)
	res.Duration = time.Since(start)
	res.EvalDuration = evalTime
	res.ImagesPerSec = float64(res.Images) / (res.Duration - evalTime).Seconds()
	if err := e.WriteBack(m.Graph); err != nil {
		return nil, err
	}
	return res, nil
}

func progressAt(start time.Time, evalTime time.Duration, step, total, epoch, epochs int, loss, lr float64, images int, end bool) Progress {
	el := time.Since(start)
	train := el - evalTime
	p := Progress{Epoch: epoch + 1, Epochs: epochs, Step: step, Steps: total, Loss: loss, LR: lr,
		Elapsed: el, EpochEnd: end}
	if s := train.Seconds(); s > 0 {
		p.ImagesPerSec = float64(images) / s
	}
	if step > 0 {
		p.ETA = time.Duration(float64(train) * float64(total-step) / float64(step))
	}
	return p
}

// layout is how a model's image input is laid out.
type layout struct {
	n, c, h, w int
	nhwc       bool
}

// layoutOf reads an image input shape (dataset.InputOf).
func layoutOf(shape []int) (layout, error) {
	dims := make([]int64, len(shape))
	for i, d := range shape {
		dims[i] = int64(d)
	}
	in, err := dataset.InputOf(dims)
	if err != nil {
		return layout{}, fmt.Errorf("finetune: %w", err)
	}
	return layout{n: shape[0], c: in.Channels, h: in.Height, w: in.Width, nhwc: in.NHWC}, nil
}

// preprocess returns p, or the "none" preset for the input when p is nil,
// checked against the input.
func (l layout) preprocess(p *dataset.Preprocess) (dataset.Preprocess, error) {
	if p == nil {
		return dataset.Preset("none", l.c, l.h, l.w)
	}
	if p.Channels != l.c || p.Height != l.h || p.Width != l.w {
		return dataset.Preprocess{}, fmt.Errorf("finetune: preprocessing makes %d×%d×%d samples, the model takes %d×%d×%d", p.Channels, p.Height, p.Width, l.c, l.h, l.w)
	}
	return *p, nil
}

// load copies a batch into an input of the layout; rows past b.N are
// zeroed.
func (l layout) load(dst []float32, b *dataset.Batch) {
	per := l.c * l.h * l.w
	if !l.nhwc {
		copy(dst, b.X[:b.N*per])
	} else {
		hw := l.h * l.w
		for n := 0; n < b.N; n++ {
			src, out := b.X[n*per:(n+1)*per], dst[n*per:(n+1)*per]
			for c := 0; c < l.c; c++ {
				for p := 0; p < hw; p++ {
					out[p*l.c+c] = src[c*hw+p]
				}
			}
		}
	}
	clear(dst[b.N*per : len(dst)])
}

// teacherRun runs the teacher in onnxruntime.
type teacherRun struct {
	s     *ort.Session
	shape []int64
	k     int
}

// LogitsModel returns a copy of m whose first output is the logits: a final
// Softmax or LogSoftmax is cut off.
func LogitsModel(m *onnxio.Model) *onnxio.Model {
	c := m.Clone()
	g := c.Graph
	if len(g.Outputs) == 0 {
		return c
	}
	if p := g.Outputs[0].Producer(); p != nil && (p.Op == "Softmax" || p.Op == "LogSoftmax") && p.Input(0) != nil {
		g.Outputs = append([]*onnxio.Value{p.Input(0)}, g.Outputs[1:]...)
		g.RemoveUnused()
	}
	return c
}

// newTeacher prepares m to give logits for batches of the given input
// shape. It runs on one onnxruntime thread that sleeps rather than spins
// between batches: it works beside the engine's own threads, one batch
// ahead of them (see prefetch).
func newTeacher(m *onnxio.Model, shape []int, classes int) (*teacherRun, error) {
	c := LogitsModel(m)
	g := c.Graph
	t := &teacherRun{k: classes}
	for _, d := range shape {
		t.shape = append(t.shape, int64(d))
	}
	var in *onnxio.Value
	for _, v := range g.Inputs {
		if v.Const == nil {
			in = v
			break
		}
	}
	if in == nil {
		return nil, errors.New("finetune: teacher has no input")
	}
	if err := g.SetInputShape(in.Name, t.shape); err != nil {
		return nil, err
	}
	if err := g.InferShapes(); err != nil {
		return nil, fmt.Errorf("finetune: teacher: %w", err)
	}
	data, err := onnxio.Encode(c)
	if err != nil {
		return nil, err
	}
	if t.s, err = ort.NewSession(data, ort.Options{IntraOpThreads: 1, NoSpinning: true}); err != nil {
		return nil, fmt.Errorf("finetune: teacher: %w", err)
	}
	return t, nil
}

func (t *teacherRun) logits(x []float32) ([]float32, error) {
	in, err := ort.NewFloat32(t.shape, x)
	if err != nil {
		return nil, err
	}
	out, err := t.s.Run([]ort.Tensor{in})
	if err != nil {
		return nil, fmt.Errorf("finetune: teacher: %w", err)
	}
	f, err := out[0].Float32()
	if err != nil {
		return nil, err
	}
	if len(f) != int(t.shape[0])*t.k {
		return nil, fmt.Errorf("finetune: teacher gives %d logits for a batch of %d, the student %d classes", len(f), t.shape[0], t.k)
	}
	return f, nil
}

func (t *teacherRun) close() { t.s.Close() }

// prefetch feeds the training loop one batch ahead. While the engine
// trains on one batch, the next is copied out of the loader and the
// teacher, when there is one, computes its logits on its own thread: in
// line, the teacher's forward pass left the engine's two threads idle for
// a third of every distillation step, and on a core shared with another
// process it took a 6M-MAC model's training from 597 images/s to 325–363.
type prefetch struct {
	it      *dataset.Iterator
	lay     layout
	teacher *teacherRun
	slots   [2]*batchAhead
	slot    int         // the slot the next fetch fills
	pending *batchAhead // fetched, its logits under way; nil if none
	err     error       // the error the fetch after the last batch met (io.EOF at the end)
}

// batchAhead is one batch in the engine's input layout, with its labels
// and its teacher's logits (nil without a teacher) once done is closed.
type batchAhead struct {
	x      []float32
	labels []int32
	logits []float32
	err    error
	done   chan struct{}
}

func newPrefetch(it *dataset.Iterator, lay layout, teacher *teacherRun, batch int) *prefetch {
	p := &prefetch{it: it, lay: lay, teacher: teacher}
	for i := range p.slots {
		p.slots[i] = &batchAhead{x: make([]float32, batch*lay.c*lay.h*lay.w), labels: make([]int32, batch)}
	}
	return p
}

// fetch reads the next batch into the next slot and starts its teacher.
func (p *prefetch) fetch() (*batchAhead, error) {
	b, err := p.it.Next()
	if err != nil {
		return nil, err
	}
	s := p.slots[p.slot]
	p.slot ^= 1
	p.lay.load(s.x, b)
	clear(s.labels)
	for i, l := range b.Labels[:b.N] {
		s.labels[i] = int32(l)
	}
	s.logits, s.err, s.done = nil, nil, make(chan struct{})
	if p.teacher == nil {
		close(s.done)
		return s, nil
	}
	go func() {
		defer close(s.done)
		s.logits, s.err = p.teacher.logits(s.x)
	}()
	return s, nil
}

// next returns the next batch with its logits, after starting the one
// after it when more are wanted; io.EOF at the end of the epoch. The batch
// is valid until the call after next.
func (p *prefetch) next(more bool) (*batchAhead, error) {
	cur := p.pending
	p.pending = nil
	if cur == nil {
		if p.err != nil {
			return nil, p.err
		}
		var err error
		if cur, err = p.fetch(); err != nil {
			return nil, err
		}
	}
	<-cur.done
	if cur.err != nil {
		return nil, cur.err
	}
	if more {
		p.pending, p.err = p.fetch()
	}
	return cur, nil
}

// close waits for a teacher still at work.
func (p *prefetch) close() {
	if p.pending != nil {
		<-p.pending.done
		p.pending = nil
	}
}
