package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/atomicfile"
	"github.com/onnx-adapt/onnx-adapt/internal/cost"
	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/lut"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

// Figures are a model's resources and accuracy.
type Figures struct {
	// MeasuredMS is the whole-model onnxruntime latency (median), with its
	// 10th and 90th percentiles; EstimatedMS the calibrated table estimate.
	MeasuredMS  float64 `json:"measured_ms"`
	P10MS       float64 `json:"p10_ms"`
	P90MS       float64 `json:"p90_ms"`
	EstimatedMS float64 `json:"estimated_ms,omitempty"`
	MACs        int64   `json:"macs"`
	Params      int64   `json:"params"`
	Bytes       int64   `json:"bytes"`
	// HeldOut is the held-out accuracy; Test the test accuracy, when test
	// data was given (reports only).
	HeldOut *finetune.Accuracy `json:"held_out,omitempty"`
	Test    *finetune.Accuracy `json:"test,omitempty"`
}

// Candidate is one group's proposal in an iteration.
type Candidate struct {
	Group int      `json:"group"`
	Roots []string `json:"roots"`
	Size  int      `json:"size"`
	// Keep is the largest channel count meeting the budget; 0 when none
	// does (Skipped says why).
	Keep        int     `json:"keep,omitempty"`
	EstimatedMS float64 `json:"estimated_ms,omitempty"`
	MACs        int64   `json:"macs,omitempty"`
	Params      int64   `json:"params,omitempty"`
	// HeldOutTop1 is the held-out top-1 after short-term fine-tuning.
	HeldOutTop1 float64 `json:"held_out_top1,omitempty"`
	Skipped     string  `json:"skipped,omitempty"`
}

// Iteration records one NetAdapt iteration.
type Iteration struct {
	Index    int     `json:"index"`
	Resource string  `json:"resource"`
	Budget   float64 `json:"budget"`
	// Chosen is the index in Candidates of the kept candidate.
	Chosen     int         `json:"chosen"`
	Candidates []Candidate `json:"candidates"`
	// Plan is the chosen pruning, relative to the previous iteration's
	// model.
	Plan    surgery.Plan `json:"plan"`
	File    string       `json:"file"`
	Figures Figures      `json:"figures"`
	Seconds float64      `json:"seconds"`
}

// Result is the outcome of Run, also written to OutDir/history.json.
type Result struct {
	Constraints Constraints `json:"constraints"`
	Schedule    Schedule    `json:"schedule"`
	Source      Figures     `json:"source"`
	Iterations  []Iteration `json:"iterations"`
	// Plan composes every iteration's plan: it replays the adapted
	// architecture on the original model (surgery.Apply).
	Plan surgery.Plan `json:"plan"`
	// Final is the adapted model after long-term fine-tuning, written to
	// File.
	Final Figures `json:"final"`
	File  string  `json:"file"`
	// Checks are the confirmation measurements taken whenever the search
	// was about to stop on a latency target (see Check).
	Checks []Check `json:"checks,omitempty"`
	// Met reports whether every constraint holds on the final model's
	// measured figures.
	Met     bool              `json:"met"`
	Seconds float64           `json:"seconds"`
	Cal     []lut.Calibration `json:"calibrations,omitempty"`
}

// Check is a confirmation measurement of the latency, with three times the
// runs. When the last iteration's measurement meets the latency target
// with the margin to spare, the search checks before it stops: a one-off
// measurement can be lucky, so it stops only when the check, too, is at
// least half the margin below the target, and otherwise goes on from the
// checked figure. The final model's verdict is a check against the target
// itself. With Constraints.LatencyFraction, each check times the source
// model too, interleaved with the current one, and the target follows it.
type Check struct {
	// After is the number of iterations done when the check was taken;
	// Final marks the final model's check.
	After int  `json:"after"`
	Final bool `json:"final,omitempty"`
	// SourceMS is the source's latency measured with the model, for a
	// fractional target.
	SourceMS   float64 `json:"source_ms,omitempty"`
	MeasuredMS float64 `json:"measured_ms"`
	LimitMS    float64 `json:"limit_ms"`
	Passed     bool    `json:"passed"`
}

