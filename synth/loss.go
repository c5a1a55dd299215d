package synth

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/onnxpb"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// varFloor: a stored variance below this fraction of its layer's median
// is raised to it when measuring in units of the stored deviation.
const varFloor = 1e-3

// bnLayer is a BatchNormalization whose input statistics are matched.
type bnLayer struct {
	name  string // the BN node (or its output) for reports
	input string // the value whose statistics are matched
	mean  []float64
	std   []float64 // √(max(var, floor) + ε)
}

// layers lists the BatchNormalization nodes of g with constant
// statistics over a 4-D input.
func layers(g *onnxio.Graph) []bnLayer {
	var out []bnLayer
	for _, n := range g.Nodes {
		if n.Op != "BatchNormalization" || n.Domain != "" || n.Input(0) == nil || n.Output(0) == nil {
			continue
		}
		x, mv, vv := n.Input(0), n.Input(3), n.Input(4)
		if mv == nil || vv == nil || mv.Const == nil || vv.Const == nil || !x.Type.HasShape || len(x.Type.Shape) != 4 {
			continue
		}
		mean, err1 := mv.Const.Float64s()
		variance, err2 := vv.Const.Float64s()
		if err1 != nil || err2 != nil || len(mean) != len(variance) || len(mean) == 0 {
			continue
		}
		if c := x.Type.Shape[1]; !c.Known() || int(c.Value) != len(mean) {
			continue
		}
		med := slices.Clone(variance)
		slices.Sort(med)
		floor := varFloor * med[len(med)/2]
		eps := float64(n.AttrFloat("epsilon", 1e-5))
		l := bnLayer{name: n.Name, input: x.Name, mean: mean, std: make([]float64, len(mean))}
		if l.name == "" {
			l.name = n.Output(0).Name
		}
		for c, v := range variance {
			l.std[c] = math.Sqrt(max(v, floor) + eps)
		}
		out = append(out, l)
	}
	return out
}

// Layers returns the number of BatchNormalization layers of m whose
// stored statistics inputs can be synthesised from (0: none, for example
// a model whose BatchNormalization was folded into its convolutions).
func Layers(m *onnxio.Model) int { return len(layers(m.Graph)) }

// ErrNoClassScores: the class term (Options.ClassWeight) needs the
// model's first output to be N×K class scores.
var ErrNoClassScores = errors.New("synth: the class term needs the model's N×K class scores")

// lossModel returns a copy of m whose only output is the statistics
// objective (see the package documentation) for a batch of n images, of
// shape [1,1]. With logits, the model's n×K logits follow the objective
// in the same output, [1, 1+n·K], for the class term; it returns K (0
// without logits).
func lossModel(m *onnxio.Model, n int, logits bool) (*onnxio.Model, int, error) {
	c := finetune.LogitsModel(m)
	g := c.Graph
	var out *onnxio.Value
	k := 0
	if logits {
		if len(g.Outputs) == 0 {
			return nil, 0, fmt.Errorf("%w: it has no output", ErrNoClassScores)
		}
		out = g.Outputs[0]
		sh := out.Type.Shape
		if !out.Type.HasShape || len(sh) != 2 || !sh[1].Known() || sh[1].Value < 2 {
			return nil, 0, fmt.Errorf("%w: its first output %q is %v", ErrNoClassScores, out.Name, sh)
		}
		k = int(sh[1].Value)
	}
	ls := layers(g)
	if len(ls) == 0 {
		return nil, 0, fmt.Errorf("synth: the model has no BatchNormalization statistics")
	}
	b := &lossBuilder{g: g}
	ones := func(k int, v float64) *onnxio.Value {
		data := make([]float32, k)
		for i := range data {
			data[i] = float32(v)
		}
		return b.init([]int64{int64(k), 1}, data)
	}
	avgN := ones(n, 1/float64(n))
	one := b.init([]int64{1}, []float32{1})
	var total *onnxio.Value
	for _, l := range ls {
		C := len(l.mean)
		mu, inv := make([]float32, C), make([]float32, C)
		for i := range C {
			mu[i], inv[i] = float32(l.mean[i]), float32(1/l.std[i])
		}
		z := b.op("Mul", b.op("Sub", g.Value(l.input), b.init([]int64{int64(C), 1, 1}, mu)), b.init([]int64{int64(C), 1, 1}, inv))
		// E[z] and E[z²] per channel: the spatial mean (GlobalAveragePool),
		// then the batch mean (a Gemm by a column of 1/n).
		moment := func(x *onnxio.Value) *onnxio.Value {
			f := b.op("Flatten", b.op("GlobalAveragePool", x), onnxio.AttrInt("axis", 1)) // n×C
			return b.op("Gemm", b.op("Transpose", f, onnxio.AttrInts("perm", []int64{1, 0})), avgN)
		}
		m1 := moment(z)
		v := b.op("Sub", moment(b.op("Mul", z, z)), one)
		q := b.op("Add", b.op("Mul", m1, m1), b.op("Mul", v, v)) // C×1
		term := b.op("Gemm", b.op("Transpose", q, onnxio.AttrInts("perm", []int64{1, 0})), ones(C, 1/float64(C*len(ls))))
		if total == nil {
			total = term
		} else {
			total = b.op("Add", total, term)
		}
	}
	if out != nil {
		flat := b.op("Reshape", out, b.int64s([]int64{1, int64(n * k)}))
		total = b.op("Concat", total, flat, onnxio.AttrInt("axis", 1))
	}
	g.Outputs = []*onnxio.Value{total}
	g.RemoveUnused()
	return c, k, nil
}

// lossBuilder appends nodes to a graph.
type lossBuilder struct {
	g *onnxio.Graph
}

func (b *lossBuilder) init(dims []int64, data []float32) *onnxio.Value {
	return b.add(onnxio.NewFloat32Tensor(dims, data))
}

func (b *lossBuilder) int64s(data []int64) *onnxio.Value {
	return b.add(onnxio.NewInt64Tensor([]int64{int64(len(data))}, data))
}

// add adds t as a constant initializer.
func (b *lossBuilder) add(t *onnxio.Tensor, err error) *onnxio.Value {
	if err != nil {
		panic(err) // the dims always match the data here
	}
	return b.g.AddInitializer(b.g.UniqueName("synth/c"), t)
}

// op adds a node; its inputs are the leading Values, then its attributes.
func (b *lossBuilder) op(op string, args ...any) *onnxio.Value {
	var ins []*onnxio.Value
	var attrs []*onnxpb.AttributeProto
	for _, a := range args {
		switch a := a.(type) {
		case *onnxio.Value:
			ins = append(ins, a)
		case *onnxpb.AttributeProto:
			attrs = append(attrs, a)
		}
	}
	name := b.g.UniqueName("synth/" + op)
	return b.g.AddNode(op, name, ins, []string{name + "_out"}, attrs...).Output(0)
}
