package finetune

import (
	"bytes"
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/internal/kernels"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/models"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

const fashionMNIST = "/usr/share/datasets/fashion-mnist"

func TestLossMatchesKernels(t *testing.T) {
	for _, tc := range []struct {
		name   string
		eps, w float64
		temp   float64
	}{
		{"ce", 0, 0, 1},
		{"ce-smoothing", 0.1, 0, 1},
		{"kd-only", 0, 1, 4},
		{"mixed", 0.1, 0.3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const N, K = 7, 5
			r := newRNG(2)
			z, te := make([]float64, N*K), make([]float64, N*K)
			fill64(r, z)
			fill64(r, te)
			labels := make([]int32, N)
			for i := range labels {
				labels[i] = int32(r.IntN(K))
			}
			l := &Loss{Classes: K, LabelSmoothing: tc.eps, DistillWeight: tc.w, Temperature: tc.temp}
			d := make([]float64, N*K)
			got := LossGrad(l, N, z, labels, te, d)
			dce, dkd := make([]float64, N*K), make([]float64, N*K)
			ce := kernels.SoftmaxCrossEntropy(N, K, z, labels, tc.eps, dce)
			kd := kernels.DistillationKL(N, K, z, te, tc.temp, dkd)
			want := (1-tc.w)*ce + tc.w*kd
			if math.Abs(got.Total-want) > 1e-12*math.Max(1, math.Abs(want)) {
				t.Errorf("loss %v, kernels give %v", got.Total, want)
			}
			for i := range d {
				w := (1-tc.w)*dce[i] + tc.w*dkd[i]
				if math.Abs(d[i]-w) > 1e-12 {
					t.Fatalf("dlogits[%d] = %v, kernels give %v", i, d[i], w)
				}
			}
			// And the gradient is the loss's.
			num := make([]float64, len(z))
			for i := range z {
				v := z[i]
				z[i] = v + fdStep
				lp := LossGrad(l, N, z, labels, te, nil).Total
				z[i] = v - fdStep
				lm := LossGrad(l, N, z, labels, te, nil).Total
				z[i] = v
				num[i] = (lp - lm) / (2 * fdStep)
			}
			if e := relErr(d, num); !(e <= gradTol) {
				t.Errorf("gradient ∞-norm relative error %.3g", e)
			}
		})
	}
}

func TestSchedule(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Schedule
		want map[int]float64 // step → lr, for base 1, 100 steps, 10 per epoch
	}{
		{"constant", Schedule{}, map[int]float64{0: 1, 50: 1, 99: 1}},
		{"cosine", Schedule{Kind: Cosine}, map[int]float64{0: 1, 50: 0.5, 100: 0}},
		{"cosine-min", Schedule{Kind: Cosine, MinLR: 0.2}, map[int]float64{0: 1, 50: 0.6}},
		{"cosine-warmup", Schedule{Kind: Cosine, WarmupEpochs: 2}, map[int]float64{0: 0.05, 9: 0.5, 19: 1, 20: 1, 60: 0.5}},
		{"step", Schedule{Kind: Step, StepEpochs: 3, Gamma: 0.5}, map[int]float64{0: 1, 29: 1, 30: 0.5, 60: 0.25, 99: 0.125}},
		{"step-default", Schedule{Kind: Step}, map[int]float64{32: 1, 33: 0.1, 66: 0.01}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.s.resolve(1, 100, 10)
			for step, want := range tc.want {
				if got := r.lr(step); math.Abs(got-want) > 1e-12 {
					t.Errorf("lr(%d) = %v, want %v", step, got, want)
				}
			}
		})
	}
}

