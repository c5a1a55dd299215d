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
	"github.com/onnx-adapt/onnx-adapt/onnxio"
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
	lm, _, err := lossModel(m, n, false)
	if err != nil {
		t.Fatal(err)
	}
	e := frozenEngine(t, lm, n, true)
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
	const tol = 1e-5
	if worst := worstFD(x, grad, f, rng); worst > tol {
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

// centralDiff is the central finite difference of f with respect to x[i].
func centralDiff(x []float64, i int, f func() float64) float64 {
	const h = 1e-6
	old := x[i]
	x[i] = old + h
	up := f()
	x[i] = old - h
	down := f()
	x[i] = old
	return (up - down) / (2 * h)
}

// worstFD returns the largest relative difference between grad and
// central finite differences of f over 40 random coordinates of x.
func worstFD(x, grad []float64, f func() float64, rng *rand.Rand) float64 {
	worst := 0.0
	for _, i := range rng.Perm(len(x))[:40] {
		fd := centralDiff(x, i, f)
		worst = math.Max(worst, math.Abs(fd-grad[i])/math.Max(1, math.Abs(fd)))
	}
	return worst
}

// embedded returns the embedded Fashion-MNIST model, its shapes
// inferred, and its preprocessing.
func embedded(t *testing.T) (*onnxio.Model, dataset.Preprocess) {
	t.Helper()
	needORT(t)
	m, err := pretrained.Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Graph.InferShapes(); err != nil {
		t.Fatal(err)
	}
	pre, err := dataset.Preset("none", 1, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	return m, pre
}

// frozenEngine compiles m in float64 for batches of n with every
// initializer frozen; train adds the input gradient.
func frozenEngine(t *testing.T, m *onnxio.Model, n int, train bool) *finetune.Engine[float64] {
	t.Helper()
	var frozen []string
	for _, v := range m.Graph.Initializers() {
		frozen = append(frozen, v.Name)
	}
	e, err := finetune.Compile[float64](m, finetune.Options{Batch: n, Train: train, FreezeBN: true, InputGrad: train, Frozen: frozen})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestImagesMatchStatistics: images synthesised for the embedded
// Fashion-MNIST model match its stored BatchNormalization statistics
// within 0.1 stored deviations on average over layers and channels, for
// the means and for the deviations, measured by onnxruntime on the 8-bit
// images; the starting noise is at least three times further.
func TestImagesMatchStatistics(t *testing.T) {
	m, pre := embedded(t)
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
	if _, _, err := lossModel(m, 2, false); err == nil {
		t.Error("lossModel of a folded model did not fail")
	}
}

// TestClassTermGradient: the class term's gradient with respect to the
// logits matches central finite differences of w × the mean
// cross-entropy it returns, and it counts the rows whose top logit is the
// target.
func TestClassTermGradient(t *testing.T) {
	const n, k, w = 3, 5, 0.3
	rng := rand.New(rand.NewPCG(4, 5))
	z := make([]float64, n*k)
	for i := range z {
		z[i] = 3 * rng.NormFloat64()
	}
	targets := []int32{0, 4, 2}
	z[0*k+0] = 10 // row 0: the target is the top logit
	grad := make([]float64, n*k)
	class := newClassTerm[float64](k, targets, w)
	ce, hits := class.apply(z, grad)
	scratch := make([]float64, n*k)
	f := func() float64 {
		c, _ := class.apply(z, scratch)
		return w * c
	}
	for i := range z {
		if fd := centralDiff(z, i, f); math.Abs(fd-grad[i]) > 1e-7 {
			t.Errorf("d/dz[%d]: %.9g, finite differences %.9g", i, grad[i], fd)
		}
	}
	direct := 0.0
	wantHits := 0.0
	for r, tg := range targets {
		row := z[r*k : (r+1)*k]
		sum, top := 0.0, 0
		for c, v := range row {
			sum += math.Exp(v)
			if v > row[top] {
				top = c
			}
		}
		direct += (math.Log(sum) - row[tg]) / n
		if top == int(tg) {
			wantHits++
		}
	}
	if math.Abs(ce-direct) > 1e-12 || hits != wantHits/n {
		t.Errorf("cross-entropy %.12g hits %g, direct %.12g and %g", ce, hits, direct, wantHits/n)
	}
}

// TestImagesClassTerm: with the class term, the images synthesised for
// the embedded Fashion-MNIST model are classified as their targets by
// onnxruntime on the 8-bit images, at least 90% of them, and the
// statistics still match within 0.2 stored deviations.
func TestImagesClassTerm(t *testing.T) {
	m, pre := embedded(t)
	o := Options{Images: 24, Batch: 24, Steps: 60, Preprocess: pre, Seed: 1, ClassWeight: DefaultClassWeight}
	imgs, res, err := Images(context.Background(), m, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Targets) != len(imgs) {
		t.Fatalf("%d targets for %d images", len(res.Targets), len(imgs))
	}
	data, err := onnxio.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	ds := dataset.NewImages("synthetic", imgs)
	pred, _, err := finetune.Predict(context.Background(), data, ds, finetune.EvalOptions{Preprocess: &pre, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	hits, classes := 0, map[int]bool{}
	for i, p := range pred {
		if p == res.Targets[i] {
			hits++
		}
		classes[res.Targets[i]] = true
	}
	mm, err := Check(context.Background(), m, ds, pre, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d of %d classified as their target (engine: %.0f%%, cross-entropy %.3g) over %d classes; mismatch mean %.3f std %.3f", hits, len(pred), 100*res.Hits, res.ClassLoss, len(classes), mm.Mean, mm.Std)
	if hits < len(pred)*9/10 {
		t.Errorf("only %d of %d images are classified as their target", hits, len(pred))
	}
	if len(classes) < 5 {
		t.Errorf("the targets cover only %d classes", len(classes))
	}
	if mm.Mean > 0.2 || mm.Std > 0.2 {
		t.Errorf("statistics %.3f (means) and %.3f (deviations) stored deviations off; want at most 0.2", mm.Mean, mm.Std)
	}
}

// TestClassOutput: with the class term the loss model's output is the
// objective followed by the model's own logits, and the engine's input
// gradient of objective + w·cross-entropy matches finite differences.
func TestClassOutput(t *testing.T) {
	m, err := models.MobileNetV2(models.Config{Width: 0.35, Resolution: 32, Classes: 4, InChannels: 1, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	const n, w = 3, 0.5
	plain, _, err := lossModel(m, n, false)
	if err != nil {
		t.Fatal(err)
	}
	lm, k, err := lossModel(m, n, true)
	if err != nil {
		t.Fatal(err)
	}
	if k != 4 {
		t.Fatalf("%d classes, want 4", k)
	}
	e, pe, le := frozenEngine(t, lm, n, true), frozenEngine(t, plain, n, false), frozenEngine(t, m, n, false)
	if len(e.Logits()) != 1+n*k {
		t.Fatalf("output of %d values, want %d", len(e.Logits()), 1+n*k)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := e.Input(0)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	copy(pe.Input(0), x)
	copy(le.Input(0), x)
	e.Forward(true)
	pe.Forward(false)
	le.Forward(false)
	out := e.Logits()
	if math.Abs(out[0]-pe.Output(0)[0]) > 1e-12 {
		t.Errorf("objective %.12g, without logits %.12g", out[0], pe.Output(0)[0])
	}
	for i, v := range le.Output(0) {
		if math.Abs(out[1+i]-v) > 1e-12 {
			t.Fatalf("logit %d: %.12g, the model's %.12g", i, out[1+i], v)
		}
	}
	targets := []int32{1, 3, 0}
	class := newClassTerm[float64](k, targets, w)
	scratch := make([]float64, n*k)
	f := func() float64 {
		e.Forward(true)
		o := e.Logits()
		ce, _ := class.apply(o[1:], scratch)
		return o[0] + w*ce
	}
	f()
	g := e.LogitsGrad()
	g[0] = 1
	class.apply(e.Logits()[1:], g[1:])
	e.Backward()
	grad := append([]float64(nil), e.InputGrad(0)...)
	if worst := worstFD(x, grad, f, rng); worst > 1e-5 {
		t.Errorf("input gradient differs from finite differences by up to %.3g", worst)
	}
}

// TestClassTermNeedsScores: the class term refuses a model whose first
// output is not N×K class scores, with ErrNoClassScores; without it the
// same model still gives the statistics objective.
func TestClassTermNeedsScores(t *testing.T) {
	m, err := models.MobileNetV2(models.Config{Width: 0.35, Resolution: 32, Classes: 4, InChannels: 1, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	m.Graph.Outputs = []*onnxio.Value{m.Graph.Value(layers(m.Graph)[1].input)} // a 4-D feature map
	if _, _, err := lossModel(m, 2, true); !errors.Is(err, ErrNoClassScores) {
		t.Errorf("class term on a feature-map output: %v, want ErrNoClassScores", err)
	}
	if _, k, err := lossModel(m, 2, false); err != nil || k != 0 {
		t.Errorf("without the class term: %d classes, %v", k, err)
	}
}
