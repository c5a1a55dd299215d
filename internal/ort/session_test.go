package ort

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxpb"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

func addModel(t testing.TB) []byte {
	return graph{
		nodes:   []*onnxpb.NodeProto{node("Add", ins("a", "b"), outs("c"))},
		inputs:  []*onnxpb.ValueInfoProto{tensorVI("a", Float, 2, 3), tensorVI("b", Float, 2, 3)},
		outputs: []*onnxpb.ValueInfoProto{tensorVI("c", Float, 2, 3)},
	}.encode(t)
}

func TestAdd(t *testing.T) {
	s := mustSession(t, addModel(t), Options{IntraOpThreads: 1})
	a := mustF32(t, []int64{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	b := mustF32(t, []int64{2, 3}, []float32{10, 20, 30, -4, -5, 0.25})
	aBefore := a.Clone()
	out, err := s.Run([]Tensor{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 {
		t.Fatalf("got %d outputs, want 1", len(out))
	}
	if !slices.Equal(out[0].Shape, []int64{2, 3}) || out[0].DataType != Float {
		t.Fatalf("output is %v, want float[2 3]", out[0])
	}
	got, err := out[0].Float32()
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{11, 22, 33, 0, 0, 6.25}; !slices.Equal(got, want) {
		t.Errorf("a+b = %v, want %v", got, want)
	}
	if !bytes.Equal(a.Data, aBefore.Data) || !slices.Equal(a.Shape, aBefore.Shape) {
		t.Error("Run modified its input")
	}
}

// conv2d is a direct reference convolution (NCHW, one group, square kernel).
func conv2d(x []float32, c, h, w int, wt []float32, m, k int, bias []float32, stride, pad int) ([]float32, int, int) {
	oh := (h+2*pad-k)/stride + 1
	ow := (w+2*pad-k)/stride + 1
	y := make([]float32, m*oh*ow)
	for o := 0; o < m; o++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				acc := bias[o]
				for ci := 0; ci < c; ci++ {
					for ki := 0; ki < k; ki++ {
						for kj := 0; kj < k; kj++ {
							r, q := i*stride+ki-pad, j*stride+kj-pad
							if r < 0 || r >= h || q < 0 || q >= w {
								continue
							}
							acc += x[(ci*h+r)*w+q] * wt[((o*c+ci)*k+ki)*k+kj]
						}
					}
				}
				y[(o*oh+i)*ow+j] = acc
			}
		}
	}
	return y, oh, ow
}

// convModel is one Conv with weight and bias initializers, input [N,C,H,W].
func convModel(t testing.TB, c, h, w, m, k, stride, pad int, batch any, wt, bias []float32) []byte {
	W := initializer(t, "W", mustF32(t, []int64{int64(m), int64(c), int64(k), int64(k)}, wt))
	B := initializer(t, "B", mustF32(t, []int64{int64(m)}, bias))
	return graph{
		nodes: []*onnxpb.NodeProto{node("Conv", ins("x", "W", "B"), outs("y"),
			attrInts("kernel_shape", int64(k), int64(k)),
			attrInts("strides", int64(stride), int64(stride)),
			attrInts("pads", int64(pad), int64(pad), int64(pad), int64(pad)))},
		inputs:  []*onnxpb.ValueInfoProto{tensorVI("x", Float, batch, c, h, w)},
		outputs: []*onnxpb.ValueInfoProto{noShapeVI("y", Float)},
		inits:   []*onnxpb.TensorProto{W, B},
	}.encode(t)
}

func TestConv(t *testing.T) {
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9} // 1×3×3
	wt := []float32{1, 0, 0, -1, 0.5, 0.5, 0.5, 0.5}
	bias := []float32{10, -1}
	tests := []struct {
		stride, pad int
		want        []float32 // hand-computed, checked against conv2d too
	}{
		// x[i][j] - x[i+1][j+1] = -4 everywhere, + 10; mean-ish sums ×0.5 - 1.
		{1, 0, []float32{6, 6, 6, 6, 5, 7, 11, 13}},
		{2, 1, []float32{10 - 1, 10 - 3, 10 - 7, 10 + 5 - 9, 0.5*1 - 1, 0.5*(2+3) - 1, 0.5*(4+7) - 1, 0.5*(5+6+8+9) - 1}},
	}
	for _, tc := range tests {
		ref, oh, ow := conv2d(x, 1, 3, 3, wt, 2, 2, bias, tc.stride, tc.pad)
		if !slices.Equal(ref, tc.want) {
			t.Fatalf("stride %d pad %d: reference conv gives %v, hand-computed %v", tc.stride, tc.pad, ref, tc.want)
		}
		opts := []Options{{IntraOpThreads: 2, NoSpinning: true}} // a pool that sleeps between nodes computes the same
		for _, lvl := range []OptLevel{OptAll, OptExtended, OptBasic, OptDisable} {
			opts = append(opts, Options{IntraOpThreads: 1, OptLevel: lvl})
		}
		for _, o := range opts {
			lvl := o.OptLevel
			s := mustSession(t, convModel(t, 1, 3, 3, 2, 2, tc.stride, tc.pad, 1, wt, bias), o)
			if got := s.Outputs()[0].Shape; !slices.Equal(got, []int64{1, 2, int64(oh), int64(ow)}) {
				t.Errorf("stride %d pad %d: inferred output shape %v, want [1 2 %d %d]", tc.stride, tc.pad, got, oh, ow)
			}
			out, err := s.Run([]Tensor{mustF32(t, []int64{1, 1, 3, 3}, x)})
			if err != nil {
				t.Fatal(err)
			}
			got, err := out[0].Float32()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) || !slices.Equal(out[0].Shape, []int64{1, 2, int64(oh), int64(ow)}) {
				t.Errorf("stride %d pad %d opt %v: conv = %v %v, want %v [1 2 %d %d]",
					tc.stride, tc.pad, lvl, got, out[0].Shape, tc.want, oh, ow)
			}
		}
	}
}