func TestSGDWeightDecayOnlyOnWeights(t *testing.T) {
	b := newGB(17, 1)
	x := b.input("x", 2, 3, 4, 4)
	y := bn(b, conv(b, x, "c", 3, 4, 3, 1, true), "bn", 4)
	f := b.node("Flatten", vals(b.node("GlobalAveragePool", vals(y))))
	b.output(b.node("Gemm", vals(f, b.init("fc.w", 0, 0.3, 3, 4), b.init("fc.b", 0, 0.1, 3)), aInt("transB", 1)))
	e := mustCompile[float64](t, b.m, Options{Train: true})
	kinds := map[string]ParamKind{}
	for _, p := range e.Params() {
		kinds[p.Name] = p.Kind
		clear(p.Grad) // a zero gradient: only weight decay moves a parameter
	}
	want := map[string]ParamKind{"c.w": Weight, "c.b": Bias, "bn.scale": BNScale, "bn.bias": BNBias, "fc.w": Weight, "fc.b": Bias}
	if len(kinds) != len(want) {
		t.Fatalf("params %v, want %v", kinds, want)
	}
	before := map[string][]float64{}
	for _, p := range e.Params() {
		if kinds[p.Name] != want[p.Name] {
			t.Errorf("%s is %v, want %v", p.Name, kinds[p.Name], want[p.Name])
		}
		before[p.Name] = slices.Clone(p.Data)
	}
	opt, err := NewSGD(e.Params(), 0.9, 0.1, true)
	if err != nil {
		t.Fatal(err)
	}
	opt.Step(0.5)
	for _, p := range e.Params() {
		changed := !slices.Equal(before[p.Name], p.Data)
		if changed != p.Decay() {
			t.Errorf("%s (%v): changed %v by weight decay alone", p.Name, p.Kind, changed)
		}
		if p.Decay() && math.Abs(p.Data[0]-before[p.Name][0]*(1-0.5*0.1*1.9)) > 1e-12 {
			t.Errorf("%s: %v → %v, want the Nesterov decay step", p.Name, before[p.Name][0], p.Data[0])
		}
	}
}

