package finetune

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/models"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// modelTol is how closely a whole model's forward pass must match
// onnxruntime: max |engine − ort| / max(1, max |ort|).
const modelTol = 1e-4

// ortRun runs m in onnxruntime on one float32 input.
func ortRun(t testing.TB, m *onnxio.Model, shape []int64, x []float32) []float32 {
	t.Helper()
	data, err := onnxio.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ort.NewSession(data, ort.Options{IntraOpThreads: 2})
	if err != nil {
		t.Fatalf("onnxruntime: %v", err)
	}
	defer s.Close()
	in, err := ort.NewFloat32(shape, x)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run([]ort.Tensor{in})
	if err != nil {
		t.Fatalf("onnxruntime: %v", err)
	}
	f, err := out[0].Float32()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func maxRelDiff(got, want []float32) float64 {
	d, scale := 0.0, 1.0
	for i := range want {
		scale = math.Max(scale, math.Abs(float64(want[i])))
	}
	for i := range want {
		if math.IsNaN(float64(got[i])) {
			return math.Inf(1)
		}
		d = math.Max(d, math.Abs(float64(got[i])-float64(want[i])))
	}
	return d / scale
}

// TestModelsMatchORT runs whole models from the models package through the
// engine (inference mode) and through onnxruntime.
func TestModelsMatchORT(t *testing.T) {
	type mc struct {
		name string
		cfg  models.Config
	}
	var cases []mc
	for _, bnm := range []models.BNMode{models.BNKept, models.BNFolded} {
		cases = append(cases,
			mc{"mobilenetv2", models.Config{Width: 1, Resolution: 96, Classes: 10, BN: bnm}},
			mc{"mobilenetv2", models.Config{Width: 0.35, Resolution: 32, Classes: 10, InChannels: 1, BN: bnm}},
			mc{"mobilenetv1", models.Config{Width: 0.25, Resolution: 64, Classes: 10, BN: bnm}},
			mc{"mobilenetv3-small", models.Config{Width: 0.5, Resolution: 64, Classes: 10, BN: bnm}},
			mc{"mobilenetv3-large", models.Config{Width: 0.35, Resolution: 64, Classes: 10, BN: bnm, Opset: 13}},
			mc{"resnet", models.Config{Width: 0.25, Resolution: 64, Classes: 10, BN: bnm}},
			mc{"concatnet", models.Config{Width: 0.5, Resolution: 64, Classes: 10, BN: bnm}},
		)
	}
	cases = append(cases,
		mc{"mobilenetv2", models.Config{Width: 0.5, Resolution: 64, Classes: 10, Style: models.StyleTF2ONNX}},
		mc{"mobilenetv2", models.Config{Width: 0.5, Resolution: 64, Classes: 10, Opset: 9}},
	)
	for _, c := range cases {
		name := fmt.Sprintf("%s/w%g-r%d-%v-%v-opset%d", c.name, c.cfg.Width, c.cfg.Resolution, c.cfg.BN, c.cfg.Style, c.cfg.Opset)
		t.Run(name, func(t *testing.T) {
			m, err := models.Build(c.name, c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			const batch = 2
			e := mustCompile[float32](t, m, Options{Batch: batch})
			shape := e.InputShape(0)
			r := newRNG(3)
			x := e.Input(0)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			e.Forward(false)
			got := e.Output(0)
			s64 := make([]int64, len(shape))
			for i, d := range shape {
				s64[i] = int64(d)
			}
			want := ortRun(t, m, s64, x)
			if len(got) != len(want) {
				t.Fatalf("%d outputs, onnxruntime %d", len(got), len(want))
			}
			d := maxRelDiff(got, want)
			t.Logf("max relative difference %.2e (arena %.1f MiB)", d, float64(e.ArenaLen())*4/(1<<20))
			if !(d <= modelTol) {
				t.Errorf("engine and onnxruntime differ by %.3g > %g", d, modelTol)
			}
		})
	}
}

// TestTorchExportsMatchORT runs the real PyTorch exports kept by the models
// package (torch.onnx.export output, with its Shape→Gather→Unsqueeze→Concat
// chains), when they are present.
func TestTorchExportsMatchORT(t *testing.T) {
	files, _ := filepath.Glob("../models/testdata/torch/*.onnx")
	if len(files) == 0 {
		t.Skip("no PyTorch exports in ../models/testdata/torch")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			m, err := onnxio.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			e := mustCompile[float32](t, m, Options{Batch: 2})
			r := newRNG(5)
			x := e.Input(0)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			e.Forward(false)
			shape := e.InputShape(0)
			s64 := make([]int64, len(shape))
			for i, d := range shape {
				s64[i] = int64(d)
			}
			want := ortRun(t, m, s64, x)
			d := maxRelDiff(e.Output(0), want)
			t.Logf("max relative difference %.2e", d)
			if !(d <= modelTol) {
				t.Errorf("engine and onnxruntime differ by %.3g > %g", d, modelTol)
			}
			// It must also compile for training.
			mustCompile[float32](t, m, Options{Batch: 2, Train: true})
		})
	}
}

// TestConstantFormsMatchORT compiles compile-time inputs given in every way
// ONNX allows a constant (onnxio.ConstValue): Pad's pads as value_ints
// behind an Identity, its value as value_float, Clip's bounds as an Identity
// of an initializer and as value_float, and checks the forward pass against
// onnxruntime.
func TestConstantFormsMatchORT(t *testing.T) {
	b := newGB(13, 5)
	x := b.input("x", 2, 3, 6, 6)
	pads := b.node("Identity", vals(b.node("Constant", nil, aInts("value_ints", []int64{0, 0, 1, 1, 0, 0, 1, 1}))))
	y := b.node("Pad", vals(x, pads, b.node("Constant", nil, aFloat("value_float", 0.5))))
	lo := b.node("Identity", vals(b.initVals("lo", nil, []float32{-0.25})))
	y = b.node("Clip", vals(y, lo, b.node("Constant", nil, aFloat("value_float", 1.5))))
	y = b.node("Conv", vals(y, b.init("w", 0, 0.3, 4, 3, 3, 3)), aInts("kernel_shape", []int64{3, 3}))
	b.output(y)
	if err := b.g.InferShapes(); err != nil { // declares the output's type for onnxruntime
		t.Fatal(err)
	}
	e := mustCompile[float32](t, b.m, Options{})
	in := e.Input(0)
	r := newRNG(9)
	for i := range in {
		in[i] = float32(r.NormFloat64())
	}
	e.Forward(false)
	want := ortRun(t, b.m, []int64{2, 3, 6, 6}, in)
	if d := maxRelDiff(e.Output(0), want); !(d <= modelTol) {
		t.Errorf("engine and onnxruntime differ by %.3g > %g", d, modelTol)
	}
}
