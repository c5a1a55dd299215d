package lut

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/onnx-adapt/onnx-adapt/internal/cost"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

// UnitEstimate is one unit's share of an estimate.
type UnitEstimate struct {
	Name string `json:"name"`
	Key  Key    `json:"key"`
	How  How    `json:"how"`
	// MS is the unit's kernel latency from the table, less the per-run
	// overhead.
	MS float64 `json:"ms"`
	// ReorderMS is what onnxruntime spends in this model on layout
	// reorders at the unit's boundary: a ReorderOutput after it when it
	// writes NCHWc and something reads its output in NCHW, a ReorderInput
	// before it when it reads NCHWc and its input is produced in NCHW.
	ReorderMS float64 `json:"reorder_ms"`
	// NetMS is MS + ReorderMS.
	NetMS float64 `json:"net_ms"`
	MACs  int64   `json:"macs"`
}

// Estimate is a latency estimate of a whole graph.
//
//	RawMS = Σ_units (entry − overhead) + Σ_boundaries reorders + overhead
//	MS    = Calibration.Scale · RawMS + Calibration.OffsetMS
//
// Entries are kernel latencies as onnxruntime runs them inside a model
// (see Measurer.Measure), each including one session Run of overhead (the
// OpOverhead entry, a one-element model), which a whole model pays once.
// onnxruntime computes convolutions and much of what follows them in its
// blocked NCHWc layout and reorders tensors where a producer and a consumer
// disagree on the layout (Entry.NCHWcIn, Entry.NCHWcOut): those reorders
// are priced from OpReorderIn (ReorderInput) and OpReorderPair
// (ReorderInput then ReorderOutput) entries of the tensor's shape, and
// charged to the unit at that boundary.
type Estimate struct {
	MS          float64        `json:"ms"`
	RawMS       float64        `json:"raw_ms"`
	OverheadMS  float64        `json:"overhead_ms"`
	ReorderMS   float64        `json:"reorder_ms"`
	Calibration *Calibration   `json:"calibration,omitempty"`
	Units       []UnitEstimate `json:"units"`
	Warnings    []string       `json:"warnings,omitempty"`
}

// Estimate estimates the latency of graph g. cal may be nil (then MS =
// RawMS). See Table.Latency for how missing entries are handled.
func (t *Table) Estimate(g *onnxio.Graph, cal *Calibration) (*Estimate, error) {
	units, err := Units(g)
	if err != nil {
		return nil, err
	}
	return t.EstimateUnits(g, units, cal)
}

// overheadKey is the key of the per-run overhead entry.
var overheadKey = Key{Op: OpOverhead, Batch: 1, H: 1, W: 1, Cin: 1, Cout: 1}

// EstimateUnits is Estimate for units already partitioned from g.
func (t *Table) EstimateUnits(g *onnxio.Graph, units []*Unit, cal *Calibration) (*Estimate, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var missing []Key
	var firstErr error
	// get records a missing key or the first error and carries on, so that
	// one error lists every key a foreign table lacks.
	get := func(k Key, tmpl *onnxio.Node) Value {
		v, err := t.latency(k, tmpl)
		var me *MissingError
		switch {
		case errors.As(err, &me):
			missing = append(missing, me.Keys...)
		case err != nil && firstErr == nil:
			firstErr = err
		}
		return v
	}
	est := t.estimate(g, units, get)
	if firstErr != nil {
		return nil, firstErr
	}
	if len(missing) > 0 {
		slices.SortFunc(missing, compareKeys)
		return nil, &MissingError{Keys: slices.Compact(missing)}
	}
	est.Warnings = append(est.Warnings, t.approx...)
	t.approx = nil
	est.MS = est.RawMS
	if cal != nil {
		c := *cal
		est.Calibration = &c
		est.MS = c.Apply(est.RawMS)
	}
	return est, nil
}

