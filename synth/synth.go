package synth

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"log/slog"
	"math"
	"math/rand/v2"
	"time"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/internal/kernels"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// Options configure Images.
type Options struct {
	// Images is the number of images (default 256), made Batch at a time
	// (default 32; the statistics are those of a batch, as in training).
	Images, Batch int
	// Steps is the number of Adam steps per batch (default 200); LR the
	// initial step in pixel units (default 0.1), decayed to zero on a
	// cosine.
	Steps int
	LR    float64
	// Preprocess is the model's input normalisation: its Mean and Std map
	// pixels in [0,1] to the model's input. Only those are used.
	Preprocess dataset.Preprocess
	// ClassWeight weighs the class term of DeepInversion (Yin et al., CVPR
	// 2020): every image is given a random target class, and the objective
	// adds ClassWeight times the batch's mean cross-entropy of the model's
	// prediction against those targets, so that the images are ones the
	// model classifies, and confidently. 0: the statistics alone (ZeroQ).
	ClassWeight float64
	// Seed seeds the initial images and the targets.
	Seed uint64
	// Workers is the number of kernel goroutines (0: GOMAXPROCS).
	Workers int
	// Log receives progress (nil: none).
	Log *slog.Logger
}

// Defaults of Options.
const (
	DefaultImages = 256
	DefaultBatch  = 32
	DefaultSteps  = 200
	DefaultLR     = 0.1
	// DefaultClassWeight is the class term's weight that adapt uses.
	DefaultClassWeight = 0.1
)

// Result describes a synthesis.
type Result struct {
	Images int `json:"images"`
	Batch  int `json:"batch"`
	Steps  int `json:"steps"`
	Layers int `json:"layers"`
	// Start and End are the objective of the first and last step,
	// averaged over the batches.
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	// ClassWeight is the option used. With a class term,
	// ClassLoss is the mean cross-entropy against the targets and Hits the
	// fraction of images the model gives their target class, at the last
	// step, averaged over the batches.
	ClassWeight float64 `json:"class_weight,omitempty"`
	ClassLoss   float64 `json:"class_loss,omitempty"`
	Hits        float64 `json:"hits,omitempty"`
	Seconds     float64 `json:"seconds"`
	// Targets are the images' target classes, in order (nil without a
	// class term).
	Targets []int `json:"-"`
}