func TestSymbolicBatch(t *testing.T) {
	g := graph{
		nodes:   []*onnxpb.NodeProto{node("Relu", ins("x"), outs("y"))},
		inputs:  []*onnxpb.ValueInfoProto{tensorVI("x", Float, "N", 3)},
		outputs: []*onnxpb.ValueInfoProto{tensorVI("y", Float, "N", 3)},
	}
	s := mustSession(t, g.encode(t), Options{})
	wantIn := []IOInfo{{Name: "x", DataType: Float, Shape: []int64{-1, 3}}}
	wantOut := []IOInfo{{Name: "y", DataType: Float, Shape: []int64{-1, 3}}}
	if got := s.Inputs(); !ioEqual(got, wantIn) {
		t.Errorf("Inputs() = %v, want %v", got, wantIn)
	}
	if got := s.Outputs(); !ioEqual(got, wantOut) {
		t.Errorf("Outputs() = %v, want %v", got, wantOut)
	}
	s.Inputs()[0].Shape[0] = 99 // a copy: must not leak into the session
	if s.Inputs()[0].Shape[0] != -1 {
		t.Error("Inputs() returned the session's own slice")
	}
	for _, n := range []int64{1, 4} {
		x := make([]float32, n*3)
		want := make([]float32, n*3)
		for i := range x {
			x[i] = float32(i) - 5
			want[i] = max(x[i], 0)
		}
		out, err := s.Run([]Tensor{mustF32(t, []int64{n, 3}, x)})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := out[0].Float32()
		if !slices.Equal(out[0].Shape, []int64{n, 3}) || !slices.Equal(got, want) {
			t.Errorf("batch %d: relu = %v %v, want %v", n, out[0].Shape, got, want)
		}
	}
}

func ioEqual(a, b []IOInfo) bool {
	return slices.EqualFunc(a, b, func(x, y IOInfo) bool {
		return x.Name == y.Name && x.DataType == y.DataType && slices.Equal(x.Shape, y.Shape)
	})
}