func (t *Table) estimate(g *onnxio.Graph, units []*Unit, get func(Key, *onnxio.Node) Value) *Estimate {
	est := &Estimate{}
	overhead := get(overheadKey, nil).MS
	est.OverheadMS = overhead
	vals := make([]Value, len(units))
	est.Units = make([]UnitEstimate, len(units))
	for i, u := range units {
		v := get(u.key, u.tmpl)
		vals[i] = v
		ue := UnitEstimate{Name: u.Name, Key: u.key, How: v.How}
		if v.How != HowFree {
			ue.MS = max(0, v.MS-overhead)
		}
		for _, n := range u.Nodes {
			ue.MACs += cost.MACs(n)
		}
		est.Units[i] = ue
	}
	type use struct{ unit, input int }
	uses := map[*onnxio.Value][]use{}
	var values []*onnxio.Value // in order of first use, for determinism
	for i, u := range units {
		for j, in := range u.Inputs {
			if _, seen := uses[in]; !seen {
				values = append(values, in)
			}
			uses[in] = append(uses[in], use{i, j})
		}
	}
	outputs := map[*onnxio.Value]bool{}
	for _, o := range g.Outputs {
		outputs[o] = true
		if _, seen := uses[o]; !seen {
			values = append(values, o)
			uses[o] = nil
		}
	}
	producer := map[*onnxio.Value]int{}
	for i, u := range units {
		if u.Output != nil {
			producer[u.Output] = i
		}
	}
	for _, v := range values {
		d, err := dims(v)
		if err != nil || len(d) != 4 {
			continue
		}
		p, produced := producer[v]
		nchwcOut := produced && vals[p].NCHWcOut
		nchwUse, nchwcUse := outputs[v], -1
		for _, us := range uses[v] {
			if vals[us.unit].in(us.input) {
				if nchwcUse < 0 {
					nchwcUse = us.unit
				}
			} else {
				nchwUse = true
			}
		}
		switch {
		case nchwcOut && nchwUse:
			in := max(0, get(reorderKey(OpReorderIn, d[0], d[1], d[2], d[3]), nil).MS-overhead)
			pair := max(0, get(reorderKey(OpReorderPair, d[0], d[1], d[2], d[3]), nil).MS-overhead)
			est.Units[p].ReorderMS += max(0, pair-in)
		case !nchwcOut && nchwcUse >= 0:
			in := max(0, get(reorderKey(OpReorderIn, d[0], d[1], d[2], d[3]), nil).MS-overhead)
			est.Units[nchwcUse].ReorderMS += in
		}
	}
	for i := range est.Units {
		ue := &est.Units[i]
		ue.NetMS = ue.MS + ue.ReorderMS
		est.RawMS += ue.NetMS
		est.ReorderMS += ue.ReorderMS
	}
	est.RawMS += overhead
	return est
}

