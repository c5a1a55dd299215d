package lut

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/onnx-adapt/onnx-adapt/internal/measure"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

// Calibration maps a raw estimate (the table's sum, Estimate.RawMS) to
// onnxruntime's whole-model latency:
//
//	MS = Scale·RawMS + OffsetMS
//
// It is fitted (FitCalibration) against whole-model measurements of a
// source model and of a few random pruned variants of it
// (Table.CalibrateSource), or of the source alone (a ratio), and is then
// used for every candidate derived from that source.
//
// What it absorbs is what single-unit timing cannot see. The main effect is
// that in a whole model each layer's weights and input come from further
// down the cache hierarchy than in a unit run over and over, and more so
// the bigger the model. On the reference host (AMD EPYC, 1 MiB L2 per
// core), MobileNetV2's measured-to-raw ratio goes from about 1.02 with 60%
// of its channels pruned to 1.2 for the full model. A line (Scale > 1,
// OffsetMS < 0) follows that trend, but a ratio fitted on the source
// over-estimates pruned models by several percent. A third term in the
// model's weight size was tried. It did no better than the line with five
// variants (BENCHMARKS.md).
type Calibration struct {
	// Model is the fingerprint (Fingerprint) of the source model.
	Model    string     `json:"model"`
	Name     string     `json:"name,omitempty"`
	Scale    float64    `json:"scale"`
	OffsetMS float64    `json:"offset_ms"`
	Form     string     `json:"form,omitempty"` // "ratio" or "line"
	Points   []CalPoint `json:"points,omitempty"`
}

// CalPoint is one whole-model measurement next to its raw estimate.
type CalPoint struct {
	Label      string  `json:"label,omitempty"`
	RawMS      float64 `json:"raw_ms"`
	MeasuredMS float64 `json:"measured_ms"`
}

// Apply returns the calibrated latency of a raw estimate.
func (c Calibration) Apply(raw float64) float64 { return c.Scale*raw + c.OffsetMS }

func (c Calibration) validate() error {
	if c.Model == "" || !finite(c.Scale) || c.Scale <= 0 || !finite(c.OffsetMS) {
		return fmt.Errorf("lut: bad calibration %q (scale %v, offset %v)", c.Model, c.Scale, c.OffsetMS)
	}
	for _, p := range c.Points {
		if !finite(p.RawMS) || !finite(p.MeasuredMS) {
			return fmt.Errorf("lut: calibration %q has a non-finite point", c.Model)
		}
	}
	return nil
}

// FitCalibration fits a calibration to whole-model measurements. With three
// points or more it fits a line, Scale·raw + OffsetMS, by Siegel's repeated
// median (the slope is the median over points of the median slope to every
// other point; the offset the median residual): a line that up to half the
// points cannot pull away, so that one measurement taken while the machine
// was busy does not move every later estimate (a least-squares line would
// follow it). It keeps the line only when it is sane: Scale within
// [0.5, 2], and the points' median error within 25%. Otherwise, and with
// fewer points, it fits a ratio through the origin: the median of
// measured/raw over the points.
func FitCalibration(model, name string, pts []CalPoint) (Calibration, error) {
	if len(pts) == 0 {
		return Calibration{}, fmt.Errorf("lut: calibration needs at least one measurement")
	}
	for _, p := range pts {
		if !finite(p.RawMS) || !finite(p.MeasuredMS) || p.RawMS <= 0 || p.MeasuredMS <= 0 {
			return Calibration{}, fmt.Errorf("lut: calibration point %+v is not positive", p)
		}
	}
	base := Calibration{Model: model, Name: name, Points: slices.Clone(pts)}
	if len(pts) >= 3 {
		if scale, offset, ok := repeatedMedian(pts); ok {
			c := base
			c.Scale, c.OffsetMS, c.Form = scale, offset, "line"
			errs := make([]float64, len(pts))
			for i, p := range pts {
				errs[i] = math.Abs(c.Apply(p.RawMS)-p.MeasuredMS) / p.MeasuredMS
			}
			if c.Scale >= 0.5 && c.Scale <= 2 && finite(c.OffsetMS) && measure.Median(errs) <= 0.25 {
				return c, nil
			}
		}
	}
	ratios := make([]float64, len(pts))
	for i, p := range pts {
		ratios[i] = p.MeasuredMS / p.RawMS
	}
	c := base
	c.Scale, c.Form = measure.Median(ratios), "ratio"
	return c, nil
}

