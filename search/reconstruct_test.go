package search_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/models/pretrained"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/recon"
	"github.com/onnx-adapt/onnx-adapt/search"
)

// TestRunRecon adapts the embedded Fashion-MNIST model on unlabelled data
// with the refit and the reconstruction ranking and no short-term
// fine-tuning: every candidate reports a refit of the layers that read
// its removed channels that is no worse than the plain cut on held-apart
// rows, candidates are scored on agreement with the source, history.json
// records the mode, every iteration's model and the last are anchored
// towards the source (kept only when that lowers the held-out loss), and
// plan.json (whose kept channels the ranking chose) replays the adapted
// architecture.
func TestRunRecon(t *testing.T) {
	if err := ort.Init(); err != nil {
		t.Fatal(err)
	}
	src, err := pretrained.Load()
	if err != nil {
		t.Fatal(err)
	}
	train, held, _ := data(t, 256, 100, 0)
	train = dataset.Unlabelled(train)
	srcData, err := onnxio.Encode(src)
	if err != nil {
		t.Fatal(err)
	}
	eval := finetune.EvalOptions{Batch: 100, Threads: 1}
	held, err = search.AgreementLabels(context.Background(), srcData, dataset.Unlabelled(held), eval)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	target := macsOf(t, src) * 8 / 10
	long := shortTerm()
	long.Steps = 0
	res, err := search.Run(context.Background(), src, search.Options{
		Constraints: search.Constraints{MACs: target},
		Schedule:    search.Schedule{Iterations: 2},
		Train:       train, HeldOut: held,
		ShortTerm: finetune.Config{},
		LongTerm:  long,
		Recon:     search.Recon{Refit: true, Rank: true, Anchor: true, AnchorEvery: 1, Options: reconOptions()},
		Data:      search.DataInfo{Mode: search.ModeUnlabelled},
		Eval:      eval,
		Runtime:   ort.Options{IntraOpThreads: 1},
		Measure:   fastProtocol(),
		OutDir:    out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Met || len(res.Iterations) == 0 {
		t.Fatalf("met %v after %d iterations", res.Met, len(res.Iterations))
	}
	if res.Source.HeldOut.Top1 != 1 {
		t.Errorf("the source agrees with itself on %.3f of the held-out images", res.Source.HeldOut.Top1)
	}
	for _, it := range res.Iterations {
		for _, c := range it.Candidates {
			if c.Keep == 0 {
				continue
			}
			if len(c.Recon) == 0 {
				t.Errorf("iteration %d: group %d's candidate reports no refit", it.Index, c.Group)
			}
			for _, f := range c.Recon {
				if f.FitError > f.CutError+1e-12 || f.Features >= f.Of {
					t.Errorf("iteration %d, group %d: refit %+v is worse than the cut or removes nothing", it.Index, c.Group, f)
				}
			}
		}
	}
	// Every iteration's model and the last were anchored towards the
	// source; a kept anchoring lowered the held-out loss.
	anchors := []*search.AnchorResult{res.Anchor}
	for _, it := range res.Iterations {
		anchors = append(anchors, it.Anchor)
	}
	for i, a := range anchors {
		switch {
		case a == nil:
			t.Errorf("anchoring %d (0: the last model) is not recorded", i)
		case a.Layers == 0 || len(a.LayerFits) != a.Layers:
			t.Errorf("anchoring %d refitted no layer: %+v", i, a)
		case a.Kept && !(a.After.Loss < a.Before.Loss):
			t.Errorf("anchoring %d kept, but held-out loss %.4f → %.4f", i, a.Before.Loss, a.After.Loss)
		}
	}
	var hist search.Result
	readJSON(t, filepath.Join(out, "history.json"), &hist)
	if hist.Data.Mode != search.ModeUnlabelled || !hist.Recon.Refit || !hist.Recon.Rank || !hist.Recon.Anchor || hist.Anchor == nil {
		t.Errorf("history.json: data %+v, recon %+v", hist.Data, hist.Recon)
	}
	checkReplay(t, src, out, res)
}

func TestBudgets(t *testing.T) {
	for _, c := range []struct {
		macs         int64
		n            int
		steps, batch int
	}{
		{300e6, 800, 0, 8},   // MobileNetV2 at 224×224: too costly
		{6e6, 58000, 13, 64}, // the embedded model on Fashion-MNIST
		{6e6, 480, 7, 64},    // ... on 480 images: one pass
		{30e6, 800, 5, 32},   // a mid-sized model
		{6e6, 20, 0, 8},      // too few images
	} {
		if s, b := search.ShortTermBudget(c.macs, c.n); s != c.steps || b != c.batch {
			t.Errorf("ShortTermBudget(%d, %d) = %d steps of %d, want %d of %d", c.macs, c.n, s, b, c.steps, c.batch)
		}
	}
	for _, c := range []struct {
		macs     int64
		n, batch int
		epochs   float64
	}{
		{6e6, 58000, 64, 1},
		{6e6, 480, 64, 60},
		{300e6, 800, 8, 4.17},
	} {
		if e := search.LongTermEpochs(c.macs, c.n, c.batch); e != c.epochs {
			t.Errorf("LongTermEpochs(%d, %d, %d) = %g, want %g", c.macs, c.n, c.batch, e, c.epochs)
		}
	}
	for _, c := range []struct {
		macs        int64
		batch       int
		short, long float64
	}{
		{6e6, 64, 0.005, 0.01},         // the embedded model: the fixed rates
		{6e6, 16, 0.00125, 0.0025},     // ... scaled to the batch
		{30e6, 32, 0.0025, 0.005},      // at CostlyMACs: still the fixed rates
		{300e6, 8, 1e-4 / 8, 2e-4 / 8}, // MobileNetV2 at 224×224: not 0.00125, which wrecks it
	} {
		short := search.FineTuneLR(c.macs, c.batch, 0.005, search.CostlyShortLR)
		long := search.FineTuneLR(c.macs, c.batch, 0.01, search.CostlyLongLR)
		if math.Abs(short-c.short) > 1e-12 || math.Abs(long-c.long) > 1e-12 {
			t.Errorf("FineTuneLR(%d, batch %d) = %g short-term, %g long-term, want %g, %g", c.macs, c.batch, short, long, c.short, c.long)
		}
	}
	for _, c := range []struct {
		macs          int64
		images, steps int
	}{
		{6e6, 128, 200},
		{300e6, 64, 50},
	} {
		if n, s := search.SyntheticBudget(c.macs); n != c.images || s != c.steps {
			t.Errorf("SyntheticBudget(%d) = %d images of %d steps, want %d of %d", c.macs, n, s, c.images, c.steps)
		}
	}
	for _, c := range []struct {
		n    int
		macs int64
		want int
	}{{1000, 300e6, 100}, {600, 6e6, 120}, {60000, 6e6, 2000}, {3, 6e6, 1}} {
		if got := search.HeldOutSize(c.n, c.macs); got != c.want {
			t.Errorf("HeldOutSize(%d, %d) = %d, want %d", c.n, c.macs, got, c.want)
		}
	}
}

func reconOptions() recon.Options { return recon.Options{Images: 64, Threads: 1} }
