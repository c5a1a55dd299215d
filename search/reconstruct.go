package search

import (
	"context"
	"fmt"
	"time"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/recon"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

// Recon configures reconstruction after removal (package recon): after a
// candidate's cut, the layers that read the removed channels are refitted
// by least squares to reproduce what they computed in the current model,
// and the channels a group keeps may be chosen by that refit's error.
type Recon struct {
	// Refit refits every candidate's consumer layers before its
	// short-term fine-tuning.
	Refit bool `json:"refit"`
	// Rank chooses the channels a candidate keeps by reconstruction error
	// (recon.Stats.Keep) instead of Options.Rank's filter norms.
	Rank bool `json:"rank"`
	// Anchor refits, before the long-term fine-tune, every refittable
	// layer of the last iteration's model front to back towards the
	// source's outputs at that layer (recon.Anchor), and keeps the result
	// when it lowers the held-out loss without losing more held-out top-1
	// than a candidate may (Result.Anchor).
	Anchor bool `json:"anchor,omitempty"`
	// AnchorEvery, with Anchor, also anchors the model of every
	// AnchorEvery-th iteration before it is written, so that the drift of
	// the cut-by-cut refits does not accumulate over the whole path
	// (Iteration.Anchor); 0: only the last model.
	AnchorEvery int `json:"anchor_every,omitempty"`
	// Options configure the statistics (images, rows, seed), collected
	// on the training data (its labels are not used); Preprocess, Threads
	// and Workers default to Options.Eval's.
	Options recon.Options `json:"-"`
}

// on reports whether any reconstruction is on (and recorded in Settings).
func (r Recon) on() bool { return r.stats() || r.Anchor }

// stats reports whether candidates need the statistics of each
// iteration's model (Anchor collects its own).
func (r Recon) stats() bool { return r.Refit || r.Rank }

// reconState holds the statistics of the current iteration's model.
type reconState struct {
	cur   *onnxio.Model
	stats *recon.Stats
}

// apply prunes m, a clone of cur, to candidate c (and its pair): with the
// reconstruction ranking it first chooses the kept channels (Channels),
// and with the refit it refits the layers that read the removed channels
// afterwards, recording the fits in c.
func (s *searcher) apply(cur, m *onnxio.Model, c *Candidate) error {
	r := s.opts.Recon
	if !r.stats() {
		return surgery.Apply(m.Graph, s.planFor(c))
	}
	st, err := s.reconStats(cur)
	if err != nil {
		return err
	}
	if r.Rank {
		for p := c; p != nil; p = p.Pair {
			g := st.Analysis().Group(p.Group)
			if g == nil || g.Size != p.Size {
				return fmt.Errorf("search: candidate group %d of %d channels is not group %v of the statistics", p.Group, p.Size, g)
			}
			if p.Channels, err = st.Keep(g, p.Keep); err != nil {
				return err
			}
		}
	}
	plan, err := st.Analysis().Resolve(s.planFor(c))
	if err != nil {
		return err
	}
	if err := surgery.Apply(m.Graph, plan); err != nil {
		return err
	}
	if !r.Refit {
		return nil
	}
	fits, err := st.Refit(m, plan)
	if err != nil {
		return err
	}
	c.Recon = fits
	return nil
}

// reconOptions are the options of the statistics, with the evaluation's
// preprocessing, threads and workers where they are not set.
func (s *searcher) reconOptions() recon.Options {
	o := s.opts.Recon.Options
	if o.Preprocess == nil {
		o.Preprocess = s.opts.Eval.Preprocess
	}
	if o.Threads == 0 {
		o.Threads = s.opts.Eval.Threads
	}
	if o.Workers == 0 {
		o.Workers = s.opts.Eval.Workers
	}
	if o.Log == nil {
		o.Log = s.opts.Log
	}
	return o
}

// reconStats returns the statistics of cur, collecting them on the first
// candidate of an iteration.
func (s *searcher) reconStats(cur *onnxio.Model) (*recon.Stats, error) {
	if s.recon.cur == cur && s.recon.stats != nil {
		return s.recon.stats, nil
	}
	st, err := recon.Collect(s.ctx, cur, s.opts.Train, s.reconOptions())
	if err != nil {
		return nil, err
	}
	s.opts.Log.Info("reconstruction statistics", "layers_skipped", len(st.Skipped), "images", st.Images, "seconds", st.Elapsed.Seconds())
	s.recon = reconState{cur: cur, stats: st}
	return st, nil
}

// AgreementLabels returns ds labelled with the top-1 predictions of model
// (serialized), so that accuracy on it is agreement with that model: how
// candidates are compared when the data has no labels.
func AgreementLabels(ctx context.Context, model []byte, ds dataset.Dataset, opts finetune.EvalOptions) (dataset.Dataset, error) {
	pred, k, err := finetune.Predict(ctx, model, ds, opts)
	if err != nil {
		return nil, err
	}
	return dataset.Relabel(ds, pred, k)
}

// AnchorResult reports the anchoring of the last iteration's model
// (Recon.Anchor): its held-out accuracy before and after, how many layers
// changed, and whether the anchored weights were kept.
type AnchorResult struct {
	Layers    int               `json:"layers"`
	Refitted  int               `json:"refitted"`
	Before    finetune.Accuracy `json:"held_out_before"`
	After     finetune.Accuracy `json:"held_out_after"`
	Kept      bool              `json:"kept"`
	Seconds   float64           `json:"seconds"`
	LayerFits []recon.Fit       `json:"fits,omitempty"`
}

// Outcome says whether the anchored weights were kept.
func (a *AnchorResult) Outcome() string {
	if a.Kept {
		return "kept"
	}
	return "not kept: the held-out loss did not fall, or top-1 fell more than a candidate may"
}

// anchor returns cur with every refittable layer refitted towards the
// source (recon.Anchor) when that lowers its held-out loss without losing
// more held-out top-1 than a candidate may (maxDrop), else cur; it also
// returns the record of both. Top-1 on the hundred held-out images of a
// 224×224 model moves in steps of a point; the loss, against the source's
// predictions without labels, is what the refit lowers.
func (s *searcher) anchor(cur *state) (*state, *AnchorResult, error) {
	if !s.opts.Recon.Anchor || cur.fig.HeldOut == nil {
		return cur, nil, nil
	}
	start := time.Now()
	s.emit(Event{Kind: AnchorStart})
	m := cur.model.Clone()
	fits, err := recon.Anchor(s.ctx, m, s.src.model, cur.plan, s.opts.Train, s.reconOptions())
	if err != nil {
		return nil, nil, err
	}
	acc, err := s.accuracy(m, s.opts.HeldOut)
	if err != nil {
		return nil, nil, err
	}
	before := *cur.fig.HeldOut
	r := &AnchorResult{Layers: len(fits), Refitted: recon.Refitted(fits), Before: before, After: acc, LayerFits: fits}
	r.Kept = acc.Loss < before.Loss && 100*(before.Top1-acc.Top1) <= s.maxDrop(cur)
	r.Seconds = time.Since(start).Seconds()
	s.opts.Log.Info("anchored", "layers", r.Layers, "refitted", r.Refitted, "held_out_before", before.Top1, "held_out_after", acc.Top1,
		"loss_before", before.Loss, "loss_after", acc.Loss, "kept", r.Kept, "seconds", r.Seconds)
	if !r.Kept {
		return cur, r, nil
	}
	next := *cur
	next.model = m
	next.fig.HeldOut = &acc
	return &next, r, nil
}