// EventKind says what an Event reports.
type EventKind int

const (
	SourceMeasured EventKind = iota
	IterationStart
	CandidatePriced
	CandidateTuned
	IterationDone
	LongTermStart
	Done
)

// Event is a progress report of Run.
type Event struct {
	Kind      EventKind
	Iteration int
	Resource  Resource
	Budget    float64
	// Candidate is set for candidate events; Index/Count place it among
	// this iteration's candidates.
	Candidate    *Candidate
	Index, Count int
	// Figures is set for SourceMeasured, IterationDone and Done.
	Figures *Figures
}

type searcher struct {
	opts    Options
	srcData []byte // the source model, for fractional latency targets
	ctx     context.Context
	cal     lut.Calibration
	points  []lut.CalPoint
	fp      string
	source  Figures
	started time.Time
}

// Run adapts m (which it does not change) to opts.Constraints and returns
// the history. Files are written to opts.OutDir as it goes: each
// iteration's model, history.json after every iteration, and finally
// adapted.onnx and plan.json.
func Run(ctx context.Context, m *onnxio.Model, opts Options) (*Result, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	s := &searcher{opts: opts, ctx: ctx, started: time.Now()}
	cur := m.Clone()
	if err := cur.Graph.InferShapes(); err != nil {
		return nil, err
	}
	res := &Result{Constraints: opts.Constraints, Schedule: opts.Schedule, Plan: surgery.Plan{Rank: opts.Rank, Groups: []surgery.GroupPlan{}}}

	// The source: measured, estimated (which calibrates the table for it),
	// and evaluated.
	if opts.Table != nil {
		units, err := lut.Units(cur.Graph)
		if err != nil {
			return nil, err
		}
		s.fp = lut.Fingerprint(cur.Graph, units)
	}
	srcData, err := onnxio.Encode(cur)
	if err != nil {
		return nil, err
	}
	src, err := s.figures(cur, srcData, "source", true, opts.MeasureRuns)
	if err != nil {
		return nil, err
	}
	s.source, res.Source = src, src
	if f := opts.Constraints.LatencyFraction; f > 0 {
		s.srcData = srcData
		s.opts.Constraints.LatencyMS = f * src.MeasuredMS
		res.Constraints = s.opts.Constraints
	}
	s.emit(Event{Kind: SourceMeasured, Figures: &src})
	opts.Log.Info("source", "measured_ms", src.MeasuredMS, "macs", src.MACs, "params", src.Params, "held_out", top1(src.HeldOut))

	curFig := src
	for i := 1; i <= opts.MaxIterations; i++ {
		r, ok := s.unmet(curFig, 1-opts.Margin)
		if !ok {
			if s.opts.Constraints.target(Latency) == 0 {
				break
			}
			data, err := onnxio.Encode(cur)
			if err != nil {
				return res, err
			}
			c, err := s.check(cur.Graph, data, &curFig, i-1, false)
			if err != nil {
				return res, err
			}
			res.Checks = append(res.Checks, c)
			res.Constraints = s.opts.Constraints
			if c.Passed {
				break
			}
			r = Latency
		}
		start := time.Now()
		it, next, err := s.iterate(i, cur, curFig, r)
		if err != nil {
			if errors.Is(err, errStuck) && len(res.Iterations) > 0 {
				opts.Log.Warn("search stopped early", "reason", err)
				break
			}
			return res, err
		}
		it.Seconds = time.Since(start).Seconds()
		if res.Plan, err = surgery.Compose(res.Plan, it.Plan); err != nil {
			return res, err
		}
		res.Iterations = append(res.Iterations, *it)
		cur, curFig = next, it.Figures
		s.emit(Event{Kind: IterationDone, Iteration: i, Figures: &curFig})
		opts.Log.Info("iteration", "i", i, "group", it.Candidates[it.Chosen].Group, "keep", it.Candidates[it.Chosen].Keep,
			"measured_ms", curFig.MeasuredMS, "estimated_ms", curFig.EstimatedMS, "held_out", top1(curFig.HeldOut))
		res.Cal = []lut.Calibration{s.cal}
		if err := s.writeJSON("history.json", res); err != nil {
			return res, err
		}
	}

	// Long-term fine-tuning, then the final figures on measured numbers.
	if opts.LongTerm.Epochs > 0 || opts.LongTerm.Steps > 0 {
		s.emit(Event{Kind: LongTermStart})
		cfg := opts.LongTerm
		if _, err := finetune.Train(ctx, cur, opts.Train, cfg); err != nil {
			return res, err
		}
	}
	res.File = filepath.Join(opts.OutDir, "adapted.onnx")
	if err := save(res.File, cur); err != nil {
		return res, err
	}
	// The verdict rests on the final measurement: a check against the
	// latency target itself, or three times the runs without one.
	data, err := onnxio.Encode(cur)
	if err != nil {
		return res, err
	}
	runs := 3 * s.opts.MeasureRuns
	latency := s.opts.Constraints.target(Latency) > 0
	if latency {
		runs = 0
	}
	if res.Final, err = s.figures(cur, data, "adapted", false, runs); err != nil {
		return res, err
	}
	if latency {
		c, err := s.check(cur.Graph, data, &res.Final, len(res.Iterations), true)
		if err != nil {
			return res, err
		}
		res.Checks = append(res.Checks, c)
		res.Constraints = s.opts.Constraints
	}
	_, unmet := s.unmet(res.Final, 1)
	res.Met = !unmet
	res.Seconds = time.Since(s.started).Seconds()
	res.Cal = []lut.Calibration{s.cal}
	s.emit(Event{Kind: Done, Figures: &res.Final})
	if err := s.writeJSON("plan.json", res.Plan); err != nil {
		return res, err
	}
	return res, s.writeJSON("history.json", res)
}

