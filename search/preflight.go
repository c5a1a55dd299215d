package search

import (
	"fmt"
	"strings"

	"github.com/onnx-adapt/onnx-adapt/internal/cost"
	"github.com/onnx-adapt/onnx-adapt/internal/measure"
	"github.com/onnx-adapt/onnx-adapt/lut"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

// What a search can reach is known before it starts: the groups it may
// prune, and the resources of the model with every one of them cut to its
// smallest width. Run refuses a model or a target beyond that before it
// writes anything (Preflight for what needs no measurement; Run itself
// for a latency target, once the source is measured and the table
// calibrated).

// FrozenError is a model none of whose channel groups may be pruned.
type FrozenError struct {
	// Reasons lists each group with why it is frozen ("group 3 (conv1):
	// ...").
	Reasons []string
}

func (e *FrozenError) Error() string {
	if len(e.Reasons) == 0 {
		return "search: the model has no channel group to prune (no Conv, Gemm or MatMul whose filters could go)"
	}
	return fmt.Sprintf("search: every channel group of the model is frozen, so nothing can be pruned: %s; see onnx-adapt groups MODEL",
		strings.Join(e.Reasons, "; "))
}

// UnreachableError is a target below the best value pruning can reach.
type UnreachableError struct {
	Resource Resource
	// Target is the constraint; Best the resource with every prunable
	// group at its smallest width (RoundTo channels; a group of RoundTo
	// or fewer left whole), priced as the search prices (for latency, the
	// calibrated table estimate, in ms, or its ratio to the source for a
	// fractional target; where the calibration line crosses zero that far
	// from the models it was fitted on, the source's measured latency times
	// the ratio of the raw table sums).
	Target, Best float64
	Fraction     bool
	RoundTo      int
	// Measured: Best is that smallest model timed alongside the source
	// (with its noise, Noise), which a latency target is refused on; the
	// table's price alone never refuses one (see reachable).
	Measured bool
	Noise    float64
}

func (e *UnreachableError) Error() string {
	f := func(v float64) string {
		switch {
		case e.Resource != Latency:
			return cost.String(int64(v))
		case e.Fraction:
			return fmt.Sprintf("%.3g of the source's latency", v)
		}
		return fmt.Sprintf("%.4g ms", v)
	}
	flag := map[Resource]string{Latency: "latency", MACs: "MACs", Params: "parameter"}[e.Resource]
	best := f(e.Best)
	if e.Measured {
		noise := fmt.Sprintf("%.3g", e.Noise) // a fraction of the source's latency
		if !e.Fraction {
			noise = f(e.Noise)
		}
		best += " (measured, ± " + noise + ")"
	}
	return fmt.Sprintf("search: the %s target %s is below what pruning can reach: %s with every prunable group cut to %d channels; give a target of at least %s",
		flag, f(e.Target), best, e.RoundTo, f(e.Best))
}

// Preflight checks, without measuring or writing anything, that m can be
// adapted to opts.Constraints: some channel group may be pruned
// (*FrozenError otherwise) and the MACs and parameter targets are within
// reach (*UnreachableError otherwise). m must have its shapes inferred. A
// latency target is checked by Run, after it has calibrated the table on
// the source.
func Preflight(m *onnxio.Model, opts Options) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	opts.fill()
	plan, err := smallestPlan(m, opts)
	if err != nil {
		return err
	}
	res, err := lut.PlanResources(m, plan, nil, nil)
	if err != nil {
		return err
	}
	c := opts.Constraints
	for _, r := range []struct {
		r      Resource
		target int64
		best   int64
	}{{MACs, c.MACs, res.MACs}, {Params, c.Params, res.Params}} {
		if r.target > 0 && r.best > r.target {
			return &UnreachableError{Resource: r.r, Target: float64(r.target), Best: float64(r.best), RoundTo: opts.RoundTo}
		}
	}
	return nil
}

// smallestPlan is the plan that cuts every prunable group of m to its
// smallest width: RoundTo channels, as the search's choices go (groups of
// RoundTo channels or fewer stay whole). A model without a prunable group
// is a *FrozenError.
func smallestPlan(m *onnxio.Model, opts Options) (surgery.Plan, error) {
	an, err := surgery.Analyze(m.Graph)
	if err != nil {
		return surgery.Plan{}, err
	}
	groups := an.Prunable()
	if len(groups) == 0 {
		e := &FrozenError{}
		for _, g := range an.Groups {
			e.Reasons = append(e.Reasons, fmt.Sprintf("group %d (%s): %s", g.ID, strings.Join(g.Roots, ", "), g.Frozen))
		}
		return surgery.Plan{}, e
	}
	p := surgery.Plan{Rank: opts.Rank, RoundTo: opts.RoundTo, Groups: []surgery.GroupPlan{}}
	for _, g := range groups {
		if g.Size > opts.RoundTo {
			p.Groups = append(p.Groups, surgery.GroupPlan{Group: g.ID, Drop: g.Size - opts.RoundTo})
		}
	}
	return p, nil
}

