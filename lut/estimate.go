package lut

import (
	"errors"
	"fmt"
	"slices"

	"github.com/onnx-adapt/onnx-adapt/internal/cost"
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
	size, err := onnxio.EncodedSize(m)
	if err != nil {
		return nil, err
	}
	r := &Resources{MACs: rep.MACs, Params: rep.Params, BNParams: rep.BNParams, AllParams: rep.AllParams,
		Bytes: size, PeakActivationBytes: rep.PeakActivationBytes}
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