// repeatedMedian fits measured = scale·raw + offset by Siegel's repeated
// median. It fails when the raw values do not spread (fewer than two
// distinct ones).
func repeatedMedian(pts []CalPoint) (scale, offset float64, ok bool) {
	var perPoint []float64
	for i, p := range pts {
		var slopes []float64
		for j, q := range pts {
			if i != j && q.RawMS != p.RawMS {
				slopes = append(slopes, (q.MeasuredMS-p.MeasuredMS)/(q.RawMS-p.RawMS))
			}
		}
		if len(slopes) > 0 {
			perPoint = append(perPoint, measure.Median(slopes))
		}
	}
	if len(perPoint) < 2 {
		return 0, 0, false
	}
	scale = measure.Median(perPoint)
	res := make([]float64, len(pts))
	for i, p := range pts {
		res[i] = p.MeasuredMS - scale*p.RawMS
	}
	return scale, measure.Median(res), finite(scale)
}

// ModelFingerprint returns the Fingerprint of graph g.
func ModelFingerprint(g *onnxio.Graph) (string, error) {
	units, err := Units(g)
	if err != nil {
		return "", err
	}
	return Fingerprint(g, units), nil
}

// Fingerprint identifies a source model by its units' keys and its inputs,
// so that a calibration stored in a table is found again for the same
// model (whatever its file name or weights).
func Fingerprint(g *onnxio.Graph, units []*Unit) string {
	h := sha256.New()
	for _, in := range g.Inputs {
		if !in.IsConst() {
			fmt.Fprintf(h, "in %s %v\n", in.Name, in.Type.Shape)
		}
	}
	for _, u := range units {
		fmt.Fprintln(h, u.key.String())
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Calibrate measures the models together with protocol p (package
// measure: their blocks interleaved), the first being the source, and fits
// a calibration to them (CalibrateMeasured). It also returns the source's
// measured latency.
func (t *Table) Calibrate(models []*onnxio.Model, labels []string, p measure.Protocol) (Calibration, measure.Latency, error) {
	if len(models) == 0 {
		return Calibration{}, measure.Latency{}, fmt.Errorf("lut: nothing to calibrate on")
	}
	data := make([][]byte, len(models))
	for i, m := range models {
		var err error
		if data[i], err = onnxio.Encode(m); err != nil {
			return Calibration{}, measure.Latency{}, err
		}
	}
	lats, err := measure.Models(data, p)
	if err != nil {
		return Calibration{}, measure.Latency{}, fmt.Errorf("lut: %w", err)
	}
	c, err := t.CalibrateMeasured(models, labels, lats)
	return c, lats[0], err
}

// CalibrateMeasured estimates each model with the table and fits a
// calibration (FitCalibration) stored under the fingerprint of the first
// model, the source, to their latencies lats, measured together (package
// measure: their blocks interleaved, or pooled from several such
// measurements with measure.Pool). Each point's measured latency is the
// model's latency relative to the source, measured round by round, times
// the source's latency: a machine whose speed drifts during the
// measurement moves no point against another. labels name the points (may
// be nil). The table's entries must have been measured with the same
// session options.
func (t *Table) CalibrateMeasured(models []*onnxio.Model, labels []string, lats []measure.Latency) (Calibration, error) {
	if len(models) == 0 || len(lats) != len(models) {
		return Calibration{}, fmt.Errorf("lut: %d models to calibrate on with %d latencies", len(models), len(lats))
	}
	fp, err := ModelFingerprint(models[0].Graph)
	if err != nil {
		return Calibration{}, err
	}
	pts := make([]CalPoint, len(models))
	for i, m := range models {
		est, err := t.Estimate(m.Graph, nil)
		if err != nil {
			return Calibration{}, err
		}
		r, err := measure.RatioOf(lats[i], lats[0])
		if err != nil {
			return Calibration{}, err
		}
		pts[i] = CalPoint{RawMS: est.RawMS, MeasuredMS: r.Value * lats[0].MS}
		if i < len(labels) {
			pts[i].Label = labels[i]
		}
	}
	name := ""
	if len(labels) > 0 {
		name = labels[0]
	}
	return FitCalibration(fp, name, pts)
}

// CalibrateSource calibrates the table for a source model: it measures the
// model and n random pruned variants of it (SourceVariants) together, and
// fits (Calibrate). n = 0 gives a ratio on the source alone; n ≥ 2 a line;
// five variants is what BENCHMARKS.md measures.
func (t *Table) CalibrateSource(m *onnxio.Model, name string, n int, seed uint64, p measure.Protocol) (Calibration, measure.Latency, error) {
	models, labels, err := SourceVariants(m, name, n, seed)
	if err != nil {
		return Calibration{}, measure.Latency{}, err
	}
	return t.Calibrate(models, labels, p)
}

// SourceVariants returns m followed by n random pruned variants of it
// (RandomVariants with seed), and their calibration labels: name, then
// "name variant I (P% of channels removed)".
func SourceVariants(m *onnxio.Model, name string, n int, seed uint64) ([]*onnxio.Model, []string, error) {
	models := []*onnxio.Model{m}
	labels := []string{name}
	if n > 0 {
		vs, removed, err := RandomVariants(m, n, seed)
		if err != nil {
			return nil, nil, err
		}
		models = append(models, vs...)
		for i, r := range removed {
			labels = append(labels, fmt.Sprintf("%s variant %d (%.0f%% of channels removed)", name, i, 100*r))
		}
	}
	return models, labels, nil
}

// RandomVariants returns n pruned variants of m (m is not changed) with
// the fractions of prunable channels removed spread over [0.1, 0.7]: each
// variant draws a target fraction in its share of that range, and every
// prunable channel group (surgery.Analyze) loses a fraction drawn within
// ±0.15 of it, keeping a multiple of 8 channels (at least 8), as NetAdapt
// on a step-8 grid does. It also returns the fraction each removed.
func RandomVariants(m *onnxio.Model, n int, seed uint64) ([]*onnxio.Model, []float64, error) {
	a, err := surgery.Analyze(m.Graph)
	if err != nil {
		return nil, nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x76617269616e74)) // "variant"
	targets := SpreadTargets(n, rng)
	var out []*onnxio.Model
	var removed []float64
	for _, target := range targets {
		plan, r := RandomPlan(a, target, rng)
		g := m.Graph.Clone()
		if err := surgery.Apply(g, plan); err != nil {
			return nil, nil, err
		}
		out = append(out, WithGraph(m, g))
		removed = append(removed, r)
	}
	return out, removed, nil
}

// SpreadTargets returns n fractions, one drawn in each n-th of [0.1, 0.7],
// in random order.
func SpreadTargets(n int, rng *rand.Rand) []float64 {
	targets := make([]float64, n)
	for i := range targets {
		targets[i] = 0.1 + 0.6*(float64(i)+rng.Float64())/float64(n)
	}
	rng.Shuffle(n, func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
	return targets
}

// RandomPlan removes from every prunable group of a a fraction drawn
// around target (±0.15, within [0, 0.9]), keeping a multiple of 8
// channels (at least 8; surgery's FractionPlan). It returns the plan and
// the fraction of prunable channels it removes.
func RandomPlan(a *surgery.Analysis, target float64, rng *rand.Rand) (surgery.Plan, float64) {
	p := a.FractionPlan(func(*surgery.Group) float64 {
		return min(max(target+0.3*(rng.Float64()-0.5), 0), 0.9)
	}, 8)
	total, removed := 0, 0
	for _, g := range a.Prunable() {
		total += g.Size
	}
	for _, gp := range p.Groups {
		removed += gp.Drop
	}
	return p, float64(removed) / float64(max(total, 1))
}