// TestElementTypes runs Identity on every supported element type and checks
// the bytes come back unchanged.
func TestElementTypes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for dt := range elemInfo {
		if dt == Complex64 || dt == Complex128 {
			continue // onnxruntime's CPU Identity has no complex kernel
		}
		t.Run(DataTypeName(dt), func(t *testing.T) {
			shape := []int64{2, 3}
			data := make([]byte, 6*ElemSize(dt))
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			if dt == Bool {
				for i := range data {
					data[i] &= 1
				}
			}
			if dt == Float16 || dt == BFloat16 || dt == Float || dt == Double {
				// Keep clear of NaN payloads, which a copy may canonicalize.
				fill(dt, data, rng)
			}
			in, err := NewRaw(dt, shape, data)
			if err != nil {
				t.Fatal(err)
			}
			g := graph{
				nodes:   []*onnxpb.NodeProto{node("Identity", ins("x"), outs("y"))},
				inputs:  []*onnxpb.ValueInfoProto{tensorVI("x", dt, 2, 3)},
				outputs: []*onnxpb.ValueInfoProto{tensorVI("y", dt, 2, 3)},
			}
			s := mustSession(t, g.encode(t), Options{})
			out, err := s.Run([]Tensor{in})
			if err != nil {
				t.Fatal(err)
			}
			if out[0].DataType != dt || !slices.Equal(out[0].Shape, shape) || !bytes.Equal(out[0].Data, data) {
				t.Errorf("Identity(%v) = %v %x, want %x", in, out[0], out[0].Data, data)
			}
		})
	}
}

func fill(dt int32, data []byte, rng *rand.Rand) {
	r, _ := RandomInputs([]IOInfo{{DataType: dt, Shape: []int64{int64(len(data) / ElemSize(dt))}}}, 1, int64(rng.Uint64()))
	copy(data, r[0].Data)
}

// TestScalarOutputs covers outputs onnxruntime reports with an empty shape:
// a real scalar and one of unknown rank, in the same model.
func TestScalarOutputs(t *testing.T) {
	g := graph{
		nodes: []*onnxpb.NodeProto{
			node("Squeeze", ins("x", "axes"), outs("squeezed")),
			node("ReduceSum", ins("x"), outs("sum"), attrInt("keepdims", 0)),
			node("Identity", ins("k"), outs("kcopy")),
		},
		inputs:  []*onnxpb.ValueInfoProto{tensorVI("x", Float, 1, 3, 1), tensorVI("axes", Int64, "K"), tensorVI("k", Int64)},
		outputs: []*onnxpb.ValueInfoProto{noShapeVI("squeezed", Float), noShapeVI("sum", Float), noShapeVI("kcopy", Int64)},
	}
	s := mustSession(t, g.encode(t), Options{})
	for _, o := range s.Outputs() {
		if len(o.Shape) != 0 {
			t.Fatalf("output %v: expected onnxruntime to report an empty shape", o)
		}
	}
	axes, _ := NewTensor([]int64{1}, []int64{0})
	k, _ := NewTensor([]int64{}, []int64{42})
	for run := 0; run < 2; run++ { // the second run uses what the first learned
		out, err := s.Run([]Tensor{mustF32(t, []int64{1, 3, 1}, []float32{1, -2, 4}), axes, k})
		if err != nil {
			t.Fatal(err)
		}
		sq, _ := out[0].Float32()
		sum, _ := out[1].Float32()
		kc, _ := Values[int64](out[2])
		if !slices.Equal(out[0].Shape, []int64{3, 1}) || !slices.Equal(sq, []float32{1, -2, 4}) {
			t.Errorf("run %d: squeezed = %v %v", run, out[0].Shape, sq)
		}
		if len(out[1].Shape) != 0 || !slices.Equal(sum, []float32{3}) {
			t.Errorf("run %d: sum = %v %v, want scalar 3", run, out[1].Shape, sum)
		}
		if len(out[2].Shape) != 0 || !slices.Equal(kc, []int64{42}) {
			t.Errorf("run %d: kcopy = %v %v, want scalar 42", run, out[2].Shape, kc)
		}
	}
}

