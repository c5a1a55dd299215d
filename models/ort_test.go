package models

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxcheck"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// These tests run the models in onnxruntime. They fail, never skip, when the
// library cannot be loaded: run ./scripts/setup.

// The tolerances of differential checks (DESIGN.md): |a−b| ≤ atol·scale +
// rtol·|b|, scale being the largest |b| of the reference output.
const (
	rtol = 1e-4
	atol = 1e-5
)

func newSession(t *testing.T, m *onnxio.Model) *ort.Session {
	t.Helper()
	data, err := onnxio.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	onnxcheck.Submit(t.Name(), data) // vetted by TestMain's ONNX checker
	s, err := ort.NewSession(data, ort.Options{})
	if err != nil {
		t.Fatalf("onnxruntime: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// normalInput returns a seeded standard-normal float32 tensor.
func normalInput(t *testing.T, shape []int64, seed uint64) ort.Tensor {
	t.Helper()
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	rng := rand.New(rand.NewPCG(seed, 17))
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	x, err := ort.NewFloat32(shape, data)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// nchwToNHWC transposes a float32 [N, C, H, W] tensor.
func nchwToNHWC(t *testing.T, x ort.Tensor) ort.Tensor {
	t.Helper()
	v, err := x.Float32()
	if err != nil {
		t.Fatal(err)
	}
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	out := make([]float32, len(v))
	for b := range n {
		for ci := range c {
			for y := range h {
				for xi := range w {
					out[((b*h+y)*w+xi)*c+ci] = v[((b*c+ci)*h+y)*w+xi]
				}
			}
		}
	}
	r, err := ort.NewFloat32([]int64{n, h, w, c}, out)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// run runs m on x and returns its single output's values.
func run(t *testing.T, m *onnxio.Model, x ort.Tensor) ([]float32, []int64) {
	t.Helper()
	out, err := newSession(t, m).Run([]ort.Tensor{x})
	if err != nil {
		t.Fatalf("onnxruntime: %v", err)
	}
	v, err := out[0].Float32()
	if err != nil {
		t.Fatal(err)
	}
	return v, out[0].Shape
}

// closeness returns the largest |a−b| / (atol·scale + rtol·|b|): ≤ 1 means
// a matches the reference b.
func closeness(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	scale := 0.0
	for _, x := range b {
		scale = max(scale, math.Abs(float64(x)))
	}
	worst := 0.0
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		worst = max(worst, d/(atol*scale+rtol*math.Abs(float64(b[i]))))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
	}
	return worst
}

// checkLively fails when a batch of outputs is not finite or degenerate
// (constant over classes, or equal for different inputs), which would make
// a differential check meaningless.
func checkLively(t *testing.T, v []float32, shape []int64) {
	t.Helper()
	classes := int(shape[len(shape)-1])
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			t.Fatalf("output holds %v", x)
		}
	}
	row0, row1 := v[:classes], v[classes:2*classes]
	var mean, sq float64
	for _, x := range row0 {
		mean += float64(x)
	}
	mean /= float64(classes)
	for _, x := range row0 {
		sq += (float64(x) - mean) * (float64(x) - mean)
	}
	if std := math.Sqrt(sq / float64(classes)); std < 1e-3*max(1, math.Abs(mean)) {
		t.Errorf("output is nearly constant over classes (std %g, mean %g)", std, mean)
	}
	if closeness(row0, row1) <= 1 {
		t.Error("two different inputs give the same output")
	}
}

// runAll makes every node output a graph output of a clone of m and runs
// it on a seeded standard-normal batch of 2. It returns the clone and the
// value of each graph output.
func runAll(t *testing.T, m *onnxio.Model) (*onnxio.Graph, map[*onnxio.Value]ort.Tensor) {
	t.Helper()
	c := m.Clone()
	g := c.Graph
	if err := g.InferShapes(); err != nil {
		t.Fatal(err)
	}
	isOut := map[*onnxio.Value]bool{}
	for _, o := range g.Outputs {
		isOut[o] = true
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs() {
			if o != nil && !isOut[o] {
				g.Outputs = append(g.Outputs, o)
				isOut[o] = true
			}
		}
	}
	s := newSession(t, c)
	var inputs []ort.Tensor
	for _, in := range s.Inputs() {
		shape := append([]int64(nil), in.Shape...)
		if shape[0] < 0 {
			shape[0] = 2
		}
		inputs = append(inputs, normalInput(t, shape, 1))
	}
	outs, err := s.Run(inputs)
	if err != nil {
		t.Fatalf("onnxruntime: %v", err)
	}
	infos := s.Outputs()
	if len(outs) != len(infos) || len(infos) != len(g.Outputs) {
		t.Fatalf("onnxruntime returned %d outputs for %d declared, graph has %d", len(outs), len(infos), len(g.Outputs))
	}
	vals := map[*onnxio.Value]ort.Tensor{}
	for i, info := range infos {
		v := g.Value(info.Name)
		if v == nil || !isOut[v] {
			t.Fatalf("onnxruntime output %q is not a graph output", info.Name)
		}
		vals[v] = outs[i]
	}
	if len(vals) != len(g.Outputs) {
		t.Fatalf("onnxruntime returned %d distinct outputs, graph has %d", len(vals), len(g.Outputs))
	}
	return g, vals
}

// checkShapesAgainstORT checks the shape onnxio inferred for every value of
// m (with the symbolic batch as 2) against the shape onnxruntime produces.
func checkShapesAgainstORT(t *testing.T, m *onnxio.Model) {
	t.Helper()
	g, vals := runAll(t, m)
	for _, v := range g.Outputs {
		got := vals[v]
		want := v.Type.Shape.Ints()
		if len(want) > 0 && want[0] < 0 && v.Type.Shape[0].Param != "" {
			want[0] = 2
		}
		if fmt.Sprint(want) != fmt.Sprint(got.Shape) {
			t.Errorf("%q (%v): onnxio inferred %v, onnxruntime gives %v", v.Name, v.Producer(), v.Type.Shape, got.Shape)
		}
		if got.DataType != int32(v.Type.Elem) {
			t.Errorf("%q: onnxio inferred %v, onnxruntime gives element type %d", v.Name, v.Type.Elem, got.DataType)
		}
	}
}

// TestShapesMatchOnnxruntime checks onnxio's inferred shape of every value
// of every model against the shape onnxruntime produces.
func TestShapesMatchOnnxruntime(t *testing.T) {
	type variant struct {
		style Style
		bn    BNMode
		opset int64
		batch int64
	}
	variants := []variant{
		{StyleTorch, BNKept, 17, 0},
		{StyleTorch, BNFolded, 17, 0},
		{StyleTorch, BNKept, 9, 0},
		{StyleTorch, BNKept, 13, 2},
		{StyleTF2ONNX, BNFolded, 13, 0},
	}
	for _, name := range Names() {
		for _, v := range variants {
			t.Run(fmt.Sprintf("%s/%v/%v/opset%d/batch%d", name, v.style, v.bn, v.opset, v.batch), func(t *testing.T) {
				m, err := Build(name, Config{Width: 0.5, Resolution: 72, Classes: 10, BN: v.bn, Style: v.style, Opset: v.opset, Batch: v.batch, Seed: 4})
				if err != nil {
					t.Fatal(err)
				}
				checkShapesAgainstORT(t, m)
			})
		}
	}
}

// TestActivationScale checks that activations neither explode nor vanish
// with depth: the root mean square of every feature map (rank 4, float)
// stays within a factor 20 of 1 on a standard-normal input, for every
// model at its published size (see drawBN).
func TestActivationScale(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			m, err := Build(name, Config{Resolution: 112, Seed: 21})
			if err != nil {
				t.Fatal(err)
			}
			g, vals := runAll(t, m)
			lo, hi := math.Inf(1), 0.0
			var loV, hiV *onnxio.Value
			for _, v := range g.Outputs {
				x := vals[v]
				if x.DataType != ort.Float || len(x.Shape) != 4 || x.Shape[2] == 1 {
					continue
				}
				f, err := x.Float32()
				if err != nil {
					t.Fatal(err)
				}
				var sq float64
				for _, e := range f {
					sq += float64(e) * float64(e)
				}
				rms := math.Sqrt(sq / float64(len(f)))
				if rms < lo {
					lo, loV = rms, v
				}
				if rms > hi {
					hi, hiV = rms, v
				}
			}
			t.Logf("feature-map RMS from %.3g (%s) to %.3g (%s)", lo, loV.Name, hi, hiV.Name)
			if lo < 1.0/20 || hi > 20 {
				t.Errorf("feature-map RMS spans [%.3g, %.3g], want within [0.05, 20]", lo, hi)
			}
		})
	}
}