// reachable checks a latency target against the source with every
// prunable group at its smallest width, priced by the calibrated table and
// by the ratio of raw table sums; the lower price is the best reachable.
// When even that misses the target, the smallest model is built and timed
// alongside the source (measureSmallest), and the target is refused only
// when that measurement misses it with confidence (measure.Sure).
//
// The table's price of a model that far from the source rests on its
// smallest entries and on the per-run overhead entry it subtracts from
// every unit, each measured at another moment. On a host whose speed
// moves (this project's shared VM alternates between two speeds a quarter
// apart), a fresh table with its overhead entry timed in a fast phase
// (1.2 µs where other tables read 1.9–2.3) and its 8-channel entries in a
// slow one priced the quickstart's smallest model at 0.785 of the source,
// and the quickstart refused its own 60% target (BENCHMARKS.md); other
// fresh tables of the same model on the same machine priced it at 0.35.
func (s *searcher) reachable() error {
	if !s.constrained(Latency) {
		return nil
	}
	plan, err := smallestPlan(s.src.model, s.opts)
	if err != nil {
		return err
	}
	p, err := s.price(s.src, plan, Latency)
	if err != nil {
		return err
	}
	// One table estimate of the source gives both its calibrated price and
	// its raw sum.
	est, err := s.opts.Table.Estimate(s.src.model.Graph, &s.cal.cal)
	if err != nil {
		return err
	}
	src := est.MS
	best, ratio := p.value, p.value/src
	// The calibration is a line fitted on the source and a few variants
	// near it: far below them it can cross zero, and on a loaded machine
	// its noise has priced the smallest model above the source. The
	// smallest model is also priced in proportion to the raw table sums,
	// and a target is refused only when both prices are above it.
	if p.res.Latency != nil && est.RawMS > 0 && s.src.fig.MeasuredMS > 0 {
		r := p.res.Latency.RawMS / est.RawMS
		if !(best > 0) || !(src > 0) || r < ratio {
			best, ratio = r*s.src.fig.MeasuredMS, r
		}
	} else if !(best > 0) || !(src > 0) {
		return nil
	}
	c := s.res.Constraints
	e := &UnreachableError{Resource: Latency, Target: c.LatencyMS, Best: best, RoundTo: s.opts.RoundTo}
	if f := s.opts.Constraints.LatencyFraction; f > 0 {
		e.Fraction, e.Target, e.Best = true, f, ratio
	}
	s.opts.Log.Info("smallest reachable latency", "best", e.Best, "target", e.Target)
	if e.Best <= e.Target {
		return nil
	}
	r, l, err := s.measureSmallest(plan)
	if err != nil {
		return err
	}
	e.Measured, e.Best, e.Noise = true, r.Value, r.Noise
	if !e.Fraction {
		e.Best, e.Noise = l.MS, l.NoiseMS
	}
	v := measure.Judge(e.Best, e.Noise, e.Target)
	s.opts.Log.Info("smallest reachable latency, measured", "best", e.Best, "noise", e.Noise, "target", e.Target, "verdict", v.String())
	if v.Missed() {
		return e
	}
	return nil
}

// measureSmallest builds the source with plan applied and times it
// alongside the source as the iterations' models are (Options.Measure, in
// one call of Options.Timer), returning its ratio to the source (with the
// run's floor) and its latency.
func (s *searcher) measureSmallest(plan surgery.Plan) (measure.Ratio, measure.Latency, error) {
	m := s.src.model.Clone()
	if err := surgery.Apply(m.Graph, plan); err != nil {
		return measure.Ratio{}, measure.Latency{}, err
	}
	data, err := onnxio.Encode(m)
	if err != nil {
		return measure.Ratio{}, measure.Latency{}, err
	}
	lats, err := s.timer()([][]byte{s.src.data, data}, s.opts.Measure)
	if err != nil {
		return measure.Ratio{}, measure.Latency{}, err
	}
	r, err := measure.RatioWithin(lats[1], lats[0], s.floor)
	return r, lats[1], err
}
