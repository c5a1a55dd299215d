package finetune

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/internal/kernels"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
)

// Accuracy is the top-1 and top-5 accuracy over a dataset, ranked as
// numpy's argmax and PyTorch's topk rank: ties go to the lower class index
// and NaN ranks first (kernels.TopKCorrect), so a dead network that
// outputs equal scores is right about one time in the number of classes.
type Accuracy struct {
	Top1, Top5         float64 // fractions in [0,1]
	Correct1, Correct5 int
	N                  int
	// Loss is the mean cross-entropy of the softmax of the scores at the
	// labels (each image's at most maxImageLoss): a continuous figure that
	// tells apart models whose top-1 on a few hundred images ties, and
	// moves less from one sample of images to another.
	Loss    float64 `json:",omitempty"`
	lossSum float64
}

// maxImageLoss bounds one image's cross-entropy (a probability of e⁻¹⁰⁰),
// so that a dead network's NaN scores give a finite, large Loss.
const maxImageLoss = 100

func (a Accuracy) String() string {
	return fmt.Sprintf("top-1 %.2f%%, top-5 %.2f%% (%d/%d, %d/%d)", 100*a.Top1, 100*a.Top5, a.Correct1, a.N, a.Correct5, a.N)
}

func (a *Accuracy) add(n, k int, logits []float32, labels []int32) {
	a.Correct1 += kernels.TopKCorrect(n, k, logits, labels, 1)
	a.Correct5 += kernels.TopKCorrect(n, k, logits, labels, 5)
	for i := range n {
		l := kernels.CrossEntropyRow(logits[i*k:(i+1)*k], int(labels[i]))
		if !(l <= maxImageLoss) { // NaN too
			l = maxImageLoss
		}
		a.lossSum += l
	}
	a.N += n
}

func (a *Accuracy) finish() {
	if a.N > 0 {
		a.Top1 = float64(a.Correct1) / float64(a.N)
		a.Top5 = float64(a.Correct5) / float64(a.N)
		a.Loss = a.lossSum / float64(a.N)
	}
}

// EvalOptions configure Evaluate and EvaluateEngine.
type EvalOptions struct {
	// Batch is the batch size for a model with a dynamic batch dimension
	// (0: 64). A model with a fixed batch is run at that batch, the last
	// batch padded with zeros.
	Batch int
	// Threads is onnxruntime's intra-op thread count (0: its default).
	Threads int
	// Preprocess turns images into the model's input; nil uses the "none"
	// preset for the model's input shape.
	Preprocess *dataset.Preprocess
	// Workers is the number of decoding goroutines (0: GOMAXPROCS).
	Workers int
}

// Evaluate runs a serialized ONNX model in onnxruntime over ds and returns
// its top-1 and top-5 accuracy. The model's first input must be an image
// batch (N×C×H×W or N×H×W×C) and its first output the class scores (logits
// or probabilities). It fails with a clear error when the data has labels
// beyond the model's classes.
func Evaluate(ctx context.Context, model []byte, ds dataset.Dataset, opts EvalOptions) (Accuracy, error) {
	var acc Accuracy
	var labels []int32
	err := RunBatches(ctx, model, ds, opts, func(b *dataset.Batch, outs []ort.Tensor, classes int) error {
		if acc.N == 0 {
			if err := dataset.CheckClasses(ds, classes); err != nil {
				return err
			}
		}
		logits, err := outs[0].Float32()
		if err != nil {
			return fmt.Errorf("finetune: evaluate: %w", err)
		}
		labels = labels[:0]
		for _, l := range b.Labels[:b.N] {
			labels = append(labels, int32(l))
		}
		acc.add(b.N, classes, logits, labels)
		return nil
	})
	if err != nil {
		return acc, err
	}
	acc.finish()
	return acc, nil
}

