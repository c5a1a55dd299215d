package finetune

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxpb"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// Named tolerances of the checks.
const (
	fdStep  = 1e-6 // central-difference step
	gradTol = 1e-4 // max ‖analytic − numeric‖∞ / max(1, ‖numeric‖∞)
)

func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

// gb is a small DSL for building test graphs.
type gb struct {
	m   *onnxio.Model
	g   *onnxio.Graph
	rng *rand.Rand
	n   int
}

func newGB(opset int64, seed uint64) *gb {
	m := onnxio.NewModel(opset)
	return &gb{m: m, g: m.Graph, rng: newRNG(seed)}
}

func (b *gb) input(name string, shape ...int64) *onnxio.Value {
	v := b.g.NewValue(name)
	v.Type = onnxio.Type{Elem: onnxio.Float, Shape: onnxio.ShapeOf(shape...), HasShape: true}
	b.g.Inputs = append(b.g.Inputs, v)
	return v
}

// init adds an initializer of N(mean, std²) values.
func (b *gb) init(name string, mean, std float64, shape ...int64) *onnxio.Value {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	f := make([]float32, n)
	for i := range f {
		f[i] = float32(mean + std*b.rng.NormFloat64())
	}
	return b.initVals(name, shape, f)
}

// initU adds an initializer of uniform values in [lo, hi).
func (b *gb) initU(name string, lo, hi float64, shape ...int64) *onnxio.Value {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	f := make([]float32, n)
	for i := range f {
		f[i] = float32(lo + (hi-lo)*b.rng.Float64())
	}
	return b.initVals(name, shape, f)
}

func (b *gb) initVals(name string, shape []int64, f []float32) *onnxio.Value {
	t, err := onnxio.NewFloat32Tensor(shape, f)
	if err != nil {
		panic(err)
	}
	return b.g.AddInitializer(name, t)
}

func (b *gb) initInts(name string, vals ...int64) *onnxio.Value {
	t, err := onnxio.NewInt64Tensor([]int64{int64(len(vals))}, vals)
	if err != nil {
		panic(err)
	}
	return b.g.AddInitializer(name, t)
}

// node adds op with the given inputs and returns its first output.
func (b *gb) node(op string, ins []*onnxio.Value, attrs ...*onnxpb.AttributeProto) *onnxio.Value {
	b.n++
	n := b.g.AddNode(op, "", ins, []string{op + "_out"}, attrs...)
	n.Name = n.Output(0).Name
	return n.Output(0)
}

func (b *gb) output(vs ...*onnxio.Value) *gb {
	b.g.Outputs = append(b.g.Outputs, vs...)
	return b
}

func vals(vs ...*onnxio.Value) []*onnxio.Value { return vs }

var (
	aInt    = onnxio.AttrInt
	aInts   = onnxio.AttrInts
	aFloat  = onnxio.AttrFloat
	aString = onnxio.AttrString
)

func infNorm(s []float64) float64 {
	m := 0.0
	for _, v := range s {
		m = math.Max(m, math.Abs(v))
	}
	return m
}

// relErr is ‖a−b‖∞ / max(1, ‖b‖∞).
func relErr(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		if math.IsNaN(a[i]) || math.IsNaN(b[i]) {
			return math.Inf(1)
		}
		d = math.Max(d, math.Abs(a[i]-b[i]))
	}
	return d / math.Max(1, infNorm(b))
}

func fill64(r *rand.Rand, s []float64) {
	for i := range s {
		s[i] = r.NormFloat64()
	}
}

func mustCompile[T Float](t testing.TB, m *onnxio.Model, o Options) *Engine[T] {
	t.Helper()
	e, err := Compile[T](m, o)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return e
}
