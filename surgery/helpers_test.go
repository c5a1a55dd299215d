package surgery

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxcheck"
	"github.com/onnx-adapt/onnx-adapt/internal/onnxpb"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// ---------------------------------------------------------------------------
// A small DSL to build test graphs, in the spirit of the Go compiler's ssa
// test helpers: every op infers shapes right away, so builders can read
// channel counts.

type tg struct {
	tb  testing.TB
	m   *onnxio.Model
	g   *onnxio.Graph
	rng *rand.Rand
	n   int
}

func newTG(tb testing.TB, opset int64, seed uint64) *tg {
	m := onnxio.NewModel(opset)
	return &tg{tb: tb, m: m, g: m.Graph, rng: rand.New(rand.NewPCG(seed, 7))}
}

func (b *tg) name(p string) string {
	b.n++
	return fmt.Sprintf("%s%d", p, b.n)
}

// input declares a float input of fixed shape.
func (b *tg) input(dims ...int64) *onnxio.Value {
	v := b.g.NewValue(b.name("in"))
	v.Type = onnxio.Type{Elem: onnxio.Float, Shape: onnxio.ShapeOf(dims...), HasShape: true}
	b.g.Inputs = append(b.g.Inputs, v)
	return v
}

// w adds a random float initializer.
func (b *tg) w(dims ...int64) *onnxio.Value {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(b.rng.NormFloat64() * 0.5)
	}
	t, err := onnxio.NewFloat32Tensor(dims, data)
	if err != nil {
		b.tb.Fatal(err)
	}
	return b.g.AddInitializer(b.name("w"), t)
}

// pos adds a random positive float initializer (BN variance).
func (b *tg) pos(dims ...int64) *onnxio.Value {
	v := b.w(dims...)
	f, _ := v.Const.Float32()
	for i := range f {
		f[i] = float32(math.Abs(float64(f[i]))) + 0.5
	}
	t, _ := onnxio.NewFloat32Tensor(dims, f)
	v.Const = t
	return v
}

func (b *tg) ints(vals ...int64) *onnxio.Value {
	t, err := onnxio.NewInt64Tensor([]int64{int64(len(vals))}, vals)
	if err != nil {
		b.tb.Fatal(err)
	}
	return b.g.AddInitializer(b.name("i"), t)
}

func (b *tg) scalar(x float32) *onnxio.Value {
	t, _ := onnxio.NewFloat32Tensor([]int64{}, []float32{x})
	return b.g.AddInitializer(b.name("s"), t)
}

// constNode emits a Constant node holding an int64 vector.
func (b *tg) constNode(vals ...int64) *onnxio.Value {
	t, _ := onnxio.NewInt64Tensor([]int64{int64(len(vals))}, vals)
	return b.op("Constant", nil, onnxio.AttrTensor("value", t))
}

func (b *tg) op(op string, ins []*onnxio.Value, attrs ...*onnxpb.AttributeProto) *onnxio.Value {
	return b.opN(op, ins, 1, attrs...)[0]
}

func (b *tg) opN(op string, ins []*onnxio.Value, outs int, attrs ...*onnxpb.AttributeProto) []*onnxio.Value {
	var names []string
	for range outs {
		names = append(names, b.name(strings.ToLower(op)))
	}
	n := b.g.AddNode(op, b.name(op), ins, names, attrs...)
	if err := b.g.InferShapes(); err != nil {
		b.tb.Fatalf("building %s: %v", op, err)
	}
	return n.Outputs()
}

// opTyped emits an op whose output shape is declared, for operators shape
// inference does not know.
func (b *tg) opTyped(op string, ins []*onnxio.Value, dims []int64, attrs ...*onnxpb.AttributeProto) *onnxio.Value {
	n := b.g.AddNode(op, b.name(op), ins, []string{b.name(strings.ToLower(op))}, attrs...)
	n.Output(0).Type = onnxio.Type{Elem: onnxio.Float, Shape: onnxio.ShapeOf(dims...), HasShape: true}
	if err := b.g.InferShapes(); err != nil {
		b.tb.Fatalf("building %s: %v", op, err)
	}
	return n.Output(0)
}

func (b *tg) dims(v *onnxio.Value) []int64 { return v.Type.Shape.Ints() }

// conv is a k×k conv with "same" padding; bias optional.
func (b *tg) conv(x *onnxio.Value, cout, k, stride, group int64, bias bool) *onnxio.Value {
	cin := b.dims(x)[1]
	ins := []*onnxio.Value{x, b.w(cout, cin/group, k, k)}
	if bias {
		ins = append(ins, b.w(cout))
	}
	p := k / 2
	return b.op("Conv", ins, onnxio.AttrInts("kernel_shape", []int64{k, k}),
		onnxio.AttrInts("pads", []int64{p, p, p, p}), onnxio.AttrInts("strides", []int64{stride, stride}),
		onnxio.AttrInt("group", group))
}

