package search

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/atomicfile"
	"github.com/onnx-adapt/onnx-adapt/internal/cost"
	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/internal/measure"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/lut"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

// state is one model of the search: the source, or an iteration's choice.
type state struct {
	model *onnxio.Model
	data  []byte // its serialization, as written and measured
	// plan is the composed plan from the source to this model.
	plan surgery.Plan
	fig  Figures
}

type searcher struct {
	opts    Options
	ctx     context.Context
	src     *state
	cal     *calibrator // nil without a lookup table
	floor   measure.Floor
	res     *Result
	started time.Time
	recon   reconState
}

// Run adapts m (which it does not change) to opts.Constraints and returns
// the history. It follows Algorithm 1 of the NetAdapt paper, line by line
// (the comments quote it). Files are written to opts.OutDir as it goes:
// each iteration's model, history.json after every iteration, and finally
// adapted.onnx and plan.json.
//
// Nothing is written before the source is measured and the target is
// known to be within reach (see Preflight). A folder that already holds
// this run (same source and Settings) is resumed after its last finished
// iteration, and a finished one is returned as it is; a folder that holds
// anything else is refused (*OutDirError) unless Options.Force is set.
//
// The search stops early, with Result.Blocked saying why, when an
// iteration cannot find an acceptable candidate even at its smallest step
// (see iterate). A blocked search whose current model does not meet the
// constraints writes no adapted.onnx. After MaxIterations the search
// finishes the model it has, and Result.Met says whether it meets them.
func Run(ctx context.Context, m *onnxio.Model, opts Options) (*Result, error) {
	s, err := newSearcher(ctx, opts)
	if err != nil {
		return nil, err
	}
	// A folder that holds this run is resumed (see resume.go).
	prev, err := CheckOutDir(s.opts)
	if err != nil {
		return nil, err
	}
	if prev != nil && prev.Finished() {
		return prev, nil
	}
	var cur *state
	if prev != nil {
		cur, err = s.resume(m, prev)
	} else if cur, err = s.measureSource(m); err == nil { // Res₀ = TakeEmpiricalMeasurement(Net₀)
		err = s.reachable()
	}
	if err != nil {
		return nil, err
	}
	if err := s.prepareOutDir(len(s.res.Iterations)); err != nil {
		return nil, err
	}
	if prev == nil { // the history exists before any model: resumable from here
		if err := s.writeResult(); err != nil {
			return s.res, err
		}
	}
	// while Resᵢ > Bud
	for i := len(s.res.Iterations) + 1; i <= s.opts.MaxIterations; i++ {
		r, met, err := s.unmet(cur, i-1)
		if err != nil {
			return s.res, err
		}
		if met {
			break
		}
		// Conᵢ = Resᵢ − ΔRᵢ; for each group: ChooseNumFilters,
		// ChooseWhichFilters, ShortTermFineTune; PickHighestAccuracy
		start := time.Now()
		it, next, err := s.iterate(i, cur, r)
		if err != nil {
			return s.res, err
		}
		it.Seconds = time.Since(start).Seconds()
		if next == nil {
			s.res.Blocked, s.res.BlockedAt = blockedReason(it), it
			break
		}
		if err := s.record(it); err != nil {
			return s.res, err
		}
		cur = next
	}
	if s.res.Blocked != "" && !s.metAtBest(cur) {
		s.opts.Log.Warn("search stopped before meeting the constraints", "reason", s.res.Blocked)
		s.emit(Event{Kind: Done, Figures: &cur.fig})
		return s.res, s.writeResult()
	}
	// Net_final = LongTermFineTune(Netᵢ)
	return s.res, s.finish(cur)
}

// metAtBest reports whether cur meets every constraint on its best
// estimate: MACs and parameters exactly, latency when its last check,
// taken on cur, was within the target but not with confidence. A search
// blocked there still finishes that model, and its verdict says how sure
// it is.
func (s *searcher) metAtBest(cur *state) bool {
	for _, r := range []Resource{MACs, Params} {
		if s.constrained(r) && s.measured(cur.fig, r) > s.opts.Constraints.target(r) {
			return false
		}
	}
	if !s.constrained(Latency) {
		return true
	}
	n := len(s.res.Checks)
	if n == 0 {
		return false
	}
	c := s.res.Checks[n-1]
	return c.After == len(s.res.Iterations) && c.Verdict.Value <= c.Verdict.Limit
}

