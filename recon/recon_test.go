package recon

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/internal/onnxcheck"
	"github.com/onnx-adapt/onnx-adapt/internal/onnxpb"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

// net builds small test graphs; every op infers shapes right away.
type net struct {
	tb  testing.TB
	m   *onnxio.Model
	rng *rand.Rand
	n   int
}

func newNet(tb testing.TB, seed uint64) *net {
	return &net{tb: tb, m: onnxio.NewModel(13), rng: rand.New(rand.NewPCG(seed, 5))}
}

func (b *net) name(p string) string { b.n++; return fmt.Sprintf("%s%d", p, b.n) }

func (b *net) input(dims ...int64) *onnxio.Value {
	v := b.m.Graph.NewValue("image")
	v.Type = onnxio.Type{Elem: onnxio.Float, Shape: onnxio.ShapeOf(dims...), HasShape: true}
	b.m.Graph.Inputs = append(b.m.Graph.Inputs, v)
	return v
}

// init adds an initializer of the given values (random normal when nil;
// positive with pos).
func (b *net) init(data []float32, pos bool, dims ...int64) *onnxio.Value {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	if data == nil {
		data = make([]float32, n)
		for i := range data {
			data[i] = float32(b.rng.NormFloat64() * 0.5)
			if pos {
				data[i] = float32(math.Abs(float64(data[i])) + 0.5)
			}
		}
	}
	t, err := onnxio.NewFloat32Tensor(dims, data)
	if err != nil {
		b.tb.Fatal(err)
	}
	return b.m.Graph.AddInitializer(b.name("w"), t)
}

func (b *net) op(op string, ins []*onnxio.Value, attrs ...*onnxpb.AttributeProto) *onnxio.Value {
	n := b.m.Graph.AddNode(op, b.name(op), ins, []string{b.name("t")}, attrs...)
	if err := b.m.Graph.InferShapes(); err != nil {
		b.tb.Fatalf("building %s: %v", op, err)
	}
	return n.Output(0)
}

// conv adds a k×k conv with the given weights (random when nil).
func (b *net) conv(x *onnxio.Value, w []float32, cout, k, stride, pad, dil int64, bias bool) *onnxio.Value {
	cin := x.Type.Shape.Ints()[1]
	ins := []*onnxio.Value{x, b.init(w, false, cout, cin, k, k)}
	if bias {
		ins = append(ins, b.init(nil, false, cout))
	}
	return b.op("Conv", ins, onnxio.AttrInts("kernel_shape", []int64{k, k}),
		onnxio.AttrInts("pads", []int64{pad, pad, pad + 1, pad}), onnxio.AttrInts("strides", []int64{stride, stride}),
		onnxio.AttrInts("dilations", []int64{dil, dil}))
}

func (b *net) bn(x *onnxio.Value) *onnxio.Value {
	c := x.Type.Shape.Ints()[1]
	return b.op("BatchNormalization", []*onnxio.Value{x, b.init(nil, true, c), b.init(nil, false, c), b.init(nil, false, c), b.init(nil, true, c)})
}

func (b *net) head(x *onnxio.Value, classes int64) *onnxio.Model {
	x = b.op("GlobalAveragePool", []*onnxio.Value{x})
	x = b.op("Flatten", []*onnxio.Value{x}, onnxio.AttrInt("axis", 1))
	k := x.Type.Shape.Ints()[1]
	y := b.op("Gemm", []*onnxio.Value{x, b.init(nil, false, classes, k), b.init(nil, false, classes)}, onnxio.AttrInt("transB", 1))
	b.m.Graph.Outputs = []*onnxio.Value{y}
	if err := b.m.Graph.Verify(); err != nil {
		b.tb.Fatal(err)
	}
	return b.m
}

func needORT(tb testing.TB) {
	tb.Helper()
	if err := ort.Init(); err != nil {
		if errors.Is(err, ort.ErrLibraryNotFound) {
			tb.Skipf("onnxruntime not installed: %v", err)
		}
		tb.Fatal(err)
	}
}

// noise returns n random RGB images of size s×s.
func noise(n, s int, seed uint64) dataset.Dataset {
	rng := rand.New(rand.NewPCG(seed, 9))
	imgs := make([]image.Image, n)
	for i := range imgs {
		img := image.NewRGBA(image.Rect(0, 0, s, s))
		for y := range s {
			for x := range s {
				img.Set(x, y, color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255})
			}
		}
		imgs[i] = img
	}
	return dataset.NewImages("noise", imgs)
}