func (b *tg) bn(x *onnxio.Value) *onnxio.Value {
	c := b.dims(x)[1]
	return b.op("BatchNormalization", []*onnxio.Value{x, b.w(c), b.w(c), b.w(c), b.pos(c)})
}

func (b *tg) relu(x *onnxio.Value) *onnxio.Value { return b.op("Relu", []*onnxio.Value{x}) }

func (b *tg) gemm(x *onnxio.Value, nout int64) *onnxio.Value {
	k := b.dims(x)[1]
	return b.op("Gemm", []*onnxio.Value{x, b.w(nout, k), b.w(nout)}, onnxio.AttrInt("transB", 1))
}

func (b *tg) gap(x *onnxio.Value) *onnxio.Value {
	return b.op("GlobalAveragePool", []*onnxio.Value{x})
}

func (b *tg) flatten(x *onnxio.Value) *onnxio.Value {
	return b.op("Flatten", []*onnxio.Value{x}, onnxio.AttrInt("axis", 1))
}

func (b *tg) output(vs ...*onnxio.Value) *onnxio.Model {
	b.g.Outputs = append(b.g.Outputs, vs...)
	if err := b.g.Verify(); err != nil {
		b.tb.Fatal(err)
	}
	return b.m
}

// ---------------------------------------------------------------------------
// onnxruntime.

// needORT skips the test when the onnxruntime library is not installed.
func needORT(tb testing.TB) {
	tb.Helper()
	if err := ort.Init(); err != nil {
		if errors.Is(err, ort.ErrLibraryNotFound) {
			tb.Skipf("onnxruntime not installed: %v", err)
		}
		tb.Fatal(err)
	}
}

// runORT runs m once on inputs (random ones when inputs is nil, batch 2)
// and returns its inputs and outputs.
func runORT(tb testing.TB, m *onnxio.Model, inputs []ort.Tensor) ([]ort.Tensor, [][]float32) {
	tb.Helper()
	data, err := onnxio.Encode(m)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := ort.NewSession(data, ort.Options{IntraOpThreads: 1})
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	if inputs == nil {
		if inputs, err = ort.RandomInputs(s.Inputs(), 2, 11); err != nil {
			tb.Fatal(err)
		}
	}
	outs, err := s.Run(inputs)
	if err != nil {
		tb.Fatal(err)
	}
	var res [][]float32
	for _, o := range outs {
		f, err := o.Float32()
		if err != nil {
			tb.Fatal(err)
		}
		res = append(res, f)
	}
	return inputs, res
}