// TestCastFloat16 checks onnxio.Float32ToFloat16 against onnxruntime's own Cast,
// and that a float16 output comes back whole (onnxruntime_go alone would
// copy one byte per element).
func TestCastFloat16(t *testing.T) {
	vals := []float32{0, -0, 1, -2, 0.5, 65504, 65520, 1e6, -1e6, 6e-8, 3e-8, 2.98e-8, 1e-5, 0.1, 3.14159,
		float32(math.Inf(1)), float32(math.Inf(-1)), 1.0009766, 1.00048828125, 2049, 2051}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		vals = append(vals, float32(rng.NormFloat64()*100))
	}
	n := len(vals)
	g := graph{
		nodes:   []*onnxpb.NodeProto{node("Cast", ins("x"), outs("y"), attrInt("to", int64(Float16)))},
		inputs:  []*onnxpb.ValueInfoProto{tensorVI("x", Float, n)},
		outputs: []*onnxpb.ValueInfoProto{tensorVI("y", Float16, n)},
	}
	s := mustSession(t, g.encode(t), Options{})
	out, err := s.Run([]Tensor{mustF32(t, []int64{int64(n)}, vals)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Values[uint16](Tensor{DataType: Uint16, Shape: out[0].Shape, Data: out[0].Data})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if want := onnxio.Float32ToFloat16(v); got[i] != want {
			t.Errorf("float16(%g): onnxruntime %#04x, Float32ToFloat16 %#04x", v, got[i], want)
		}
		if back := onnxio.Float16ToFloat32(got[i]); !math.IsInf(float64(back), 0) && math.Abs(float64(back-v)) > math.Abs(float64(v))/1024+3e-8 {
			t.Errorf("float16 %#04x decodes to %g, far from %g", got[i], back, v)
		}
	}
}

func TestFloat16Symbolic(t *testing.T) {
	g := graph{
		nodes:   []*onnxpb.NodeProto{node("Cast", ins("x"), outs("y"), attrInt("to", int64(Float16)))},
		inputs:  []*onnxpb.ValueInfoProto{tensorVI("x", Float, "N")},
		outputs: []*onnxpb.ValueInfoProto{tensorVI("y", Float16, "N")},
	}
	s := mustSession(t, g.encode(t), Options{})
	_, err := s.Run([]Tensor{mustF32(t, []int64{2}, []float32{1, 2})})
	if err == nil || !strings.Contains(err.Error(), `output "y"`) || !strings.Contains(err.Error(), "static shape") {
		t.Errorf("Run = %v, want an error naming output y and asking for a static shape", err)
	}
}

func TestMalformedModels(t *testing.T) {
	unknownOp := graph{
		nodes:   []*onnxpb.NodeProto{node("NoSuchOp", ins("x"), outs("y"))},
		inputs:  []*onnxpb.ValueInfoProto{tensorVI("x", Float, 1)},
		outputs: []*onnxpb.ValueInfoProto{tensorVI("y", Float, 1)},
	}.encode(t)
	danglingInput := graph{
		nodes:   []*onnxpb.NodeProto{node("Add", ins("x", "missing"), outs("y"))},
		inputs:  []*onnxpb.ValueInfoProto{tensorVI("x", Float, 1)},
		outputs: []*onnxpb.ValueInfoProto{tensorVI("y", Float, 1)},
	}.encode(t)
	badShapes := graph{ // Add of [2] and [3] cannot broadcast
		nodes:   []*onnxpb.NodeProto{node("Add", ins("a", "b"), outs("c"))},
		inputs:  []*onnxpb.ValueInfoProto{tensorVI("a", Float, 2), tensorVI("b", Float, 3)},
		outputs: []*onnxpb.ValueInfoProto{tensorVI("c", Float, 2)},
	}.encode(t)
	truncated := addModel(t)
	truncated = truncated[:len(truncated)/2]
	for name, model := range map[string][]byte{
		"empty":          nil,
		"not protobuf":   []byte("this is not an ONNX model"),
		"truncated":      truncated,
		"unknown op":     unknownOp,
		"dangling input": danglingInput,
		"bad shapes":     badShapes,
	} {
		t.Run(name, func(t *testing.T) {
			s, err := NewSession(model, Options{})
			if err == nil {
				s.Close()
				t.Fatal("NewSession succeeded on a malformed model")
			}
			if !strings.HasPrefix(err.Error(), "ort: ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line starting with \"ort: \"", err)
			}
		})
	}
}