// Calibration maps a raw estimate to onnxruntime's whole-model latency:
// MS = Scale·raw + OffsetMS. It is fitted (FitCalibration) against
// whole-model measurements of a source model and, optionally, of pruned
// variants of it, and is then used for every candidate derived from that
// source.
type Calibration struct {
	// Model is the fingerprint (Fingerprint) of the source model.
	Model    string     `json:"model"`
	Name     string     `json:"name,omitempty"`
	Scale    float64    `json:"scale"`
	OffsetMS float64    `json:"offset_ms"`
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

// FitCalibration fits a calibration to whole-model measurements. With one
// or two points it is a ratio (OffsetMS = 0; Scale = Σ raw·measured / Σ
// raw², the least-squares line through the origin); with three or more, an
// ordinary least-squares line, unless that line has a scale outside
// [0.5, 2] (too few or too close points), in which case the ratio is kept.
func FitCalibration(model, name string, pts []CalPoint) (Calibration, error) {
	c := Calibration{Model: model, Name: name, Points: slices.Clone(pts)}
	var sxx, sxy, sx, sy float64
	for _, p := range pts {
		if !finite(p.RawMS) || !finite(p.MeasuredMS) || p.RawMS <= 0 || p.MeasuredMS <= 0 {
			return Calibration{}, fmt.Errorf("lut: calibration point %+v is not positive", p)
		}
		sxx += p.RawMS * p.RawMS
		sxy += p.RawMS * p.MeasuredMS
		sx += p.RawMS
		sy += p.MeasuredMS
	}
	if len(pts) == 0 {
		return Calibration{}, fmt.Errorf("lut: calibration needs at least one measurement")
	}
	c.Scale = sxy / sxx
	if n := float64(len(pts)); len(pts) >= 3 {
		den := n*sxx - sx*sx
		if den > 1e-12*sxx*n {
			a := (n*sxy - sx*sy) / den
			b := (sy - a*sx) / n
			if a >= 0.5 && a <= 2 {
				c.Scale, c.OffsetMS = a, b
			}
		}
	}
	return c, nil
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

// Calibrate measures each model whole in onnxruntime (median of runs after
// warm-up) with the table's session options, estimates it with the table,
// and fits a calibration (FitCalibration) stored under the fingerprint of
// the first model, which is the source. labels name the points (may be
// nil).
func (t *Table) Calibrate(models []*onnxio.Model, labels []string, opts ort.Options, runs int) (Calibration, error) {
	if len(models) == 0 {
		return Calibration{}, fmt.Errorf("lut: nothing to calibrate on")
	}
	var pts []CalPoint
	var fp string
	for i, m := range models {
		units, err := Units(m.Graph)
		if err != nil {
			return Calibration{}, err
		}
		if i == 0 {
			fp = Fingerprint(m.Graph, units)
		}
		est, err := t.EstimateUnits(m.Graph, units, nil)
		if err != nil {
			return Calibration{}, err
		}
		data, err := onnxio.Encode(m)
		if err != nil {
			return Calibration{}, err
		}
		_, best, err := MeasureModel(data, opts, 10, runs)
		if err != nil {
			return Calibration{}, err
		}
		p := CalPoint{RawMS: est.RawMS, MeasuredMS: ms(best)}
		if i < len(labels) {
			p.Label = labels[i]
		}
		pts = append(pts, p)
	}
	name := ""
	if len(labels) > 0 {
		name = labels[0]
	}
	return FitCalibration(fp, name, pts)
}

// Resources are the resources of a model.
type Resources struct {
	// MACs counts Conv and Gemm/MatMul multiply-accumulates at batch 1.
	MACs int64 `json:"macs"`
	// Params counts Conv and Gemm/MatMul weights and biases; BNParams the
	// BatchNormalization tensors; AllParams every initializer element.
	Params    int64 `json:"params"`
	BNParams  int64 `json:"bn_params"`
	AllParams int64 `json:"all_params"`
	// Bytes is the size of the serialized model (len of onnxio.Encode).
	Bytes int64 `json:"bytes"`
	// PeakActivationBytes is the peak size of live activations running
	// nodes one at a time in topological order (internal/cost).
	PeakActivationBytes int64 `json:"peak_activation_bytes"`
	// LatencyMS is the (calibrated) estimate; 0 without a table.
	LatencyMS float64   `json:"latency_ms,omitempty"`
	Latency   *Estimate `json:"latency,omitempty"`
}

// ModelResources computes the resources of m without writing a file. With
// t nil the latency is left out. To price a candidate (a graph with a
// pruning plan applied), pass a model sharing m's metadata with the
// candidate graph: WithGraph(m, g).
func ModelResources(m *onnxio.Model, t *Table, cal *Calibration) (*Resources, error) {
	rep, err := cost.Analyze(m.Graph)
	if err != nil {
		return nil, fmt.Errorf("lut: %w", err)
	}
	data, err := onnxio.Encode(m)
	if err != nil {
		return nil, err
	}
	r := &Resources{MACs: rep.MACs, Params: rep.Params, BNParams: rep.BNParams, AllParams: rep.AllParams,
		Bytes: int64(len(data)), PeakActivationBytes: rep.PeakActivationBytes}
	if t != nil {
		est, err := t.Estimate(m.Graph, cal)
		if err != nil {
			return nil, err
		}
		r.Latency = est
		r.LatencyMS = est.MS
	}
	return r, nil
}

// PlanResources computes the resources of m with the pruning plan p
// applied, without writing a file and without changing m: the plan is
// applied to a clone of m's graph (surgery.Apply).
func PlanResources(m *onnxio.Model, p surgery.Plan, t *Table, cal *Calibration) (*Resources, error) {
	g := m.Graph.Clone()
	if err := surgery.Apply(g, p); err != nil {
		return nil, err
	}
	return ModelResources(WithGraph(m, g), t, cal)
}

// WithGraph returns a model with m's metadata, opsets and other file-level
// fields and the graph g (m is not changed; the two share those fields,
// which onnxio never edits in place).
func WithGraph(m *onnxio.Model, g *onnxio.Graph) *onnxio.Model {
	c := *m
	c.Graph = g
	return &c
}

// relErr is |est − ref| / ref.
func relErr(est, ref float64) float64 { return math.Abs(est-ref) / ref }
