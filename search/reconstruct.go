package search

import (
	"context"
	"fmt"

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
	// Options configure the statistics (images, rows, seed), collected
	// on the training data (its labels are not used); Preprocess, Threads
	// and Workers default to Options.Eval's.
	Options recon.Options `json:"-"`
}

// on reports whether reconstruction statistics are needed.
func (r Recon) on() bool { return r.Refit || r.Rank }

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
	if !r.on() {
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

// reconStats returns the statistics of cur, collecting them on the first
// candidate of an iteration.
func (s *searcher) reconStats(cur *onnxio.Model) (*recon.Stats, error) {
	if s.recon.cur == cur && s.recon.stats != nil {
		return s.recon.stats, nil
	}
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
	st, err := recon.Collect(s.ctx, cur, s.opts.Train, o)
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