// RunBatches runs a serialized ONNX model in onnxruntime over ds, in
// dataset order, and calls fn with every batch and the model's outputs for
// it. The model's first input must be an image batch (N×C×H×W or
// N×H×W×C); classes is the number of values per sample of its first
// output. A model with a fixed batch size runs at that size, the last
// batch padded with zeros: only the first b.N rows of the outputs are
// samples. The outputs are valid until fn returns.
func RunBatches(ctx context.Context, model []byte, ds dataset.Dataset, opts EvalOptions, fn func(b *dataset.Batch, outs []ort.Tensor, classes int) error) error {
	s, err := ort.NewSession(model, ort.Options{IntraOpThreads: opts.Threads, NoSpinning: true})
	if err != nil {
		return err
	}
	defer s.Close()
	ins := s.Inputs()
	if len(ins) != 1 {
		return fmt.Errorf("finetune: evaluate: the model has %d inputs; one image input is needed", len(ins))
	}
	if ins[0].DataType != ort.Float {
		return fmt.Errorf("finetune: evaluate: input %s is not float32", ins[0])
	}
	shape := make([]int, len(ins[0].Shape))
	for i, d := range ins[0].Shape {
		shape[i] = int(d)
	}
	fixed := len(shape) > 0 && shape[0] > 0
	batch := opts.Batch
	if batch <= 0 {
		batch = 64
	}
	if fixed {
		batch = shape[0]
	}
	if len(shape) == 4 {
		shape[0] = batch
	}
	for i, d := range shape {
		if d <= 0 {
			return fmt.Errorf("finetune: evaluate: input %s has dimension %d unknown", ins[0], i)
		}
	}
	lay, err := layoutOf(shape)
	if err != nil {
		return err
	}
	pre, err := lay.preprocess(opts.Preprocess)
	if err != nil {
		return err
	}
	ld, err := dataset.NewLoader(ds, dataset.Config{BatchSize: batch, Workers: opts.Workers, Preprocess: pre})
	if err != nil {
		return err
	}
	x := make([]float32, batch*lay.c*lay.h*lay.w)
	it := ld.Epoch(ctx, 0)
	defer it.Close()
	classes, seen := 0, 0
	for {
		b, err := it.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		lay.load(x, b)
		n := batch
		if !fixed {
			n = b.N
		}
		in, err := ort.NewFloat32([]int64{int64(n), int64(shape[1]), int64(shape[2]), int64(shape[3])}, x[:n*len(x)/batch])
		if err != nil {
			return err
		}
		out, err := s.Run([]ort.Tensor{in})
		if err != nil {
			return err
		}
		k, err := perSample(out[0], n)
		if err != nil {
			return err
		}
		if classes == 0 {
			classes = k
		} else if k != classes {
			return fmt.Errorf("finetune: evaluate: output has %d values per sample, expected %d", k, classes)
		}
		if err := fn(b, out, classes); err != nil {
			return err
		}
		seen += b.N
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if seen == 0 {
		return errors.New("finetune: evaluate: the dataset is empty")
	}
	return nil
}

// perSample returns the number of values per sample of an output of a
// batch of n.
func perSample(t ort.Tensor, n int) (int, error) {
	total, err := ort.NumElements(t.Shape)
	if err != nil {
		return 0, err
	}
	if total%int64(n) != 0 || total == 0 {
		return 0, fmt.Errorf("finetune: evaluate: output %v has %d values for a batch of %d", t.Shape, total, n)
	}
	return int(total / int64(n)), nil
}

// EvaluateEngine computes the accuracy of an engine (inference semantics:
// BatchNormalization on running statistics, no Dropout) over ds, at the
// engine's batch size. The engine's input is overwritten.
func EvaluateEngine(ctx context.Context, e *Engine[float32], ds dataset.Dataset, opts EvalOptions) (Accuracy, error) {
	var acc Accuracy
	lay, err := layoutOf(e.InputShape(0))
	if err != nil {
		return acc, err
	}
	pre, err := lay.preprocess(opts.Preprocess)
	if err != nil {
		return acc, err
	}
	k := e.Classes()
	if err := dataset.CheckClasses(ds, k); err != nil {
		return acc, err
	}
	ld, err := dataset.NewLoader(ds, dataset.Config{BatchSize: lay.n, Workers: opts.Workers, Preprocess: pre})
	if err != nil {
		return acc, err
	}
	labels := make([]int32, lay.n)
	it := ld.Epoch(ctx, 0)
	defer it.Close()
	for {
		b, err := it.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return acc, err
		}
		lay.load(e.Input(0), b)
		e.Forward(false)
		for i, l := range b.Labels[:b.N] {
			labels[i] = int32(l)
		}
		acc.add(b.N, k, e.Output(0), labels)
		if err := ctx.Err(); err != nil {
			return acc, err
		}
	}
	if acc.N == 0 {
		return acc, errors.New("finetune: evaluate: the dataset is empty")
	}
	acc.finish()
	return acc, nil
}