// check times the serialized model data (of graph g), taken after the
// given number of iterations, with three times the runs (see Check),
// interleaved with the source for a fractional target, whose LatencyMS it
// then updates. It sets f's latency figures and compares them with the
// latency target: the target itself for the final model, half the margin
// below it otherwise (and then the measurement also refits the
// calibration, since the search may go on).
func (s *searcher) check(g *onnxio.Graph, data []byte, f *Figures, after int, final bool) (Check, error) {
	c := Check{After: after, Final: final}
	label, factor, recal := fmt.Sprintf("check_%03d", after), 1-s.opts.Margin/2, true
	if final {
		label, factor, recal = "adapted", 1.0, false
	}
	runs := 3 * s.opts.MeasureRuns
	if frac := s.opts.Constraints.LatencyFraction; frac > 0 {
		tms, bests, err := lut.MeasureModels([][]byte{s.srcData, data}, s.opts.Runtime, 10, runs)
		if err != nil {
			return c, err
		}
		c.SourceMS = msOf(tms[0].Median())
		s.opts.Constraints.LatencyMS = frac * c.SourceMS
		if err := s.record(g, label, tms[1], bests[1], recal, f); err != nil {
			return c, err
		}
	} else if err := s.measure(g, data, label, runs, recal, f); err != nil {
		return c, err
	}
	c.MeasuredMS, c.LimitMS = f.MeasuredMS, s.opts.Constraints.LatencyMS*factor
	c.Passed = c.MeasuredMS <= c.LimitMS
	s.opts.Log.Info("latency check", "label", label, "measured_ms", c.MeasuredMS, "source_ms", c.SourceMS, "limit_ms", c.LimitMS, "passed", c.Passed)
	return c, nil
}

// maxHalvings bounds how often an iteration halves an infeasible reduction.
const maxHalvings = 4

// errStuck: no group can meet the budget.
var errStuck = errors.New("search: no channel group can meet this iteration's budget")

func top1(a *finetune.Accuracy) float64 {
	if a == nil {
		return math.NaN()
	}
	return a.Top1
}