// closeEnough compares outputs within tol relative to the reference's
// scale (its largest magnitude).
func closeEnough(got, want [][]float32, tol float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d outputs, want %d", len(got), len(want))
	}
	for k := range want {
		if len(got[k]) != len(want[k]) {
			return fmt.Errorf("output %d has %d elements, want %d", k, len(got[k]), len(want[k]))
		}
		scale := 1e-6
		for _, x := range want[k] {
			scale = max(scale, math.Abs(float64(x)))
		}
		worst, at := 0.0, 0
		for i := range want[k] {
			d := math.Abs(float64(got[k][i]) - float64(want[k][i]))
			if math.IsNaN(d) {
				return fmt.Errorf("output %d[%d] is NaN", k, i)
			}
			if d > worst {
				worst, at = d, i
			}
		}
		if worst > tol*scale {
			return fmt.Errorf("output %d[%d] = %g, want %g: off by %.3g of the output's scale %.3g (tolerance %g)",
				k, at, got[k][at], want[k][at], worst/scale, scale, tol)
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// The exact oracle: the original model with the dropped channels'
// consumer weights zeroed.

func zeroConsumers(tb testing.TB, m *onnxio.Model, a *Analysis, sel Selection) *onnxio.Model {
	tb.Helper()
	z := m.Clone()
	zero := map[string]map[int][]int{} // tensor → axis → positions
	for gid, keep := range sel {
		kept := map[int]bool{}
		for _, c := range keep {
			kept[c] = true
		}
		for _, mem := range a.Groups[gid].Members {
			if mem.Kind != "input" {
				continue
			}
			if zero[mem.Tensor] == nil {
				zero[mem.Tensor] = map[int][]int{}
			}
			for c := mem.Lo; c < mem.Hi; c++ {
				if kept[c] {
					continue
				}
				for o := 0; o < mem.Outer; o++ {
					for i := 0; i < mem.Inner; i++ {
						p := o*mem.Period + mem.Offset + (c-mem.Lo)*mem.Inner + i
						zero[mem.Tensor][mem.Axis] = append(zero[mem.Tensor][mem.Axis], p)
					}
				}
			}
		}
	}
	for name, axes := range zero {
		v := z.Graph.Value(name)
		if v == nil || !v.IsConst() {
			tb.Fatalf("oracle: %q is not an initializer", name)
		}
		f, err := v.Const.Float32()
		if err != nil {
			tb.Fatalf("oracle: %q: %v", name, err)
		}
		dims := v.Const.Dims
		for ax, ps := range axes {
			outer, inner := 1, 1
			for i, d := range dims {
				if i < ax {
					outer *= int(d)
				} else if i > ax {
					inner *= int(d)
				}
			}
			n := int(dims[ax])
			for o := 0; o < outer; o++ {
				for _, p := range ps {
					for i := 0; i < inner; i++ {
						f[(o*n+p)*inner+i] = 0
					}
				}
			}
		}
		t, _ := onnxio.NewFloat32Tensor(dims, f)
		v.Const = t
	}
	return z
}

// randomPlan picks random prunable groups and random kept subsets, down to
// one channel.
func randomPlan(rng *rand.Rand, a *Analysis) Plan {
	groups := a.Prunable()
	p := Plan{}
	for len(p.Groups) == 0 {
		prob := rng.Float64()
		for _, g := range groups {
			if rng.Float64() > prob {
				continue
			}
			k := 1 + rng.IntN(g.Size-1)
			if rng.IntN(4) == 0 {
				k = 1
			}
			keep := rng.Perm(g.Size)[:k]
			slices.Sort(keep)
			p.Groups = append(p.Groups, GroupPlan{Group: g.ID, Keep: keep})
		}
	}
	return p
}

// checkPlan applies p to a clone of m, compares the pruned model against
// the oracle in onnxruntime, and reports whether p was applicable (plans
// that empty a Split/Slice part are refused by design).
func checkPlan(tb testing.TB, m *onnxio.Model, a *Analysis, p Plan) bool {
	tb.Helper()
	pm := m.Clone()
	if err := Apply(pm.Graph, p); err != nil {
		if strings.Contains(err.Error(), "removes every channel") {
			return false
		}
		tb.Fatalf("Apply: %v\nplan: %+v", err, p)
	}
	// TestMain's ONNX checker vets every pruned model (internal/onnxcheck).
	data, err := onnxio.Encode(pm)
	if err != nil {
		tb.Fatal(err)
	}
	onnxcheck.Submit(tb.Name(), data)
	rp, err := a.Resolve(p)
	if err != nil {
		tb.Fatal(err)
	}
	z := zeroConsumers(tb, m, a, rp.Selection())
	want, got := runPair(tb, z, pm)
	if err := closeEnough(got, want, 1e-4); err != nil {
		tb.Fatalf("pruned model differs from the oracle: %v\nplan: %+v", err, p)
	}
	return true
}

// runPair runs two models with the same inputs in one onnxruntime session
// (one graph holding both, the second one's names prefixed), which halves
// the session set-up that dominates these tests.
func runPair(tb testing.TB, a, b *onnxio.Model) (outA, outB [][]float32) {
	tb.Helper()
	pa, err := a.Proto()
	if err != nil {
		tb.Fatal(err)
	}
	pb, err := b.Proto()
	if err != nil {
		tb.Fatal(err)
	}
	ga, gb := pa.Graph, pb.Graph
	shared := map[string]bool{"": true}
	for _, in := range gb.Input {
		shared[in.GetName()] = true
	}
	rn := func(s string) string {
		if shared[s] {
			return s
		}
		return "pruned/" + s
	}
	for _, n := range gb.Node {
		n = proto.Clone(n).(*onnxpb.NodeProto)
		for i := range n.Input {
			n.Input[i] = rn(n.Input[i])
		}
		for i := range n.Output {
			n.Output[i] = rn(n.Output[i])
		}
		n.Name = proto.String(rn(n.GetName()))
		ga.Node = append(ga.Node, n)
	}
	for _, t := range gb.Initializer {
		t = proto.Clone(t).(*onnxpb.TensorProto)
		t.Name = proto.String(rn(t.GetName()))
		ga.Initializer = append(ga.Initializer, t)
	}
	for _, o := range gb.Output {
		o = proto.Clone(o).(*onnxpb.ValueInfoProto)
		o.Name = proto.String(rn(o.GetName()))
		ga.Output = append(ga.Output, o)
	}
	ga.ValueInfo = nil
	data, err := proto.Marshal(pa)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := ort.NewSession(data, ort.Options{IntraOpThreads: 1, OptLevel: ort.OptBasic})
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	in, err := ort.RandomInputs(s.Inputs(), 1, 11)
	if err != nil {
		tb.Fatal(err)
	}
	outs, err := s.Run(in)
	if err != nil {
		tb.Fatal(err)
	}
	na := len(a.Graph.Outputs)
	for i, o := range outs {
		f, err := o.Float32()
		if err != nil {
			tb.Fatal(err)
		}
		if i < na {
			outA = append(outA, f)
		} else {
			outB = append(outB, f)
		}
	}
	return outA, outB
}

// sharedPath finds ../shared/<rel> from the repository root, or "".
func sharedPath(rel string) string {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	p := filepath.Join(root, "..", "shared", rel)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

func loadShared(tb testing.TB, rel string) *onnxio.Model {
	tb.Helper()
	p := sharedPath(rel)
	if p == "" {
		tb.Skipf("../shared/%s not present", rel)
	}
	m, err := onnxio.Load(p)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 31)) }