func TestRunInputErrors(t *testing.T) {
	s := mustSession(t, addModel(t), Options{})
	a := mustF32(t, []int64{2, 3}, make([]float32, 6))
	d, _ := NewTensor([]int64{2, 3}, make([]float64, 6))
	tests := []struct {
		name   string
		inputs []Tensor
		want   []string
	}{
		{"too few", []Tensor{a}, []string{"2 inputs", "got 1"}},
		{"wrong type", []Tensor{a, d}, []string{`input "b"`, "double", "float"}},
		{"wrong shape", []Tensor{a, mustF32(t, []int64{3, 2}, make([]float32, 6))}, []string{`input "b"`, "[3 2]", "[2 3]"}},
		{"wrong rank", []Tensor{mustF32(t, []int64{6}, make([]float32, 6)), a}, []string{`input "a"`, "[6]"}},
		{"short data", []Tensor{a, {DataType: Float, Shape: []int64{2, 3}, Data: make([]byte, 5)}}, []string{`input "b"`, "24 bytes", "has 5"}},
		{"negative dim", []Tensor{a, {DataType: Float, Shape: []int64{-2, 3}}}, []string{`input "b"`, "negative"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Run(tc.inputs)
			if err == nil {
				t.Fatal("Run succeeded")
			}
			for _, w := range append(tc.want, "ort: ") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestOptionsErrors(t *testing.T) {
	for _, o := range []Options{{IntraOpThreads: -1}, {InterOpThreads: -2}, {OptLevel: OptLevel(7)}, {OptLevel: -1}} {
		if s, err := NewSession(addModel(t), o); err == nil {
			s.Close()
			t.Errorf("NewSession(%+v) succeeded", o)
		}
	}
}

func TestClose(t *testing.T) {
	s, err := NewSession(addModel(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := mustF32(t, []int64{2, 3}, make([]float32, 6))
	if _, err := s.Run([]Tensor{a, a}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Run([]Tensor{a, a}); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Time([]Tensor{a, a}, 1, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Time after Close = %v, want ErrClosed", err)
	}
}

func TestConcurrentRuns(t *testing.T) {
	s := mustSession(t, addModel(t), Options{IntraOpThreads: 1})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				v := float32(g*1000 + i)
				a := mustF32(t, []int64{2, 3}, []float32{v, v, v, v, v, v})
				out, err := s.Run([]Tensor{a, a})
				if err != nil {
					errs <- err
					return
				}
				got, _ := out[0].Float32()
				for _, x := range got {
					if x != 2*v {
						errs <- errors.New("wrong result under concurrency")
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestOverridableInitializer: an initializer listed among the graph inputs
// (IR >= 4) is not a required input, and onnxruntime does not report it.
func TestOverridableInitializer(t *testing.T) {
	g := graph{
		nodes:   []*onnxpb.NodeProto{node("Add", ins("x", "c"), outs("y"))},
		inputs:  []*onnxpb.ValueInfoProto{tensorVI("x", Float, 2), tensorVI("c", Float, 2)},
		outputs: []*onnxpb.ValueInfoProto{tensorVI("y", Float, 2)},
		inits:   []*onnxpb.TensorProto{initializer(t, "c", mustF32(t, []int64{2}, []float32{1, 2}))},
	}
	s := mustSession(t, g.encode(t), Options{})
	if got := s.Inputs(); len(got) != 1 || got[0].Name != "x" {
		t.Fatalf("Inputs() = %v, want just x", got)
	}
	out, err := s.Run([]Tensor{mustF32(t, []int64{2}, []float32{10, 20})})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := out[0].Float32(); !slices.Equal(got, []float32{11, 22}) {
		t.Errorf("x+c = %v, want [11 22]", got)
	}
}

func TestEmptyTensor(t *testing.T) {
	g := graph{
		nodes:   []*onnxpb.NodeProto{node("Relu", ins("x"), outs("y"))},
		inputs:  []*onnxpb.ValueInfoProto{tensorVI("x", Float, "N", 3)},
		outputs: []*onnxpb.ValueInfoProto{tensorVI("y", Float, "N", 3)},
	}
	s := mustSession(t, g.encode(t), Options{})
	out, err := s.Run([]Tensor{mustF32(t, []int64{0, 3}, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out[0].Shape, []int64{0, 3}) || len(out[0].Data) != 0 || out[0].DataType != Float {
		t.Errorf("Relu of an empty batch = %v with %d bytes, want float[0 3] and none", out[0], len(out[0].Data))
	}
}

// TestNoInputs: a model without inputs is refused with an error, not a
// panic inside onnxruntime_go.
func TestNoInputs(t *testing.T) {
	data, err := os.ReadFile("/usr/share/libonnx-testdata/data/node/test_constant/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Run(nil); err == nil {
		t.Fatal("Run of a model without inputs succeeded")
	}
	if _, err := s.Time(nil, 0, 1); err == nil {
		t.Fatal("Time of a model without inputs succeeded")
	}
}
