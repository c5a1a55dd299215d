package finetune

import (
	"context"
	"math"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

func TestWilson(t *testing.T) {
	// Reference values: the closed form, (p + z²/2n ± z·√(p(1−p)/n +
	// z²/4n²)) / (1 + z²/n), worked by hand; 0/10 and 50/100 are the
	// textbook examples.
	for _, c := range []struct {
		k, n   int
		lo, hi float64
	}{
		{238, 300, 0.7440, 0.8353},
		{0, 10, 0, 0.2775},
		{10, 10, 0.7225, 1},
		{50, 100, 0.4038, 0.5962},
	} {
		lo, hi := Wilson(c.k, c.n, 1.96)
		if math.Abs(lo-c.lo) > 5e-4 || math.Abs(hi-c.hi) > 5e-4 {
			t.Errorf("Wilson(%d, %d) = [%.4f, %.4f], want [%.4f, %.4f]", c.k, c.n, lo, hi, c.lo, c.hi)
		}
	}
	if lo, hi := (Accuracy{Correct1: 50, N: 100}).Wilson95(); math.Abs(lo-0.4038) > 5e-4 || math.Abs(hi-0.5962) > 5e-4 {
		t.Errorf("Wilson95 = [%.4f, %.4f]", lo, hi)
	}
}

// TestPredictAgreement: a model's predictions, used as labels, give it
// 100% accuracy, and another model its agreement with the first.
func TestPredictAgreement(t *testing.T) {
	ds := fashionSubset(t, 96, true)
	a, b := smallMobileNet(t, 1), smallMobileNet(t, 2)
	da, err := onnxio.Encode(a)
	if err != nil {
		t.Fatal(err)
	}
	db, err := onnxio.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	opts := EvalOptions{Batch: 40}
	pa, k, err := Predict(context.Background(), da, ds, opts)
	if err != nil {
		t.Fatal(err)
	}
	pb, _, err := Predict(context.Background(), db, ds, opts)
	if err != nil {
		t.Fatal(err)
	}
	if k != 10 || len(pa) != ds.Len() {
		t.Fatalf("Predict: %d predictions of %d classes, want %d of 10", len(pa), k, ds.Len())
	}
	agree := 0
	for i := range pa {
		if pa[i] == pb[i] {
			agree++
		}
	}
	rel, err := dataset.Relabel(dataset.Unlabelled(ds), pa, k)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		model []byte
		want  int
	}{{da, ds.Len()}, {db, agree}} {
		acc, err := Evaluate(context.Background(), c.model, rel, opts)
		if err != nil {
			t.Fatal(err)
		}
		if acc.Correct1 != c.want || acc.N != ds.Len() {
			t.Errorf("accuracy against a's predictions: %d/%d, want %d", acc.Correct1, acc.N, c.want)
		}
	}
}

// TestTrainUnlabelled: unlabelled data is learnt by distillation alone. A
// student distilled from itself gets a zero gradient, so its weights do
// not move (no weight decay, BN frozen), whatever the labels underneath;
// the same data with labels moves them; without a teacher it is refused.
func TestTrainUnlabelled(t *testing.T) {
	ds := fashionSubset(t, 64, false)
	cfg := DefaultConfig()
	cfg.Steps, cfg.Batch, cfg.WeightDecay, cfg.FreezeBN, cfg.DistillWeight = 2, 32, 0, true, 0.5
	weights := func(m *onnxio.Model) []float32 {
		var all []float32
		for _, v := range m.Graph.Initializers() {
			if f, err := v.Const.Float32(); err == nil {
				all = append(all, f...)
			}
		}
		return all
	}
	// The teacher runs in onnxruntime and the student in Go: their logits
	// differ by rounding, so "does not move" is a bound, far below what
	// two labelled steps do.
	moved := func(a, b []float32) float64 {
		d := 0.0
		for i := range a {
			d = math.Max(d, math.Abs(float64(a[i]-b[i])))
		}
		return d
	}
	src := smallMobileNet(t, 3)
	for _, c := range []struct {
		name  string
		data  dataset.Dataset
		moved bool
	}{{"unlabelled", dataset.Unlabelled(ds), false}, {"labelled", ds, true}} {
		m := src.Clone()
		cfg.Teacher = src
		if _, err := Train(context.Background(), m, c.data, cfg); err != nil {
			t.Fatal(err)
		}
		d := moved(weights(m), weights(src))
		t.Logf("%s: max weight change %.3g", c.name, d)
		if (d > 1e-4) != c.moved {
			t.Errorf("%s: weights moved by up to %.3g; want a move (> 1e-4): %v", c.name, d, c.moved)
		}
	}
	cfg.Teacher = nil
	if _, err := Train(context.Background(), src.Clone(), dataset.Unlabelled(ds), cfg); err == nil {
		t.Error("Train on unlabelled data without a teacher did not fail")
	}
}