// TestDefaultModelsRun runs every model at its published size and checks
// the output's shape and liveliness.
func TestDefaultModelsRun(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			m, err := Build(name, Config{})
			if err != nil {
				t.Fatal(err)
			}
			v, shape := run(t, m, normalInput(t, []int64{2, 3, 224, 224}, 2))
			if fmt.Sprint(shape) != "[2 1000]" {
				t.Fatalf("output shape %v, want [2 1000]", shape)
			}
			checkLively(t, v, shape)
		})
	}
}

// TestFoldedMatchesKept checks that folding BN into the convs keeps the
// function: same seed, same outputs.
func TestFoldedMatchesKept(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			cfg := Config{Width: 0.75, Resolution: 96, Classes: 10, Seed: 11}
			kept, err := Build(name, cfg)
			if err != nil {
				t.Fatal(err)
			}
			cfg.BN = BNFolded
			folded, err := Build(name, cfg)
			if err != nil {
				t.Fatal(err)
			}
			x := normalInput(t, []int64{2, 3, 96, 96}, 3)
			want, shape := run(t, kept, x)
			checkLively(t, want, shape)
			got, _ := run(t, folded, x)
			if c := closeness(got, want); c > 1 {
				t.Errorf("folded model's output is off by %.3g× the tolerance", c)
			}
		})
	}
}