func (s *searcher) emit(e Event) {
	if s.opts.Event != nil {
		s.opts.Event(e)
	}
}

// value returns resource r of figures f: measured latency for latency.
func value(f Figures, r Resource) float64 {
	switch r {
	case Latency:
		return f.MeasuredMS
	case MACs:
		return float64(f.MACs)
	}
	return float64(f.Params)
}

// unmet returns the first constraint f does not meet, with the latency
// target scaled by factor (the search aims below the target by Margin so
// that the final measurement's noise does not undo it).
func (s *searcher) unmet(f Figures, factor float64) (Resource, bool) {
	for _, r := range []Resource{Latency, MACs, Params} {
		t := s.opts.Constraints.target(r)
		if r == Latency {
			t *= factor
		}
		if t > 0 && value(f, r) > t {
			return r, true
		}
	}
	return 0, false
}

// iterate runs one NetAdapt iteration on cur, whose figures are fig, for
// resource r, and returns its record and the chosen (fine-tuned) model.
func (s *searcher) iterate(i int, cur *onnxio.Model, fig Figures, r Resource) (*Iteration, *onnxio.Model, error) {
	o := s.opts
	target := o.Constraints.target(r)
	if r == Latency {
		target *= 1 - o.Margin
	}
	// The latency budget is set on the calibrated estimate, which the last
	// measurement recalibrated, so that candidates priced with the table
	// and the budget agree.
	now := value(fig, r)
	if r == Latency {
		now = fig.EstimatedMS
	}
	an, err := surgery.Analyze(cur.Graph)
	if err != nil {
		return nil, nil, err
	}
	groups := an.Prunable()
	// One group rarely gives a large cut alone: when no group can meet the
	// scheduled budget, the reduction is halved (up to maxHalvings times).
	delta := o.Schedule.reduction(i, value(s.source, r), target)
	var it *Iteration
	for h := 0; ; h++ {
		budget := max(now-delta, target)
		it = &Iteration{Index: i, Resource: r.String(), Budget: budget}
		s.emit(Event{Kind: IterationStart, Iteration: i, Resource: r, Budget: budget})
		o.Log.Info("iteration start", "i", i, "resource", r, "now", now, "budget", budget)
		feasible := 0
		for gi, g := range groups {
			c, err := s.largestKeep(cur, g, r, budget)
			if err != nil {
				return nil, nil, err
			}
			it.Candidates = append(it.Candidates, c)
			if c.Keep > 0 {
				feasible++
			}
			s.emit(Event{Kind: CandidatePriced, Iteration: i, Resource: r, Budget: budget, Candidate: &c, Index: gi, Count: len(groups)})
		}
		// A choice of one is no choice: halve then too, while other
		// groups could be candidates.
		if feasible >= min(2, len(groups)) || feasible > 0 && budget == target || h == maxHalvings {
			break
		}
		delta /= 2
		o.Log.Info("no group meets the budget; halving the reduction", "i", i, "reduction", delta)
	}
	budget := it.Budget

	// Short-term fine-tune and evaluate every candidate that meets the
	// budget; keep the best held-out accuracy (ties: the cheaper one).
	best, bestAcc := -1, -1.0
	var bestModel *onnxio.Model
	for ci := range it.Candidates {
		c := &it.Candidates[ci]
		if c.Keep == 0 {
			continue
		}
		m := cur.Clone()
		if err := surgery.Apply(m.Graph, s.planFor(c)); err != nil {
			return nil, nil, err
		}
		cfg := o.ShortTerm
		cfg.Seed += uint64(i)
		if _, err := finetune.Train(s.ctx, m, o.Train, cfg); err != nil {
			return nil, nil, err
		}
		data, err := onnxio.Encode(m)
		if err != nil {
			return nil, nil, err
		}
		acc, err := s.evaluate(data, o.HeldOut)
		if err != nil {
			return nil, nil, err
		}
		c.HeldOutTop1 = acc.Top1
		s.emit(Event{Kind: CandidateTuned, Iteration: i, Resource: r, Budget: budget, Candidate: c, Index: ci, Count: len(it.Candidates)})
		o.Log.Debug("candidate", "group", c.Group, "keep", c.Keep, "of", c.Size, "est_ms", c.EstimatedMS, "held_out", acc.Top1)
		if acc.Top1 > bestAcc || acc.Top1 == bestAcc && best >= 0 && cheaper(*c, it.Candidates[best]) {
			best, bestAcc, bestModel = ci, acc.Top1, m
		}
	}
	if best < 0 {
		return nil, nil, fmt.Errorf("%w (%s budget %.4g): lower the schedule's first reduction or --round-to", errStuck, r, budget)
	}
	it.Chosen = best
	plan, err := an.Resolve(s.planFor(&it.Candidates[best]))
	if err != nil {
		return nil, nil, err
	}
	it.Plan = plan
	it.File = filepath.Join(o.OutDir, fmt.Sprintf("iter_%03d.onnx", i))
	if err := save(it.File, bestModel); err != nil {
		return nil, nil, err
	}
	data, err := onnxio.Encode(bestModel)
	if err != nil {
		return nil, nil, err
	}
	if it.Figures, err = s.figures(bestModel, data, fmt.Sprintf("iter_%03d", i), true, o.MeasureRuns); err != nil {
		return nil, nil, err
	}
	return it, bestModel, nil
}