// Images synthesises calibration images for m (see the package
// documentation). m must have BatchNormalization statistics (Layers > 0)
// and a fixed N×C×H×W image input with 1 or 3 channels.
func Images(ctx context.Context, m *onnxio.Model, opts Options) ([]image.Image, Result, error) {
	start := time.Now()
	o := opts
	if o.Images <= 0 {
		o.Images = DefaultImages
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	o.Batch = min(o.Batch, o.Images)
	if o.Steps <= 0 {
		o.Steps = DefaultSteps
	}
	if o.LR <= 0 {
		o.LR = DefaultLR
	}
	if o.ClassWeight < 0 {
		return nil, Result{}, fmt.Errorf("synth: negative class weight %g", o.ClassWeight)
	}
	res := Result{Images: o.Images, Batch: o.Batch, Steps: o.Steps, Layers: Layers(m), ClassWeight: o.ClassWeight}
	if o.Workers > 0 {
		defer kernels.SetWorkers(kernels.SetWorkers(o.Workers))
	}
	lm, k, err := lossModel(m, o.Batch, o.ClassWeight > 0)
	if err != nil {
		return nil, res, err
	}
	var frozen []string
	for _, v := range lm.Graph.Initializers() {
		frozen = append(frozen, v.Name)
	}
	e, err := finetune.Compile[float32](lm, finetune.Options{Batch: o.Batch, Train: true, FreezeBN: true, InputGrad: true, Frozen: frozen})
	if err != nil {
		return nil, res, err
	}
	shape := e.InputShape(0)
	if len(shape) != 4 || (shape[1] != 1 && shape[1] != 3) {
		return nil, res, fmt.Errorf("synth: the model input %v is not an image batch N×C×H×W of 1 or 3 channels", shape)
	}
	C, H, W := shape[1], shape[2], shape[3]
	mean, std := make([]float64, C), make([]float64, C)
	for c := range C {
		mean[c], std[c] = 0, 1
		if len(o.Preprocess.Mean) == C {
			mean[c], std[c] = float64(o.Preprocess.Mean[c]), float64(o.Preprocess.Std[c])
		}
	}
	per := C * H * W
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	var imgs []image.Image
	batches := 0
	targets := make([]int32, o.Batch)
	class := newClassTerm[float32](k, targets, o.ClassWeight)
	for len(imgs) < o.Images {
		opt := newAdam(o.Batch * per)
		p := opt.x
		// ZeroQ's start: N(0,1) in normalised units.
		for i := range p {
			c := (i / (H * W)) % C
			p[i] = min(1, max(0, mean[c]+std[c]*rng.NormFloat64()))
		}
		if k > 0 {
			for n := range targets {
				targets[n] = int32(rng.IntN(k))
			}
		}
		first, last, lastCE, lastHits := 0.0, 0.0, 0.0, 0.0
		for step := range o.Steps {
			x := e.Input(0)
			for i, v := range p {
				c := (i / (H * W)) % C
				x[i] = float32((v - mean[c]) / std[c])
			}
			e.Forward(true)
			out, grad := e.Logits(), e.LogitsGrad()
			loss := float64(out[0])
			grad[0] = 1
			if k > 0 {
				lastCE, lastHits = class.apply(out[1:], grad[1:])
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) || math.IsNaN(lastCE) {
				return nil, res, fmt.Errorf("synth: the objective diverged at step %d", step+1)
			}
			if step == 0 {
				first = loss
			}
			last = loss
			e.Backward()
			g := e.InputGrad(0)
			lr := o.LR * 0.5 * (1 + math.Cos(math.Pi*float64(step)/float64(o.Steps)))
			opt.step(lr, func(i int) float64 { return float64(g[i]) / std[(i/(H*W))%C] })
			for i, v := range p {
				p[i] = min(1, max(0, v))
			}
			if err := ctx.Err(); err != nil {
				return nil, res, err
			}
		}
		res.Start += first
		res.End += last
		res.ClassLoss += lastCE
		res.Hits += lastHits
		batches++
		for n := 0; n < o.Batch && len(imgs) < o.Images; n++ {
			imgs = append(imgs, toImage(p[n*per:(n+1)*per], C, H, W))
			if k > 0 {
				res.Targets = append(res.Targets, int(targets[n]))
			}
		}
		if o.Log != nil {
			o.Log.Info("synthetic batch", "images", len(imgs), "of", o.Images, "objective_start", first, "objective_end", last, "class_loss", lastCE, "hits", lastHits, "seconds", time.Since(start).Seconds())
		}
	}
	res.Start /= float64(batches)
	res.End /= float64(batches)
	res.ClassLoss /= float64(batches)
	res.Hits /= float64(batches)
	res.Seconds = time.Since(start).Seconds()
	return imgs, res, nil
}

// classTerm is DeepInversion's class term: w times the mean cross-entropy
// of rows of logits against their target classes, by finetune.LossGrad.
// That runs in float64 on copies of the logits, so that each gradient
// value is rounded to T once.
type classTerm[T finetune.Float] struct {
	loss    finetune.Loss
	targets []int32
	w       float64
	z, g    []float64 // float64 copies of the logits and their gradient
}

// newClassTerm returns the class term for one row of k logits per target;
// it reads targets at every apply (Images refills them batch by batch).
func newClassTerm[T finetune.Float](k int, targets []int32, w float64) *classTerm[T] {
	n := len(targets) * k
	return &classTerm[T]{loss: finetune.Loss{Classes: k}, targets: targets, w: w, z: make([]float64, n), g: make([]float64, n)}
}

// apply writes into grad the gradient of the term at the logits z, and
// returns the mean cross-entropy (unweighted) and the fraction of rows
// whose largest logit is the target's.
func (c *classTerm[T]) apply(z, grad []T) (ce, hits float64) {
	k := c.loss.Classes
	for i := range c.z {
		c.z[i] = float64(z[i])
	}
	ce = finetune.LossGrad(&c.loss, len(c.targets), c.z, c.targets, nil, c.g).CE
	for i, v := range c.g {
		grad[i] = T(c.w * v)
	}
	for r, t := range c.targets {
		row := c.z[r*k : (r+1)*k]
		top := 0
		for j := range row {
			if row[j] > row[top] {
				top = j
			}
		}
		if top == int(t) {
			hits++
		}
	}
	return ce, hits / float64(len(c.targets))
}

// toImage quantises pixels in [0,1], C×H×W, to an 8-bit image.
func toImage(p []float64, C, H, W int) image.Image {
	q := func(v float64) uint8 { return uint8(math.Round(255 * min(1, max(0, v)))) }
	if C == 1 {
		img := image.NewGray(image.Rect(0, 0, W, H))
		for i := range H * W {
			img.Pix[i] = q(p[i])
		}
		return img
	}
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	for y := range H {
		for x := range W {
			i := y*W + x
			img.SetRGBA(x, y, color.RGBA{q(p[i]), q(p[H*W+i]), q(p[2*H*W+i]), 255})
		}
	}
	return img
}

// adam is Adam (Kingma and Ba 2015) over a flat vector.
type adam struct {
	x, m, v []float64
	t       int
}

func newAdam(n int) *adam {
	return &adam{x: make([]float64, n), m: make([]float64, n), v: make([]float64, n)}
}

func (a *adam) step(lr float64, grad func(int) float64) {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	a.t++
	c1, c2 := 1-math.Pow(b1, float64(a.t)), 1-math.Pow(b2, float64(a.t))
	for i := range a.x {
		g := grad(i)
		a.m[i] = b1*a.m[i] + (1-b1)*g
		a.v[i] = b2*a.v[i] + (1-b2)*g*g
		a.x[i] -= lr * (a.m[i] / c1) / (math.Sqrt(a.v[i]/c2) + eps)
	}
}