// fashionSubset returns the first n training samples (or the test split).
func fashionSubset(t testing.TB, n int, test bool) dataset.Dataset {
	t.Helper()
	if _, err := os.Stat(fashionMNIST); err != nil {
		t.Skipf("Fashion-MNIST is not installed (%v); run ./scripts/setup", err)
	}
	sp, err := dataset.Open(fashionMNIST)
	if err != nil {
		t.Fatal(err)
	}
	ds := sp.Train
	if test {
		ds = sp.Test
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sub, err := dataset.Subset(ds, idx)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func smallMobileNet(t testing.TB, seed int64) *onnxio.Model {
	t.Helper()
	m, err := models.MobileNetV2(models.Config{Width: 0.35, Resolution: 32, Classes: 10, InChannels: 1, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestTrainSmoke trains a small MobileNetV2 on a few hundred Fashion-MNIST
// images: the loss must drop, the written-back model must run in
// onnxruntime, and onnxruntime's accuracy must agree with the engine's.
func TestTrainSmoke(t *testing.T) {
	train := fashionSubset(t, 384, false)
	test := fashionSubset(t, 200, true)
	m := smallMobileNet(t, 1)
	orig := m.Clone()
	cfg := DefaultConfig()
	cfg.Epochs, cfg.Batch, cfg.LR, cfg.Seed = 4, 32, 0.05, 1
	cfg.Eval = test
	var epochLoss []float64
	cfg.Progress = func(p Progress) {
		if p.EpochEnd {
			epochLoss = append(epochLoss, p.Loss)
			t.Logf("epoch %d/%d: loss %.4f, %s, %.0f img/s", p.Epoch, p.Epochs, p.Loss, p.Eval, p.ImagesPerSec)
		}
	}
	res, err := Train(context.Background(), m, train, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 4*384/32 || len(res.EpochLoss) != 4 || !slices.Equal(res.EpochLoss, epochLoss) {
		t.Fatalf("result %+v, progress losses %v", res, epochLoss)
	}
	if first, last := res.EpochLoss[0], res.EpochLoss[3]; !(last < 0.8*first) {
		t.Errorf("loss went from %.4f to %.4f; want a drop of at least 20%%", first, last)
	}
	// Weights changed, structure did not.
	if err := m.Graph.Verify(); err != nil {
		t.Fatal(err)
	}
	changed := 0
	for _, v := range m.Graph.Initializers() {
		a, _ := v.Const.Float32()
		b, _ := orig.Graph.Value(v.Name).Const.Float32()
		if !slices.Equal(a, b) {
			changed++
		}
	}
	if changed == 0 {
		t.Fatal("no initializer changed")
	}
	// The written-back model is saved (TestMain's ONNX checker vets it),
	// and onnxruntime agrees with the engine's own accuracy.
	path := filepath.Join(t.TempDir(), "trained.onnx")
	if err := onnxio.Save(path, m, onnxio.SaveOptions{Check: ort.Check}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := Evaluate(context.Background(), data, test, EvalOptions{Batch: 50})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("onnxruntime: %v; engine: %v", acc, res.Eval)
	if acc.N != 200 || abs(acc.Correct1-res.Eval.Correct1) > 1 || abs(acc.Correct5-res.Eval.Correct5) > 1 {
		t.Errorf("onnxruntime %v and the engine %v disagree", acc, *res.Eval)
	}
}

func abs(x int) int { return max(x, -x) }

// TestTrainDeterministic: the same seed gives byte-identical models
// whatever the number of kernel workers and loader goroutines (the
// kernels' reductions are split into fixed slots, not per worker), and
// another seed gives another model.
func TestTrainDeterministic(t *testing.T) {
	train := fashionSubset(t, 96, false)
	run := func(seed uint64, workers, loaders int) []byte {
		m := smallMobileNet(t, 2)
		cfg := DefaultConfig()
		cfg.Steps, cfg.Batch, cfg.Seed, cfg.Workers, cfg.LoaderWorkers = 3, 32, seed, workers, loaders
		cfg.Augment = &dataset.Augment{Pad: 2, HFlip: true}
		if _, err := Train(context.Background(), m, train, cfg); err != nil {
			t.Fatal(err)
		}
		data, err := onnxio.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	ref := run(5, 2, 2)
	for _, w := range []struct{ workers, loaders int }{{2, 2}, {1, 1}, {3, 1}, {4, 3}, {7, 2}} {
		if got := run(5, w.workers, w.loaders); !bytes.Equal(got, ref) {
			t.Errorf("seed 5 with %d kernel workers and %d loaders gives another model than with 2 and 2", w.workers, w.loaders)
		}
	}
	if bytes.Equal(run(6, 2, 2), ref) {
		t.Error("runs with different seeds are identical")
	}
}

// TestDistillationTeacher: a teacher identical to the student (BN frozen,
// so both compute the same function) gives a zero distillation loss at the
// first step, through onnxruntime.
func TestDistillationTeacher(t *testing.T) {
	train := fashionSubset(t, 64, false)
	m := smallMobileNet(t, 3)
	e := mustCompile[float32](t, m, Options{Batch: 32, Train: true, FreezeBN: true})
	tr, err := newTeacher(m, e.InputShape(0), e.Classes())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.close()
	pre, _ := dataset.Preset("none", 1, 32, 32)
	ld, err := dataset.NewLoader(train, dataset.Config{BatchSize: 32, Preprocess: pre})
	if err != nil {
		t.Fatal(err)
	}
	it := ld.Epoch(context.Background(), 0)
	defer it.Close()
	bt, err := it.Next()
	if err != nil {
		t.Fatal(err)
	}
	lay, _ := layoutOf(e.InputShape(0))
	lay.load(e.Input(0), bt)
	tl, err := tr.logits(e.Input(0))
	if err != nil {
		t.Fatal(err)
	}
	e.Forward(true)
	labels := make([]int32, 32)
	for i, l := range bt.Labels {
		labels[i] = int32(l)
	}
	lv := LossGrad(&Loss{Classes: 10, DistillWeight: 1, Temperature: 2}, 32, e.Logits(), labels, tl, nil)
	if !(lv.KD < 1e-9) || !(lv.CE > 0.5) {
		t.Errorf("KD %.3g (want ≈ 0), CE %.3g", lv.KD, lv.CE)
	}
	// A teacher that differs gives a positive KD loss.
	other, err := newTeacher(smallMobileNet(t, 4), e.InputShape(0), e.Classes())
	if err != nil {
		t.Fatal(err)
	}
	defer other.close()
	tl2, err := other.logits(e.Input(0))
	if err != nil {
		t.Fatal(err)
	}
	if lv := LossGrad(&Loss{Classes: 10, DistillWeight: 1, Temperature: 2}, 32, e.Logits(), labels, tl2, nil); !(lv.KD > 1e-3) {
		t.Errorf("KD against another model %.3g, want > 0", lv.KD)
	}
	// And Train runs with it.
	cfg := DefaultConfig()
	cfg.Steps, cfg.Batch, cfg.Teacher = 2, 32, m.Clone()
	if _, err := Train(context.Background(), m, train, cfg); err != nil {
		t.Fatal(err)
	}
}

// TestPrefetch: the training loop's batches, one ahead with the teacher's
// logits computed on another thread, are the loader's batches in its
// order, each with the logits the teacher gives that batch in line, and
// the epoch ends with io.EOF; a loop that stops short leaves nothing
// running.
func TestPrefetch(t *testing.T) {
	train := fashionSubset(t, 160, false)
	m := smallMobileNet(t, 3)
	e := mustCompile[float32](t, m, Options{Batch: 32, Train: true})
	tr, err := newTeacher(m, e.InputShape(0), e.Classes())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.close()
	lay, _ := layoutOf(e.InputShape(0))
	pre, _ := dataset.Preset("none", 1, 32, 32)
	cfg := dataset.Config{BatchSize: 32, Shuffle: true, DropLast: true, Seed: 7, Preprocess: pre}
	for _, whole := range []bool{true, false} { // the loop wants every batch, or stops one short
		ldA, _ := dataset.NewLoader(train, cfg)
		ldB, _ := dataset.NewLoader(train, cfg)
		want, got := ldA.Epoch(context.Background(), 0), ldB.Epoch(context.Background(), 0)
		p := newPrefetch(got, lay, tr, 32)
		x := make([]float32, 32*32*32)
		for i := 0; ; i++ {
			if !whole && i == 3 {
				break
			}
			b, err := p.next(whole || i < 2)
			wb, werr := want.Next()
			if werr == io.EOF {
				if err != io.EOF {
					t.Fatalf("batch %d: %v, want io.EOF", i, err)
				}
				break
			}
			if err != nil || werr != nil {
				t.Fatal(err, werr)
			}
			lay.load(x, wb)
			if !slices.Equal(b.x, x) {
				t.Fatalf("batch %d: inputs differ from the loader's", i)
			}
			for j, l := range wb.Labels[:wb.N] {
				if b.labels[j] != int32(l) {
					t.Fatalf("batch %d: label %d is %d, want %d", i, j, b.labels[j], l)
				}
			}
			tl, err := tr.logits(x)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(b.logits, tl) {
				t.Fatalf("batch %d: teacher logits differ from the teacher's in line", i)
			}
		}
		p.close()
		want.Close()
		got.Close()
	}
}

// TestMemoryBounded: after the first steps, training does not grow the
// heap: activations live in the arena, allocated once.
func TestMemoryBounded(t *testing.T) {
	m := smallMobileNet(t, 5)
	e := mustCompile[float32](t, m, Options{Batch: 16, Train: true})
	opt, _ := NewSGD(e.Params(), 0.9, 1e-4, false)
	loss := &Loss{Classes: 10}
	labels := make([]int32, 16)
	r := newRNG(1)
	step := func() {
		for i := range e.Input(0) {
			e.Input(0)[i] = float32(r.NormFloat64())
		}
		for i := range labels {
			labels[i] = int32(r.IntN(10))
		}
		e.Forward(true)
		LossGrad(loss, 16, e.Logits(), labels, nil, e.LogitsGrad())
		e.Backward()
		opt.Step(0.01)
	}
	heap := func() uint64 {
		// Twice: sync.Pool contents (the kernels' GEMM packing buffers)
		// survive one collection in the victim cache.
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	for range 3 {
		step()
	}
	h0 := heap()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	const steps = 30
	for range steps {
		step()
	}
	runtime.ReadMemStats(&ms1)
	h1 := heap()
	t.Logf("live heap %d → %d bytes over %d steps; %.0f bytes in %.0f allocations per step, mostly the kernels' goroutines and pooled GEMM buffers (arena %d bytes)",
		h0, h1, steps, float64(ms1.TotalAlloc-ms0.TotalAlloc)/steps, float64(ms1.Mallocs-ms0.Mallocs)/steps, 4*e.ArenaLen())
	if h1 > h0+64<<10 {
		t.Errorf("live heap grew from %d to %d bytes over %d steps", h0, h1, steps)
	}
}

// TestWriteBackLoadsInORT: trained values written back give a model that
// onnxruntime loads and whose outputs match the engine's.
func TestWriteBackLoadsInORT(t *testing.T) {
	for _, bnm := range []models.BNMode{models.BNKept, models.BNFolded} {
		t.Run(bnm.String(), func(t *testing.T) {
			m, err := models.MobileNetV2(models.Config{Width: 0.35, Resolution: 32, Classes: 10, BN: bnm, Seed: 9})
			if err != nil {
				t.Fatal(err)
			}
			e := mustCompile[float32](t, m, Options{Batch: 4, Train: true})
			opt, _ := NewSGD(e.Params(), 0.9, 1e-4, false)
			r := newRNG(4)
			labels := []int32{1, 2, 3, 4}
			for range 3 {
				for i := range e.Input(0) {
					e.Input(0)[i] = float32(r.NormFloat64())
				}
				e.Forward(true)
				LossGrad(&Loss{Classes: 10}, 4, e.Logits(), labels, nil, e.LogitsGrad())
				e.Backward()
				// A small rate: batch-4 steps at a large one make BN
				// layers so ill-conditioned that float32 rounding alone
				// (onnxruntime's included) moves the logits by 1e-4.
				opt.Step(0.01)
			}
			if err := e.WriteBack(m.Graph); err != nil {
				t.Fatal(err)
			}
			e.Forward(false)
			got := slices.Clone(e.Output(0))
			want := ortRun(t, m, []int64{4, 3, 32, 32}, e.Input(0))
			if d := maxRelDiff(got, want); !(d <= modelTol) {
				t.Errorf("after write-back onnxruntime differs from the engine by %.3g", d)
			}
			// The running statistics moved (BN kept).
			if bnm == models.BNKept && len(e.buffers) == 0 {
				t.Error("no BatchNormalization buffers")
			}
			data, err := onnxio.Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			s, err := ort.NewSession(data, ort.Options{})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
		})
	}
}

// TestClassMismatch: data with more classes than the model's output is
// refused with a clear error, by Train, Evaluate and EvaluateEngine.
func TestClassMismatch(t *testing.T) {
	ds := fashionSubset(t, 64, false) // 10 classes
	m, err := models.MobileNetV2(models.Config{Width: 0.35, Resolution: 32, Classes: 5, InChannels: 1})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "classes") || !strings.Contains(err.Error(), "5") {
			t.Errorf("%s: got %v, want an error about 5 model classes", what, err)
		}
	}
	cfg := DefaultConfig()
	cfg.Steps, cfg.Batch = 1, 32
	_, err = Train(context.Background(), m.Clone(), ds, cfg)
	check("Train", err)
	data, err := onnxio.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Evaluate(context.Background(), data, ds, EvalOptions{})
	check("Evaluate", err)
	e := mustCompile[float32](t, m, Options{Batch: 8})
	_, err = EvaluateEngine(context.Background(), e, ds, EvalOptions{})
	check("EvaluateEngine", err)
}