func cheaper(a, b Candidate) bool {
	if a.EstimatedMS != b.EstimatedMS {
		return a.EstimatedMS < b.EstimatedMS
	}
	return a.MACs < b.MACs
}

// planFor returns the plan that keeps c.Keep channels of c's group.
func (s *searcher) planFor(c *Candidate) surgery.Plan {
	return surgery.Plan{Rank: s.opts.Rank, RoundTo: s.opts.RoundTo,
		Groups: []surgery.GroupPlan{{Group: c.Group, Drop: c.Size - c.Keep}}}
}

// keepChoices lists the channel counts a group of size n may keep,
// ascending: multiples of roundTo below n.
func keepChoices(n, roundTo int) []int {
	var ks []int
	for k := roundTo; k < n; k += roundTo {
		ks = append(ks, k)
	}
	return ks
}

// largestKeep finds, for group g of cur, the largest channel count whose
// model meets budget on resource r, by bisection (the resource does not
// grow when a group loses channels).
func (s *searcher) largestKeep(cur *onnxio.Model, g *surgery.Group, r Resource, budget float64) (Candidate, error) {
	c := Candidate{Group: g.ID, Roots: g.Roots, Size: g.Size}
	ks := keepChoices(g.Size, s.opts.RoundTo)
	if len(ks) == 0 {
		c.Skipped = fmt.Sprintf("%d channels cannot shrink in steps of %d", g.Size, s.opts.RoundTo)
		return c, nil
	}
	type priced struct {
		v   float64
		est float64
		rep *cost.Report
	}
	cache := map[int]priced{}
	price := func(k int) (priced, error) {
		if p, ok := cache[k]; ok {
			return p, nil
		}
		m := cur.Clone()
		cc := c
		cc.Keep = k
		if err := surgery.Apply(m.Graph, s.planFor(&cc)); err != nil {
			return priced{}, err
		}
		rep, err := cost.Analyze(m.Graph)
		if err != nil {
			return priced{}, err
		}
		p := priced{rep: rep}
		switch r {
		case MACs:
			p.v = float64(rep.MACs)
		case Params:
			p.v = float64(rep.Params)
		}
		if r == Latency {
			est, err := s.opts.Table.Estimate(m.Graph, &s.cal)
			if err != nil {
				return priced{}, err
			}
			p.est, p.v = est.MS, est.MS
		}
		cache[k] = p
		return p, nil
	}
	lo, err := price(ks[0])
	if err != nil {
		return c, err
	}
	if lo.v > budget {
		c.Skipped = fmt.Sprintf("even %d channels give %.4g > budget %.4g", ks[0], lo.v, budget)
		return c, nil
	}
	// Invariant: ks[a] meets the budget; ks[b] (b = len) is beyond the end.
	a, b := 0, len(ks)
	for b-a > 1 {
		mid := (a + b) / 2
		p, err := price(ks[mid])
		if err != nil {
			return c, err
		}
		if p.v <= budget {
			a = mid
		} else {
			b = mid
		}
	}
	p := cache[ks[a]]
	c.Keep, c.EstimatedMS, c.MACs, c.Params = ks[a], p.est, p.rep.MACs, p.rep.Params
	return c, nil
}