func newSearcher(ctx context.Context, opts Options) (*searcher, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	s := &searcher{opts: opts, ctx: ctx, started: time.Now()}
	settings := opts.settings()
	s.res = &Result{Constraints: opts.Constraints, Schedule: opts.Schedule, Protocol: opts.Measure,
		Lineage: opts.Lineage, Settings: &settings, Plan: surgery.Plan{Rank: opts.Rank, Groups: []surgery.GroupPlan{}},
		Data: opts.Data, Recon: opts.Recon}
	return s, nil
}

// unmet returns the first constraint cur does not meet, aiming Margin
// below a latency target. When every constraint is met that way and there
// is a latency target, it confirms with a check (see Check) and reports
// Latency as unmet unless the check meets the target with confidence.
func (s *searcher) unmet(cur *state, after int) (Resource, bool, error) {
	if r, ok := s.firstUnmet(cur.fig); ok {
		return r, false, nil
	}
	if !s.constrained(Latency) {
		return 0, true, nil
	}
	c, err := s.check(cur, after, false)
	if err != nil {
		return 0, false, err
	}
	return Latency, c.Passed, nil
}

// firstUnmet returns the first constraint that figures f do not meet,
// aiming Margin below a latency target, and whether there is one.
func (s *searcher) firstUnmet(f Figures) (Resource, bool) {
	for _, r := range []Resource{Latency, MACs, Params} {
		if s.constrained(r) && s.measured(f, r) > s.aimMeasured(r) {
			return r, true
		}
	}
	return 0, false
}

// record appends a finished iteration to the result and writes the
// history.
func (s *searcher) record(it *Iteration) error {
	var err error
	if s.res.Plan, err = surgery.Compose(s.res.Plan, it.Plan); err != nil {
		return err
	}
	s.res.Iterations = append(s.res.Iterations, *it)
	c := it.Candidates[it.Chosen]
	s.emit(Event{Kind: IterationDone, Iteration: it.Index, Figures: &it.Figures})
	s.opts.Log.Info("iteration", "i", it.Index, "group", c.Group, "keep", c.Keep,
		"measured_ms", it.Figures.MeasuredMS, "noise_ms", it.Figures.NoiseMS, "estimated_ms", it.Figures.EstimatedMS,
		"held_out", top1(it.Figures.HeldOut))
	return s.writeResult()
}

// finish long-term fine-tunes cur, writes it as adapted.onnx, and gives
// the verdict on measured figures (a final check for a latency target).
func (s *searcher) finish(cur *state) error {
	o := s.opts
	res := s.res
	cur, anchored, err := s.anchor(cur)
	if err != nil {
		return err
	}
	res.Anchor = anchored
	final := &state{model: cur.model, plan: cur.plan}
	held := cur.fig.HeldOut // the held-out accuracy of final's weights, when known
	if o.LongTerm.Epochs > 0 || o.LongTerm.Steps > 0 {
		s.emit(Event{Kind: LongTermStart})
		tuned := cur.model.Clone()
		if _, err := finetune.Train(s.ctx, tuned, o.Train, o.LongTerm); err != nil {
			return err
		}
		acc, err := s.accuracy(tuned, o.HeldOut)
		if err != nil {
			return err
		}
		if why := s.longTermLoss(cur, &acc); why != "" {
			// The long-term fine-tune made the model worse (a diverged
			// optimiser, too little data): ship the model it started from,
			// whose latency is measured again below.
			res.LongTermRejected = why
			s.opts.Log.Warn("long-term fine-tune rejected", "reason", why)
		} else {
			final.model, held = tuned, &acc
		}
	}
	res.File = filepath.Join(o.OutDir, "adapted.onnx")
	if err := s.save(res.File, final); err != nil {
		return err
	}
	if final.fig, err = s.figures(final, held, true); err != nil {
		return err
	}
	if s.constrained(Latency) {
		c, err := s.check(final, len(res.Iterations), true)
		if err != nil {
			return err
		}
		res.Verdict = &c.Verdict
	} else {
		procs, p := s.checkPlan()
		if err := s.measure(final, "adapted", p, procs); err != nil {
			return err
		}
	}
	res.Final = final.fig
	res.Met = true
	for _, r := range []Resource{MACs, Params} {
		if s.constrained(r) && s.measured(res.Final, r) > s.opts.Constraints.target(r) {
			res.Met = false
		}
	}
	if res.Verdict != nil && len(res.Checks) > 0 && !res.Checks[len(res.Checks)-1].Passed {
		res.Met = false
	}
	s.emit(Event{Kind: Done, Figures: &res.Final})
	return s.writeResult()
}

