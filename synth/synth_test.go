package synth

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/models"
	"github.com/onnx-adapt/onnx-adapt/models/pretrained"
)

func needORT(tb testing.TB) {
	tb.Helper()
	if err := ort.Init(); err != nil {
		if errors.Is(err, ort.ErrLibraryNotFound) {
			tb.Skipf("onnxruntime not installed: %v", err)
		}
		tb.Fatal(err)
	}
}

// TestObjectiveGradient: the engine's gradient of the statistics objective
// with respect to the input matches central finite differences in
// float64, and the objective is the formula of the package documentation
// computed directly.
func TestObjectiveGradient(t *testing.T) {
	m, err := models.MobileNetV2(models.Config{Width: 0.35, Resolution: 32, Classes: 4, InChannels: 1, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3
	lm, err := lossModel(m, n)
	if err != nil {
		t.Fatal(err)
	}
	var frozen []string
	for _, v := range lm.Graph.Initializers() {
		frozen = append(frozen, v.Name)
	}
	e, err := finetune.Compile[float64](lm, finetune.Options{Batch: n, Train: true, FreezeBN: true, InputGrad: true, Frozen: frozen})
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Logits()) != 1 {
		t.Fatalf("objective output of %d values, want 1", len(e.Logits()))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := e.Input(0)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	f := func() float64 {
		e.Forward(true)
		return e.Logits()[0]
	}
	f()
	e.LogitsGrad()[0] = 1
	e.Backward()
	grad := append([]float64(nil), e.InputGrad(0)...)
	const h, tol = 1e-6, 1e-5
	worst := 0.0
	for _, i := range rng.Perm(len(x))[:40] {
		old := x[i]
		x[i] = old + h
		up := f()
		x[i] = old - h
		down := f()
		x[i] = old
		fd := (up - down) / (2 * h)
		worst = math.Max(worst, math.Abs(fd-grad[i])/math.Max(1, math.Abs(fd)))
	}
	if worst > tol {
		t.Errorf("input gradient differs from finite differences by up to %.3g (tolerance %g)", worst, tol)
	}
	// The objective itself, from the BN inputs computed by another engine.
	ls := layers(m.Graph)
	var names []string
	for _, l := range ls {
		names = append(names, l.input)
	}
	fe, err := finetune.Compile[float64](m, finetune.Options{Batch: n, Outputs: names})
	if err != nil {
		t.Fatal(err)
	}
	copy(fe.Input(0), x)
	fe.Forward(false)
	want := 0.0
	for li, l := range ls {
		v := fe.Output(li)
		C := len(l.mean)
		hw := len(v) / n / C
		for c := range C {
			m1, m2 := 0.0, 0.0
			for b := range n {
				for _, a := range v[(b*C+c)*hw : (b*C+c+1)*hw] {
					z := (a - l.mean[c]) / l.std[c]
					m1 += z
					m2 += z * z
				}
			}
			m1, m2 = m1/float64(n*hw), m2/float64(n*hw)
			want += (m1*m1 + (m2-1)*(m2-1)) / float64(C*len(ls))
		}
	}
	e.Forward(true)
	// The graph holds μ and 1/σ as float32 constants: agreement to
	// float32 rounding.
	if got := e.Logits()[0]; math.Abs(got-want) > 1e-6*math.Max(1, want) {
		t.Errorf("objective %.12g, direct %.12g", got, want)
	}
}

// TestImagesMatchStatistics: images synthesised for the embedded
// Fashion-MNIST model match its stored BatchNormalization statistics
// within 0.1 stored deviations on average over layers and channels, for
// the means and for the deviations, measured by onnxruntime on the 8-bit
// images; the starting noise is at least three times further.
func TestImagesMatchStatistics(t *testing.T) {
	needORT(t)
	m, err := pretrained.Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Graph.InferShapes(); err != nil {
		t.Fatal(err)
	}
	pre, _ := dataset.Preset("none", 1, 32, 32)
	opts := Options{Images: 24, Batch: 24, Steps: 60, Preprocess: pre, Seed: 1}
	check := func(o Options) Mismatch {
		imgs, _, err := Images(context.Background(), m, o)
		if err != nil {
			t.Fatal(err)
		}
		if len(imgs) != o.Images || imgs[0].Bounds().Dx() != 32 {
			t.Fatalf("%d images of width %d, want %d of 32", len(imgs), imgs[0].Bounds().Dx(), o.Images)
		}
		mm, err := Check(context.Background(), m, dataset.NewImages("synthetic", imgs), pre, 1)
		if err != nil {
			t.Fatal(err)
		}
		return mm
	}
	noise := opts
	noise.Steps, noise.LR = 1, 1e-12
	m0, m1 := check(noise), check(opts)
	t.Logf("mismatch: noise mean %.3f std %.3f; synthetic mean %.3f std %.3f (worst layer %.3f, %.3f)", m0.Mean, m0.Std, m1.Mean, m1.Std, m1.MaxMean, m1.MaxStd)
	const tol = 0.1
	if m1.Mean > tol || m1.Std > tol {
		t.Errorf("synthetic images are %.3f (means) and %.3f (deviations) stored deviations off; want at most %g", m1.Mean, m1.Std, tol)
	}
	if m0.Mean < 3*m1.Mean || m0.Std < 3*m1.Std {
		t.Errorf("noise is %.3f/%.3f off, synthetic %.3f/%.3f: the optimisation gained too little", m0.Mean, m0.Std, m1.Mean, m1.Std)
	}
}

// TestLayersFoldedModel: a model whose BatchNormalization is folded has no
// statistics to synthesise from.
func TestLayersFoldedModel(t *testing.T) {
	m, err := models.MobileNetV2(models.Config{Width: 0.35, Resolution: 32, Classes: 4, InChannels: 1, BN: models.BNFolded})
	if err != nil {
		t.Fatal(err)
	}
	if n := Layers(m); n != 0 {
		t.Errorf("a folded model has %d BatchNormalization layers", n)
	}
	if _, err := lossModel(m, 2); err == nil {
		t.Error("lossModel of a folded model did not fail")
	}
}