// figures measures m, serialized as data: its latency in onnxruntime over
// runs runs (none when runs is 0; with a table, also its estimate, and a
// measurement with recal refits the calibration), cost, size and accuracy.
func (s *searcher) figures(m *onnxio.Model, data []byte, label string, recal bool, runs int) (Figures, error) {
	o := s.opts
	var f Figures
	rep, err := cost.Analyze(m.Graph)
	if err != nil {
		return f, err
	}
	f.MACs, f.Params, f.Bytes = rep.MACs, rep.Params, int64(len(data))
	if runs > 0 {
		if err := s.measure(m.Graph, data, label, runs, recal, &f); err != nil {
			return f, err
		}
	}
	acc, err := s.evaluate(data, o.HeldOut)
	if err != nil {
		return f, err
	}
	f.HeldOut = &acc
	if o.Test != nil {
		t, err := s.evaluate(data, o.Test)
		if err != nil {
			return f, err
		}
		f.Test = &t
	}
	return f, nil
}

// measure times the serialized model data (of graph g) over runs runs and
// sets f's measured latency and, with a table, its calibrated estimate; with
// recal the measurement also refits the calibration.
func (s *searcher) measure(g *onnxio.Graph, data []byte, label string, runs int, recal bool, f *Figures) error {
	tm, best, err := lut.MeasureModel(data, s.opts.Runtime, 10, runs)
	if err != nil {
		return err
	}
	return s.record(g, label, tm, best, recal, f)
}

// record sets f's latency from the timing tm of graph g (best: its lowest
// block median) as measure does.
func (s *searcher) record(g *onnxio.Graph, label string, tm ort.Timing, best time.Duration, recal bool, f *Figures) error {
	o := s.opts
	f.MeasuredMS, f.P10MS, f.P90MS = msOf(tm.Median()), msOf(tm.P10()), msOf(tm.P90())
	if o.Table == nil {
		return nil
	}
	est, err := o.Table.Estimate(g, nil)
	if err != nil {
		return err
	}
	if recal {
		// The table's entries are lowest block medians; so is the
		// measurement a calibration compares them with.
		s.points = append(s.points, lut.CalPoint{Label: label, RawMS: est.RawMS, MeasuredMS: msOf(best)})
		// Recent points matter most: the search moves away from the
		// source, so fit on the last few measurements.
		pts := s.points[max(0, len(s.points)-4):]
		if s.cal, err = lut.FitCalibration(s.fp, "search", pts); err != nil {
			return err
		}
	}
	f.EstimatedMS = s.cal.Apply(est.RawMS)
	return nil
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// evaluate returns the accuracy of the serialized model data over ds.
func (s *searcher) evaluate(data []byte, ds dataset.Dataset) (finetune.Accuracy, error) {
	return finetune.Evaluate(s.ctx, data, ds, s.opts.Eval)
}

// save writes m as one self-contained ONNX file, after onnxruntime has
// loaded and run the exact bytes.
func save(path string, m *onnxio.Model) error {
	return onnxio.Save(path, m, onnxio.SaveOptions{External: onnxio.InlineExternal, Check: ort.Check})
}

// writeJSON writes v to OutDir/name atomically.
func (s *searcher) writeJSON(name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(s.opts.OutDir, name), append(data, '\n')); err != nil {
		return fmt.Errorf("search: %w", err)
	}
	return nil
}