// outputs runs m over ds in onnxruntime and returns the named values,
// per value all images concatenated.
func outputs(tb testing.TB, m *onnxio.Model, ds dataset.Dataset, names ...string) [][]float32 {
	tb.Helper()
	whole, err := onnxio.Encode(m)
	if err != nil {
		tb.Fatal(err)
	}
	onnxcheck.Submit(tb.Name(), whole) // vetted by TestMain's ONNX checker
	c := m.Clone()
	c.Graph.Outputs = nil
	for _, n := range names {
		c.Graph.Outputs = append(c.Graph.Outputs, c.Graph.Value(n))
	}
	data, err := onnxio.Encode(c)
	if err != nil {
		tb.Fatal(err)
	}
	out := make([][]float32, len(names))
	err = finetune.RunBatches(context.Background(), data, ds, finetune.EvalOptions{Batch: 8, Threads: 1},
		func(b *dataset.Batch, vals []ort.Tensor, _ int) error {
			for i, v := range vals {
				f, err := v.Float32()
				if err != nil {
					return err
				}
				out[i] = append(out[i], f[:len(f)/int(v.Shape[0])*b.N]...)
			}
			return nil
		})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// pruned applies a plan keeping the given channels of group gid.
func pruned(tb testing.TB, s *Stats, m *onnxio.Model, gid int, keep []int) (*onnxio.Model, surgery.Plan) {
	tb.Helper()
	p, err := s.Analysis().Resolve(surgery.Plan{Groups: []surgery.GroupPlan{{Group: gid, Keep: keep}}})
	if err != nil {
		tb.Fatal(err)
	}
	pm := m.Clone()
	if err := surgery.Apply(pm.Graph, p); err != nil {
		tb.Fatal(err)
	}
	return pm, p
}

// groupOf returns the ID of the group whose root is the node computing v.
func groupOf(tb testing.TB, s *Stats, m *onnxio.Model, v *onnxio.Value) int {
	tb.Helper()
	root := v.Producer().Name
	for _, g := range s.Analysis().Groups {
		if slices.Contains(g.Roots, root) {
			return g.ID
		}
	}
	tb.Fatalf("no group rooted at %s", root)
	return -1
}

func relErr(got, want []float32) float64 {
	num, den := 0.0, 0.0
	for i := range want {
		d := float64(got[i] - want[i])
		num += d * d
		den += float64(want[i]) * float64(want[i])
	}
	return num / den
}

// silentConv is a 1×1 conv from 3 to 8 channels whose filters 2 and 5
// are zero: the channels a test removes, carrying nothing.
func (b *net) silentConv(x *onnxio.Value) *onnxio.Value {
	w := make([]float32, 8*3)
	for i := range w {
		if o := i / 3; o != 2 && o != 5 {
			w[i] = float32(b.rng.NormFloat64())
		}
	}
	return b.conv(x, w, 8, 1, 1, 0, 1, false)
}

// TestRefitExactWhenRemovedChannelsAreZero: when the removed channels
// carry nothing, the least-squares refit reproduces the layer exactly: it
// returns the original weights of the kept channels, and the pruned,
// refitted model computes what the original computes.
func TestRefitExactWhenRemovedChannelsAreZero(t *testing.T) {
	needORT(t)
	b := newNet(t, 1)
	x := b.input(1, 3, 9, 9)
	a := b.silentConv(x) // filters 2 and 5 are zero
	y := b.conv(b.op("Relu", []*onnxio.Value{a}), nil, 6, 3, 1, 1, 1, true)
	m := b.head(b.op("Relu", []*onnxio.Value{y}), 4)
	ds := noise(40, 9, 1)
	s, err := Collect(context.Background(), m, ds, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	keep := []int{0, 1, 3, 4, 6, 7}
	pm, plan := pruned(t, s, m, groupOf(t, s, m, a), keep)
	l := s.byKey[y.Name]
	if l == nil {
		t.Fatalf("the 3×3 conv is not a refitted layer (skipped: %v)", s.Skipped)
	}
	K := l.positionFeatures(keep)
	O := []int{0, 1, 2, 3, 4, 5}
	for _, alpha := range alphas {
		w, ok := l.solve(K, O, alpha)
		if !ok {
			t.Fatalf("α=%g: no solution", alpha)
		}
		worst := 0.0
		for i, f := range K {
			for j, o := range O {
				worst = math.Max(worst, math.Abs(w.At(i, j)-l.w0[f*l.cout+o]))
			}
		}
		if worst > 1e-6 {
			t.Errorf("α=%g: refitted weights differ from the original by up to %.3g", alpha, worst)
		}
	}
	fits, err := s.Refit(pm, plan)
	if err != nil {
		t.Fatal(err)
	}
	if len(fits) != 1 || fits[0].Layer != y.Name || fits[0].CutError > 1e-9 || fits[0].FitError > 1e-9 {
		t.Errorf("fits %+v, want one exact fit of %s", fits, y.Name)
	}
	want := outputs(t, m, ds, m.Graph.Outputs[0].Name)[0]
	got := outputs(t, pm, ds, m.Graph.Outputs[0].Name)[0]
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-4*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("output %d: %g after pruning and refit, %g before", i, got[i], want[i])
		}
	}
}

