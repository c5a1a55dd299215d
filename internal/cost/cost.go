package cost

import (
	"fmt"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// Layer is one node's share of the model's resources.
type Layer struct {
	Node     *onnxio.Node `json:"-"`
	Name     string       `json:"name"`
	Op       string       `json:"op"`
	Output   []int64      `json:"output_shape"`
	MACs     int64        `json:"macs"`
	Params   int64        `json:"params"`
	BNParams int64        `json:"bn_params,omitempty"`
}

// Report is the analytic cost of a graph.
type Report struct {
	Layers    []Layer `json:"layers"`
	MACs      int64   `json:"macs"`
	Params    int64   `json:"params"`
	BNParams  int64   `json:"bn_params"`
	AllParams int64   `json:"all_params"`
	// PeakActivationBytes is the largest total size of activations alive at
	// once when nodes run one at a time in topological order (batch 1).
	PeakActivationBytes int64 `json:"peak_activation_bytes"`
	// WeightBytes is the storage of every initializer.
	WeightBytes int64 `json:"weight_bytes"`
}

// Analyze infers the graph's shapes and returns its cost. It does not change
// the graph beyond recording inferred types.
func Analyze(g *onnxio.Graph) (*Report, error) {
	if err := g.InferShapes(); err != nil {
		return nil, err
	}
	order, err := g.Topo()
	if err != nil {
		return nil, err
	}
	r := &Report{}
	counted := map[*onnxio.Value]bool{}
	for _, n := range order {
		l := Layer{Node: n, Name: n.Name, Op: n.Op}
		if o := n.Output(0); o != nil {
			l.Output = batchOne(o.Type.Shape).Ints()
		}
		l.MACs = MACs(n)
		for i, in := range n.Inputs() {
			if in == nil || !in.IsConst() || counted[in] {
				continue
			}
			counted[in] = true
			size := in.Const.NumElements()
			switch {
			case isWeighted(n.Op) && i <= 2, isBiasAdd(n):
				l.Params += size
			case n.Op == "BatchNormalization":
				l.BNParams += size
			}
		}
		r.Layers = append(r.Layers, l)
		r.MACs += l.MACs
		r.Params += l.Params
		r.BNParams += l.BNParams
	}
	for _, v := range g.Initializers() {
		r.AllParams += v.Const.NumElements()
		if b := v.Const.DataType.ByteSize(v.Const.NumElements()); b > 0 {
			r.WeightBytes += b
		}
	}
	r.PeakActivationBytes = PeakActivationBytes(g, order)
	return r, nil
}

// isBiasAdd reports whether n adds a constant bias to a MatMul's output
// (MatMul + Add is how tf2onnx writes a dense layer).
func isBiasAdd(n *onnxio.Node) bool {
	if n.Op != "Add" {
		return false
	}
	for _, in := range n.Inputs() {
		if in != nil && in.Producer() != nil && in.Producer().Op == "MatMul" {
			return true
		}
	}
	return false
}

func isWeighted(op string) bool {
	switch op {
	case "Conv", "ConvTranspose", "Gemm", "MatMul":
		return true
	}
	return false
}

// batchOne replaces a symbolic or unknown leading dimension with 1.
func batchOne(s onnxio.Shape) onnxio.Shape {
	if len(s) > 0 && !s[0].Known() {
		s = append(onnxio.Shape{{Value: 1}}, s[1:]...)
	}
	return s
}

func numel(s onnxio.Shape) int64 {
	n := int64(1)
	for _, d := range batchOne(s) {
		if !d.Known() {
			return 0
		}
		n *= d.Value
	}
	return n
}

// MACs returns the multiply-accumulates of one node at batch 1, from the
// shapes recorded by shape inference; 0 for operators not counted.
func MACs(n *onnxio.Node) int64 {
	out := n.Output(0)
	if out == nil || !out.Type.HasShape {
		return 0
	}
	switch n.Op {
	case "Conv":
		w := n.Input(1)
		if w == nil || !w.Type.HasShape {
			return 0
		}
		// Each output element takes (Cin/group)·∏kernel multiply-adds; the
		// weight's shape [Cout, Cin/group, k...] gives that as numel/Cout.
		ws := w.Type.Shape
		if len(ws) < 2 || !ws[0].Known() || ws[0].Value == 0 {
			return 0
		}
		return numel(out.Type.Shape) * (numel(ws) / ws[0].Value)
	case "ConvTranspose":
		x, w := n.Input(0), n.Input(1)
		if x == nil || w == nil || !w.Type.HasShape || !x.Type.HasShape {
			return 0
		}
		ws := w.Type.Shape // [Cin, Cout/group, k...]
		if len(ws) < 2 || !ws[0].Known() || ws[0].Value == 0 {
			return 0
		}
		return numel(x.Type.Shape) * (numel(ws) / ws[0].Value)
	case "Gemm", "MatMul":
		a := n.Input(0)
		if a == nil || !a.Type.HasShape || len(a.Type.Shape) == 0 {
			return 0
		}
		k := a.Type.Shape[len(a.Type.Shape)-1]
		if n.Op == "Gemm" && n.AttrInt("transA", 0) == 1 {
			k = a.Type.Shape[0]
		}
		if !k.Known() {
			return 0
		}
		return numel(out.Type.Shape) * k.Value
	}
	return 0
}

// PeakActivationBytes returns the peak total size of live activations when
// the nodes run in the given order at batch 1. A value is live from its
// producer (or the start, for graph inputs) to its last consumer (or the
// end, for graph outputs). Initializers are not activations.
func PeakActivationBytes(g *onnxio.Graph, order []*onnxio.Node) int64 {
	last := map[*onnxio.Value]int{}
	for i, n := range order {
		for _, in := range n.Inputs() {
			if in != nil && !in.IsConst() {
				last[in] = i
			}
		}
	}
	for _, o := range g.Outputs {
		last[o] = len(order)
	}
	size := func(v *onnxio.Value) int64 {
		b := v.Type.Elem.ByteSize(numel(v.Type.Shape))
		return max(b, 0)
	}
	var live, peak int64
	for _, in := range g.Inputs {
		if !in.IsConst() {
			live += size(in)
		}
	}
	peak = live
	for i, n := range order {
		for _, o := range n.Outputs() {
			if o != nil {
				live += size(o)
			}
		}
		peak = max(peak, live)
		freed := map[*onnxio.Value]bool{}
		for _, v := range append(append([]*onnxio.Value(nil), n.Inputs()...), n.Outputs()...) {
			if v == nil || v.IsConst() || freed[v] {
				continue
			}
			if l, used := last[v]; (used && l == i) || (!used && v.Producer() == n) {
				freed[v] = true
				live -= size(v)
			}
		}
	}
	return peak
}

// String formats a count with a metric suffix (k, M, G).
func String(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fG", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

// Bytes formats a size in bytes with a binary suffix (KiB, MiB, GiB).
func Bytes(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}