// longTermLoss says why the long-term fine-tune of cur, whose held-out
// accuracy is after, must not replace it: its held-out top-1 (or
// agreement) is below cur's by more than the last iteration allowed a
// chosen candidate to lose, or it is no longer a number. "" when it is
// acceptable, when cur was not measured, and when the run has no accuracy
// limit (a negative Options.MaxDrop).
func (s *searcher) longTermLoss(cur *state, after *finetune.Accuracy) string {
	n := len(s.res.Iterations)
	if n == 0 || cur.fig.HeldOut == nil || after == nil {
		return ""
	}
	limit := s.res.Iterations[n-1].MaxDrop
	if limit <= 0 {
		return ""
	}
	b, a := 100*cur.fig.HeldOut.Top1, 100*after.Top1
	if a >= b-limit {
		return ""
	}
	return fmt.Sprintf("the long-term fine-tune lost %.2f points of held-out top-1 (%.2f%% → %.2f%%; at most %.2f): kept the model before it",
		b-a, b, a, limit)
}

// writeResult writes history.json and plan.json, and hands the search's
// calibration to the table (which the caller saves), under the source's
// fingerprint: estimate then finds it through a written model's lineage;
// then the result to Options.History.
func (s *searcher) writeResult() error {
	s.res.Seconds = time.Since(s.started).Seconds()
	if s.cal != nil {
		s.res.Cal = []lut.Calibration{s.cal.cal}
		s.opts.Table.SetCalibration(s.cal.cal)
	}
	if err := s.writeJSON("plan.json", s.res.Plan); err != nil {
		return err
	}
	if err := s.writeJSON("history.json", s.res); err != nil {
		return err
	}
	if s.opts.History != nil {
		return s.opts.History(s.res)
	}
	return nil
}

// blockedReason says why iteration it found no acceptable candidate.
func blockedReason(it *Iteration) string {
	if n := len(it.Shrunk); n > 0 {
		last := it.Shrunk[n-1]
		return fmt.Sprintf("iteration %d: no acceptable candidate at the smallest step (budget %.4g): %s", it.Index, last.Budget, last.Rejected)
	}
	return fmt.Sprintf("iteration %d: no acceptable candidate", it.Index)
}

// figures returns st's cost, size and accuracy (not its latency: see
// measure): its held-out accuracy, evaluated unless held is given (the
// accuracy of the same weights, measured already), and with test its test
// accuracy. The test set decides nothing, so only the source and the final
// model are evaluated on it: on the quickstart it is 10,000 images, a
// sixth of an iteration's time.
func (s *searcher) figures(st *state, held *finetune.Accuracy, test bool) (Figures, error) {
	var f Figures
	rep, err := cost.Analyze(st.model.Graph)
	if err != nil {
		return f, err
	}
	f.MACs, f.Params, f.Bytes = rep.MACs, rep.Params, int64(len(st.data))
	if held == nil {
		acc, err := s.evaluate(st.data, s.opts.HeldOut)
		if err != nil {
			return f, err
		}
		held = &acc
	}
	f.HeldOut = held
	if test && s.opts.Test != nil {
		t, err := s.evaluate(st.data, s.opts.Test)
		if err != nil {
			return f, err
		}
		f.Test = &t
	}
	return f, nil
}

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

// evaluate returns the accuracy of the serialized model data over ds.
func (s *searcher) evaluate(data []byte, ds dataset.Dataset) (finetune.Accuracy, error) {
	return finetune.Evaluate(s.ctx, data, ds, s.opts.Eval)
}

// accuracy returns the accuracy of model m over ds.
func (s *searcher) accuracy(m *onnxio.Model, ds dataset.Dataset) (finetune.Accuracy, error) {
	data, err := onnxio.Encode(m)
	if err != nil {
		return finetune.Accuracy{}, err
	}
	return s.evaluate(data, ds)
}

// save stamps st's model with its lineage (the source and the composed
// plan), serializes it into st.data, and writes it as one self-contained
// ONNX file, after onnxruntime has loaded and run the exact bytes; then it
// hands the path to Options.Saved.
func (s *searcher) save(path string, st *state) error {
	l, err := s.opts.Lineage.Derive(st.plan)
	if err != nil {
		return err
	}
	if s.cal != nil {
		l.Fingerprint = s.cal.cal.Model
	}
	if err := l.Stamp(st.model); err != nil {
		return err
	}
	if st.data, err = onnxio.Encode(st.model); err != nil {
		return err
	}
	if err := onnxio.Save(path, st.model, onnxio.SaveOptions{External: onnxio.InlineExternal, Check: ort.Check}); err != nil {
		return err
	}
	if s.opts.Saved != nil {
		return s.opts.Saved(path)
	}
	return nil
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