// TestFeatureRows: the im2col rows times the weights give the layer's
// output as onnxruntime computes it (strides, dilations, asymmetric pads),
// and the Gram matrix Collect sums is that of every row when the map is
// small enough to take whole.
func TestFeatureRows(t *testing.T) {
	needORT(t)
	b := newNet(t, 2)
	x := b.input(1, 3, 11, 10)
	a := b.conv(x, nil, 5, 1, 1, 0, 1, true)
	y := b.conv(b.op("Relu", []*onnxio.Value{a}), nil, 4, 3, 2, 1, 2, true)
	m := b.head(y, 3)
	ds := noise(6, 11, 2)
	s, err := Collect(context.Background(), m, ds, Options{Threads: 1, RowsPerFeature: 1000})
	if err != nil {
		t.Fatal(err)
	}
	l := s.byKey[y.Name]
	if l == nil {
		t.Fatalf("the strided conv is not a refitted layer (skipped: %v)", s.Skipped)
	}
	vals := outputs(t, m, ds, l.input, y.Name)
	in, out := vals[0], vals[1]
	per, perOut := len(in)/ds.Len(), len(out)/ds.Len()
	row := make([]float32, l.d)
	g := make([]float64, l.d*l.d)
	worst := 0.0
	for img := range ds.Len() {
		for p := range l.rowsPer {
			l.row(in[img*per:(img+1)*per], p, row)
			for o := range l.cout {
				v := 0.0
				for f, r := range row {
					v += float64(r) * l.w0[f*l.cout+o]
				}
				worst = math.Max(worst, math.Abs(v-float64(out[img*perOut+o*l.rowsPer+p])))
			}
			for i, ri := range row {
				for j, rj := range row {
					g[i*l.d+j] += float64(ri) * float64(rj)
				}
			}
		}
	}
	if worst > 1e-4 {
		t.Errorf("rows·W₀ differ from onnxruntime's conv output by up to %.3g", worst)
	}
	if l.st.n != ds.Len()*l.rowsPer {
		t.Fatalf("Gram of %d rows, want every one of %d", l.st.n, ds.Len()*l.rowsPer)
	}
	for i := range g {
		if math.Abs(g[i]-l.st.g[i]) > 1e-4*(1+math.Abs(g[i])) {
			t.Fatalf("Gram[%d] = %g, want %g", i, l.st.g[i], g[i])
		}
	}
}