// TestOpsetsAgree checks that the opset-dependent forms (Clip attributes or
// inputs, HardSwish or x·HardSigmoid(x), Unsqueeze axes) compute the same
// function.
func TestOpsetsAgree(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			cfg := Config{Width: 0.5, Resolution: 64, Classes: 10, Seed: 12}
			ref, err := Build(name, cfg)
			if err != nil {
				t.Fatal(err)
			}
			x := normalInput(t, []int64{2, 3, 64, 64}, 4)
			want, shape := run(t, ref, x)
			checkLively(t, want, shape)
			for _, opset := range []int64{9, 10, 11, 13, 14, 21} {
				cfg.Opset = opset
				m, err := Build(name, cfg)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := run(t, m, x)
				if c := closeness(got, want); c > 1 {
					t.Errorf("opset %d: output is off by %.3g× the tolerance", opset, c)
				}
			}
		})
	}
}

// TestTF2ONNXMatchesTorch checks that the tf2onnx-style model computes the
// torch-style function on the transposed input, once its Keras "same"
// padding and pad-excluding average pools are set to torch's (the only
// intended differences), and that those differences are really there.
func TestTF2ONNXMatchesTorch(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			cfg := Config{Width: 0.5, Resolution: 64, Classes: 10, Seed: 13}
			torchM, err := Build(name, cfg)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Style = StyleTF2ONNX
			tfM, err := Build(name, cfg)
			if err != nil {
				t.Fatal(err)
			}
			x := normalInput(t, []int64{2, 3, 64, 64}, 5)
			logits, shape := run(t, torchM, x)
			checkLively(t, logits, shape)
			want := softmax(logits, int(shape[1]))
			xt := nchwToNHWC(t, x)

			asIs, _ := run(t, tfM, xt)
			if c := closeness(asIs, want); c <= 1 {
				t.Error("tf2onnx style matches torch style without changing its padding: its Keras padding is not in effect")
			}
			patched := tfM.Clone()
			var windows []*onnxio.Node
			for _, n := range torchM.Graph.Nodes {
				if n.Op == "Conv" || n.Op == "MaxPool" || n.Op == "AveragePool" {
					windows = append(windows, n)
				}
			}
			i := 0
			for _, n := range patched.Graph.Nodes {
				if n.Op != "Conv" && n.Op != "MaxPool" && n.Op != "AveragePool" {
					continue
				}
				if i >= len(windows) || windows[i].Op != n.Op {
					t.Fatalf("windowed ops differ between the styles at %v", n)
				}
				n.SetAttrInts("pads", windows[i].AttrInts("pads"))
				if n.Op == "AveragePool" {
					n.SetAttrInt("count_include_pad", windows[i].AttrInt("count_include_pad", 0))
				}
				i++
			}
			if i != len(windows) {
				t.Fatalf("tf2onnx style has %d windowed ops, torch style %d", i, len(windows))
			}
			got, gotShape := run(t, patched, xt)
			if fmt.Sprint(gotShape) != fmt.Sprint(shape) {
				t.Fatalf("output shape %v, want %v", gotShape, shape)
			}
			if c := closeness(got, want); c > 1 {
				t.Errorf("tf2onnx-style output is off by %.3g× the tolerance", c)
			}
		})
	}
}

// softmax applies a row-wise softmax in float64.
func softmax(v []float32, classes int) []float32 {
	out := make([]float32, len(v))
	for r := 0; r < len(v); r += classes {
		row := v[r : r+classes]
		m := float64(row[0])
		for _, x := range row {
			m = max(m, float64(x))
		}
		var sum float64
		for _, x := range row {
			sum += math.Exp(float64(x) - m)
		}
		for i, x := range row {
			out[r+i] = float32(math.Exp(float64(x)-m) / sum)
		}
	}
	return out
}
