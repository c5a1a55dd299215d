package search

import (
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/onnx-adapt/onnx-adapt/internal/measure"
	"github.com/onnx-adapt/onnx-adapt/lut"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

// How the search measures (package measure has the protocol itself).
const (
	// sourceRounds scales the protocol for the first measurement of the
	// source when it has no calibration variants: every later figure is
	// relative to it.
	sourceRounds = 2
	// floorProcesses is how many processes measure the source with its
	// calibration variants (see calibrate), each with the protocol's
	// rounds.
	floorProcesses = 3
	// checkRounds scales the protocol for a confirmation check and the
	// final verdict in this process; checkProcesses processes measure them
	// with checkProcessRounds each when the search has a Timer (fresh
	// processes: see checkPlan).
	checkRounds        = 5
	checkProcesses     = 3
	checkProcessRounds = 2
	// calibrationSeed seeds the random pruned variants of the source.
	calibrationSeed = 1
	// sourceLabel labels the source's calibration point, and prefixes its
	// variants'.
	sourceLabel = "search"
	// pathPoints is how many of the latest measurements along the
	// search's path the decision ratio (Figures.PathRatio) pools.
	pathPoints = 3
)

// calibrator keeps the table's calibration for the source without chasing
// noise. Its points are the source, the calibration variants and every
// model the search measures. Each was timed interleaved with the source
// (package measure), and its point is its latency relative to the source,
// round by round, times the source's first measurement: a machine that
// drifts between two measurements moves no point. The line through the
// points is Siegel's repeated median (lut.FitCalibration), which a
// minority of wild points cannot pull away.
type calibrator struct {
	srcMS float64 // the source's latency in its first measurement
	cal   lut.Calibration
}

// pathRatio returns the latency ratio to the source that the search
// decides on for a model on its path whose raw table estimate is raw: raw
// times the median, over the latest pathPoints measurements along the path
// (the points that add added: iterations, checks; the model's own
// included), of measured over raw, divided by the source's first
// measurement; 0 before any. One measurement of a model of a few tenths of
// a millisecond moves by several percent (the quickstart's iterations read
// 0.45× and 0.62× where their neighbours read 0.55–0.59×), and a decision
// on it alone takes a step of 1% where 5% was due, or checks a model that
// is not there yet. Neighbours on the path share their gap between table
// and measurement (1.64–1.87 on one quickstart's, where random pruned
// variants of its source read 1.41–1.58), so the median of the last three
// ignores one wild reading. The gap also drifts along the path (1.51 at
// the source to 2.0 at 0.6× on another: the table misses part of the
// fixed per-operator cost), and a longer window lagged behind it: with
// five, the search checked a model it put at 0.549× and the check read
// 0.63×.
func (c *calibrator) pathRatio(raw float64) float64 {
	var gaps []float64 // measured over raw; FitCalibration keeps both positive
	for i := len(c.cal.Points) - 1; i >= 0 && len(gaps) < pathPoints; i-- {
		if p := c.cal.Points[i]; !strings.HasPrefix(p.Label, sourceLabel) { // not the source or a variant
			gaps = append(gaps, p.MeasuredMS/p.RawMS)
		}
	}
	if len(gaps) == 0 || c.srcMS <= 0 {
		return 0
	}
	return raw * measure.Median(gaps) / c.srcMS
}

// add adds the point of a model whose raw table estimate is raw and whose
// latency measured ratio times the source's, and refits.
func (c *calibrator) add(label string, raw, ratio float64) error {
	pts := append(c.cal.Points, lut.CalPoint{Label: label, RawMS: raw, MeasuredMS: ratio * c.srcMS})
	cal, err := lut.FitCalibration(c.cal.Model, c.cal.Name, pts)
	if err != nil {
		return err
	}
	c.cal = cal
	return nil
}

// measureSource measures the source model (Res₀): its latency together with
// random pruned variants of it, which calibrates the table for it (when
// there is a table), its cost, and its accuracy.
func (s *searcher) measureSource(m *onnxio.Model) (*state, error) {
	o := s.opts
	src := &state{model: m.Clone(), plan: surgery.Plan{Groups: []surgery.GroupPlan{}}}
	if err := src.model.Graph.InferShapes(); err != nil {
		return nil, err
	}
	var err error
	if src.data, err = onnxio.Encode(src.model); err != nil {
		return nil, err
	}
	var lat measure.Latency
	switch n := o.CalibrationVariants; {
	case o.Table != nil && n > 0:
		if lat, err = s.calibrate(src, n); err != nil {
			return nil, err
		}
	case o.Table != nil:
		cal, l, err := o.Table.CalibrateSource(src.model, sourceLabel, 0, calibrationSeed, o.Measure.Scaled(sourceRounds))
		if err != nil {
			return nil, err
		}
		s.cal, lat = &calibrator{srcMS: l.MS, cal: cal}, l
	default:
		if lat, err = measure.Model(src.data, o.Measure.Scaled(sourceRounds)); err != nil {
			return nil, err
		}
	}
	if src.fig, err = s.figures(src, nil, true); err != nil {
		return nil, err
	}
	if err := src.fig.setLatency(lat, lat, s.floor); err != nil {
		return nil, err
	}
	if s.cal != nil {
		if src.fig.EstimatedMS, err = s.estimate(src.model); err != nil {
			return nil, err
		}
	}
	s.src, s.res.Source = src, src.fig
	if f := o.Constraints.LatencyFraction; f > 0 {
		s.res.Constraints.LatencyMS = f * lat.MS
	}
	if s.floor.DF > 0 {
		s.res.NoiseFloor = &s.floor
	}
	s.res.Margin = s.margin()
	s.emit(Event{Kind: SourceMeasured, Figures: &src.fig, Floor: s.res.NoiseFloor, Margin: s.res.Margin})
	o.Log.Info("source", "measured_ms", lat.MS, "noise_ms", lat.NoiseMS, "macs", src.fig.MACs, "params", src.fig.Params,
		"held_out", top1(src.fig.HeldOut))
	return src, nil
}

// calibrate measures the source with n random pruned variants of it
// (lut.SourceVariants) in floorProcesses processes (Options.Timer's, or
// this one's without), each with the protocol's rounds (measure.Repeat).
// It calibrates the table on their pooled figures, sets the run's noise
// floor from how each variant's ratio to the source moved between the
// processes, and returns the source's pooled latency.
//
// A ratio's noise within one measurement misses how the host's state
// moves a small model against a large one between measurements, and a
// fixed floor (measure.RatioFloor, 3% of the ratio) sized on models of a
// few tenths of a millisecond overstated it fourfold for a 224×224
// MobileNetV2, whose search then aimed 8% below its target and crawled
// the last 4% of the way in 1% steps, losing a quarter of its accuracy
// (BENCHMARKS.md). The floor measured here is that model's own, on this
// machine, in the processes the search's later figures are measured in.
func (s *searcher) calibrate(src *state, n int) (measure.Latency, error) {
	o := s.opts
	models, labels, err := lut.SourceVariants(src.model, sourceLabel, n, calibrationSeed)
	if err != nil {
		return measure.Latency{}, err
	}
	data := make([][]byte, len(models))
	data[0] = src.data
	for i := 1; i < len(models); i++ {
		if data[i], err = onnxio.Encode(models[i]); err != nil {
			return measure.Latency{}, err
		}
	}
	lats, floor, err := measure.Repeat(o.Timer, data, o.Measure, floorProcesses)
	if err != nil {
		return measure.Latency{}, err
	}
	cal, err := o.Table.CalibrateMeasured(models, labels, lats)
	if err != nil {
		return measure.Latency{}, err
	}
	s.floor, s.cal = floor, &calibrator{srcMS: lats[0].MS, cal: cal}
	o.Log.Info("noise floor", "sd", floor.SD, "upper", floor.Upper, "df", floor.DF, "margin", s.margin())
	return lats[0], nil
}

// marginFloors is how many noise floors (at the target, of the path's
// figure) an automatic margin is: the path's figure that starts a check
// is about one floor off the check's, and a check is sure at 1.645 of its
// own noise figures (measure.Sure), pooled over processes (checkPlan).
func marginFloors(processes int) float64 {
	return 1 + distuv.UnitNormal.Quantile(measure.Sure)/math.Sqrt(float64(max(processes, 1)))
}

// margin returns how far below a latency target the search aims, as a
// fraction: Options.Margin when set; otherwise marginFloors times the
// run's noise floor at the target (measure.Floor.At: 3% of the ratio
// without a measured floor, which gives 7.9% with checks in one process
// and 5.9% with checks pooled over three), relative to the target.
func (s *searcher) margin() float64 {
	if m := s.opts.Margin; m > 0 {
		return m
	}
	procs, _ := s.checkPlan()
	f := marginFloors(procs)
	c := s.opts.Constraints
	t := c.LatencyFraction
	if t == 0 && c.LatencyMS > 0 && s.src != nil && s.src.fig.MeasuredMS > 0 {
		t = c.LatencyMS / s.src.fig.MeasuredMS
	}
	if t <= 0 {
		return f * measure.RatioFloor
	}
	return f * s.floor.At(t) / t
}

// checkPlan returns how many processes measure a check and with what
// protocol. With a Timer (fresh processes), checkProcesses of them, each
// with checkProcessRounds times the rounds, pooled (measure.Repeat): a
// model's ratio to its source moves by the run's floor between processes
// whatever the rounds, so only more processes make the check surer; the
// pooled ratio's floor is the run's over √checkProcesses. In this process,
// one measurement of checkRounds times the rounds.
func (s *searcher) checkPlan() (processes int, p measure.Protocol) {
	if s.opts.Timer == nil {
		return 1, s.opts.Measure.Scaled(checkRounds)
	}
	return checkProcesses, s.opts.Measure.Scaled(checkProcessRounds)
}

// measure times st's model interleaved with the source using protocol p,
// with Options.Timer (nil: in this process), in the given number of calls
// pooled (measure.Repeat; each a fresh process with a Timer), sets st's
// latency figures, and adds the measurement to the calibration (labelled
// label), which then gives st's estimate.
func (s *searcher) measure(st *state, label string, p measure.Protocol, processes int) error {
	timer := s.timer()
	models := [][]byte{s.src.data, st.data}
	var lats []measure.Latency
	var err error
	floor := s.floor
	if processes > 1 {
		lats, _, err = measure.Repeat(timer, models, p, processes)
		floor = floor.Over(processes)
	} else {
		lats, err = timer(models, p)
	}
	if err != nil {
		return err
	}
	if err := st.fig.setLatency(lats[1], lats[0], floor); err != nil {
		return err
	}
	if s.cal == nil {
		return nil
	}
	raw, err := s.opts.Table.Estimate(st.model.Graph, nil)
	if err != nil {
		return err
	}
	if err := s.cal.add(label, raw.RawMS, st.fig.Ratio); err != nil {
		return err
	}
	st.fig.EstimatedMS = s.cal.cal.Apply(raw.RawMS)
	st.fig.PathRatio = s.cal.pathRatio(raw.RawMS)
	return nil
}

// timer is Options.Timer, or measure.Models (in this process) without one.
func (s *searcher) timer() measure.Timer {
	if s.opts.Timer != nil {
		return s.opts.Timer
	}
	return measure.Models
}

// check measures st as checkPlan says and judges its latency against the
// target (see Check), after the given number of iterations. The check's
// figures replace st's.
func (s *searcher) check(st *state, after int, final bool) (Check, error) {
	label := fmt.Sprintf("check_%03d", after)
	if final {
		label = "adapted"
	}
	procs, p := s.checkPlan()
	if err := s.measure(st, label, p, procs); err != nil {
		return Check{}, err
	}
	f := st.fig
	c := Check{After: after, Final: final, FreshProcess: s.opts.Timer != nil, Processes: procs, SourceMS: f.SourceMS, MeasuredMS: f.MeasuredMS, NoiseMS: f.NoiseMS}
	if frac := s.opts.Constraints.LatencyFraction; frac > 0 {
		c.LimitMS = frac * f.SourceMS
		c.Verdict = measure.Judge(f.Ratio, f.RatioNoise, frac)
	} else {
		c.LimitMS = s.opts.Constraints.LatencyMS
		c.Verdict = measure.Judge(f.MeasuredMS, f.NoiseMS, c.LimitMS)
	}
	// Before stopping the search wants confidence; the final verdict
	// reports the measurement and how sure it is.
	c.Passed = c.Verdict.Met()
	if final {
		// The final model has the architecture of a check taken after
		// as many iterations (the long-term fine-tune changes weights,
		// not latency): judged alone, its measurement is a second test of
		// a figure the first passed, and on a busy host it contradicted
		// it (a quickstart's check read 0.579 ± 0.012× against 0.60, met
		// at 96.7%, and its final check 0.606 ± 0.012×, exit 1;
		// BENCHMARKS.md). Both measurements pooled are the best figure of
		// that architecture.
		if prev := s.lastCheck(); prev != nil && prev.After == after && !prev.Final {
			own := c.Verdict
			c.Own = &own
			c.Verdict = measure.PoolVerdicts(prev.Verdict, own)
		}
		c.Passed = c.Verdict.Value <= c.Verdict.Limit
	}
	s.res.Checks = append(s.res.Checks, c)
	s.emit(Event{Kind: Checked, Check: &c})
	s.opts.Log.Info("latency check", "label", label, "measured_ms", c.MeasuredMS, "noise_ms", c.NoiseMS,
		"source_ms", c.SourceMS, "limit_ms", c.LimitMS, "verdict", c.Verdict.String())
	return c, nil
}

// lastCheck returns the latest check, nil before any.
func (s *searcher) lastCheck() *Check {
	if n := len(s.res.Checks); n > 0 {
		return &s.res.Checks[n-1]
	}
	return nil
}

// estimate returns the calibrated table estimate of m's latency.
func (s *searcher) estimate(m *onnxio.Model) (float64, error) {
	est, err := s.opts.Table.Estimate(m.Graph, &s.cal.cal)
	if err != nil {
		return 0, err
	}
	return est.MS, nil
}

// constrained reports whether resource r has a target.
func (s *searcher) constrained(r Resource) bool {
	c := s.opts.Constraints
	if r == Latency {
		return c.LatencyMS > 0 || c.LatencyFraction > 0
	}
	return c.target(r) > 0
}

// measured returns resource r of figures f as the constraint reads it: the
// measured latency (relative to the source, for a fractional target), or
// the MACs or parameters. The latency is the path's (Figures.PathRatio)
// when there is one: for an absolute target, that ratio times the source
// timed alongside.
func (s *searcher) measured(f Figures, r Resource) float64 {
	ratio := f.Ratio
	if f.PathRatio > 0 {
		ratio = f.PathRatio
	}
	switch {
	case r == Latency && s.opts.Constraints.LatencyFraction > 0:
		return ratio
	case r == Latency && f.PathRatio > 0 && f.SourceMS > 0:
		return ratio * f.SourceMS
	case r == Latency:
		return f.MeasuredMS
	case r == MACs:
		return float64(f.MACs)
	}
	return float64(f.Params)
}

// aimMeasured is what measured(·, r) aims at: the target, Margin below it
// for latency.
func (s *searcher) aimMeasured(r Resource) float64 {
	c := s.opts.Constraints
	switch {
	case r == Latency && c.LatencyFraction > 0:
		return c.LatencyFraction * (1 - s.margin())
	case r == Latency:
		return c.LatencyMS * (1 - s.margin())
	}
	return c.target(r)
}

// resource returns resource r of st on the scale budgets are set on: the
// calibrated estimate for latency (smooth, where a measurement is noisy),
// MACs or parameters otherwise.
func (s *searcher) resource(st *state, r Resource) (float64, error) {
	switch r {
	case Latency:
		return s.estimate(st.model)
	case MACs:
		return float64(st.fig.MACs), nil
	}
	return float64(st.fig.Params), nil
}

// aim returns the target of resource r on the scale of resource, for
// the current model cur whose resource is now. For latency it is where the
// measurement says the target is: now times the ratio of the aimed-at to
// the measured latency of cur. The calibrated estimate prices candidates
// smoothly, but it may be off by a few percent on a pruned model; the
// measured gap keeps such an error from stalling the search short of the
// target (the estimate already "meets" it) or from overshooting it.
func (s *searcher) aim(r Resource, cur *state, now float64) (float64, error) {
	if r == Latency {
		if m := s.measured(cur.fig, Latency); m > 0 {
			return now * s.aimMeasured(Latency) / m, nil
		}
		if s.opts.Constraints.LatencyFraction > 0 {
			src, err := s.estimate(s.src.model)
			return s.aimMeasured(Latency) * src, err
		}
	}
	return s.aimMeasured(r), nil
}