// TestRefitReducesError: with channels that carry signal, the refit leaves
// a smaller error at the layer's output than the plain cut, on images it
// was not fitted on, also when its bias is folded into a
// BatchNormalization.
func TestRefitReducesError(t *testing.T) {
	needORT(t)
	for _, bn := range []bool{false, true} {
		t.Run(fmt.Sprintf("bn=%v", bn), func(t *testing.T) {
			b := newNet(t, 3)
			x := b.input(1, 3, 8, 8)
			a := b.conv(x, nil, 16, 1, 1, 0, 1, true)
			// 16 channels computed from 3 inputs: the 8 kept carry most
			// of what the 8 cut did, which a refit can recover.
			y := b.conv(b.op("Relu", []*onnxio.Value{a}), nil, 8, 1, 1, 0, 1, !bn)
			out := y
			if bn {
				out = b.bn(y)
			}
			m := b.head(b.op("Relu", []*onnxio.Value{out}), 3)
			s, err := Collect(context.Background(), m, noise(64, 8, 3), Options{Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			keep := []int{0, 2, 4, 6, 8, 10, 12, 14}
			gid := groupOf(t, s, m, a)
			cut, _ := pruned(t, s, m, gid, keep)
			fitted, plan := pruned(t, s, m, gid, keep)
			fits, err := s.Refit(fitted, plan)
			if err != nil {
				t.Fatal(err)
			}
			if len(fits) != 1 || fits[0].Alpha == 0 || !(fits[0].FitError < fits[0].CutError) {
				t.Fatalf("fits %+v: want a refit better than the cut on the held rows", fits)
			}
			test := noise(32, 8, 4)
			want := outputs(t, m, test, out.Name)[0]
			eCut := relErr(outputs(t, cut, test, out.Name)[0], want)
			eFit := relErr(outputs(t, fitted, test, out.Name)[0], want)
			t.Logf("relative error on new images: cut %.4f, refit %.4f (held rows: %.4f, %.4f)", eCut, eFit, fits[0].CutError, fits[0].FitError)
			if !(eFit < 0.8*eCut) {
				t.Errorf("refit error %.4f is not well below the cut's %.4f", eFit, eCut)
			}
		})
	}
}

// TestKeepGreedy: the reconstruction ranking removes first the channel
// whose removal, with the layer refitted, costs the least, as a direct
// least-squares solve over every choice finds; and its predicted cost is
// that solve's error.
func TestKeepGreedy(t *testing.T) {
	needORT(t)
	b := newNet(t, 4)
	x := b.input(1, 3, 8, 8)
	a := b.conv(x, nil, 6, 1, 1, 0, 1, true)
	y := b.conv(b.op("Relu", []*onnxio.Value{a}), nil, 5, 3, 1, 1, 1, true)
	m := b.head(y, 3)
	s, err := Collect(context.Background(), m, noise(48, 8, 5), Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	gid := groupOf(t, s, m, a)
	g := s.Analysis().Group(gid)
	l := s.byKey[y.Name]
	// The error of the ridge refit over features K, by a direct solve:
	// min_W ‖X_K W − X W₀‖² + λ‖W − W₀[K]‖² with λ the ranking's.
	all := make([]int, l.d)
	for i := range all {
		all[i] = i
	}
	lam := rankAlpha * meanDiag(sub(l.st.g, nil, l.d, all, 0))
	direct := func(K []int) float64 {
		O := make([]int, l.cout)
		for o := range O {
			O[o] = o
		}
		w, ok := ridge(sub(l.st.g, nil, l.d, K, lam), rows(l.st.gw0, nil, l.w0, l.cout, K, O, lam))
		if !ok {
			t.Fatal("singular")
		}
		// f(W) = tr(WᵀG_KK W) − 2tr(Wᵀ(GW₀)_K) + tr(W₀ᵀGW₀) + λ‖W − W₀[K]‖².
		var gw mat.Dense
		gw.Mul(sub(l.st.g, nil, l.d, K, 0), w)
		e := 0.0
		for o := range l.cout {
			e += l.st.q[o]
			for i, f := range K {
				wi := w.At(i, o)
				d := wi - l.w0[f*l.cout+o]
				e += wi*gw.At(i, o) - 2*wi*l.st.gw0[f*l.cout+o] + lam*d*d
			}
		}
		return e
	}
	without := func(removed ...int) []int {
		var K []int
		for c := range g.Size {
			if !slices.Contains(removed, c) {
				K = append(K, l.channelFeatures(gid, g.Size)[c]...)
			}
		}
		return append(K, l.d-1)
	}
	norm := 0.0
	for _, q := range l.st.q {
		norm += q
	}
	e := s.newElimination(g)
	s.orders[gid] = e
	var removed []int
	for step := range 3 {
		base := direct(without(removed...))
		best, bestCost := -1, math.Inf(1)
		for c := range g.Size {
			if slices.Contains(removed, c) {
				continue
			}
			if cost := (direct(without(append(removed, c)...)) - base) / norm; cost < bestCost {
				best, bestCost = c, cost
			}
		}
		// The closed-form cost of that removal is the direct solve's.
		if predicted := e.parts[0].cost(best); math.Abs(predicted-bestCost) > 1e-6*math.Abs(bestCost)+1e-12 {
			t.Errorf("step %d: closed-form cost %.8g, direct %.8g", step, predicted, bestCost)
		}
		keep, err := s.Keep(g, g.Size-step-1)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.removed[step]; got != best || slices.Contains(keep, best) {
			t.Fatalf("step %d: removed channel %d (keep %v), the direct solve says %d", step, got, keep, best)
		}
		removed = append(removed, best)
	}
	// Asking for more channels reuses the order.
	keep, err := s.Keep(g, g.Size-1)
	if err != nil || len(keep) != g.Size-1 || slices.Contains(keep, removed[0]) {
		t.Errorf("Keep(size-1) = %v, %v; want all but %d", keep, err, removed[0])
	}
}
