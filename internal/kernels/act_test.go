package kernels

import (
	"math"
	"testing"
)

func TestActivations(t *testing.T) {
	type fns struct {
		name  string
		fwd   func(x, y []float64)
		bwd   func(x, y, dy, dx []float64)
		ref   func(float64) float64
		kinks []float64
	}
	cases := []fns{
		{"relu", Relu[float64], func(x, y, dy, dx []float64) { ReluBackward(y, dy, dx) },
			func(v float64) float64 { return math.Max(v, 0) }, []float64{0}},
		{"clip(0,6)", func(x, y []float64) { Clip(x, y, 0, 6) }, func(x, y, dy, dx []float64) { ClipBackward(y, dy, dx, 0, 6) },
			func(v float64) float64 { return math.Min(math.Max(v, 0), 6) }, []float64{0, 6}},
		{"clip(-1,inf)", func(x, y []float64) { Clip(x, y, -1, math.Inf(1)) }, func(x, y, dy, dx []float64) { ClipBackward(y, dy, dx, -1, math.Inf(1)) },
			func(v float64) float64 { return math.Max(v, -1) }, []float64{-1}},
		{"hardsigmoid(0.2,0.5)", func(x, y []float64) { HardSigmoid(x, y, 0.2, 0.5) }, func(x, y, dy, dx []float64) { HardSigmoidBackward(y, dy, dx, 0.2) },
			func(v float64) float64 { return math.Min(math.Max(0.2*v+0.5, 0), 1) }, []float64{-2.5, 2.5}},
		{"hardsigmoid(1/6,0.5)", func(x, y []float64) { HardSigmoid(x, y, 1.0/6, 0.5) }, func(x, y, dy, dx []float64) { HardSigmoidBackward(y, dy, dx, 1.0/6) },
			func(v float64) float64 { return math.Min(math.Max(v/6+0.5, 0), 1) }, []float64{-3, 3}},
		{"hardswish", HardSwish[float64], func(x, y, dy, dx []float64) { HardSwishBackward(x, dy, dx) },
			func(v float64) float64 { return v * math.Min(math.Max(v/6+0.5, 0), 1) }, []float64{-3, 3}},
		{"sigmoid", Sigmoid[float64], func(x, y, dy, dx []float64) { SigmoidBackward(y, dy, dx) },
			func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }, nil},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forceParallel(t)
			rng := newRNG(uint64(400 + i))
			n := 257
			x := randSlice(rng, n)
			for j := range x {
				x[j] *= 4
				for _, k := range tc.kinks {
					if math.Abs(x[j]-k) < kinkAway {
						x[j] = k + 2*kinkAway
					}
				}
			}
			r := randSlice(rng, n)
			x0 := clone(x)
			y := make([]float64, n)
			tc.fwd(x, y)
			unchanged(t, "x", x, x0)
			for j := range x {
				if math.Abs(y[j]-tc.ref(x[j])) > 1e-15 {
					t.Fatalf("y(%v) = %v, want %v", x[j], y[j], tc.ref(x[j]))
				}
			}
			dx := make([]float64, n)
			tc.bwd(x, y, r, dx)
			fdCheck(t, func() float64 { tc.fwd(x, y); return dotf(r, y) }, gradInput{"x", x, dx})
			// In place: y aliases x, dx aliases dy.
			tc.fwd(x, y)
			xi := clone(x)
			tc.fwd(xi, xi)
			if relErr(xi, y) != 0 {
				t.Errorf("in-place forward differs")
			}
			ri := clone(r)
			tc.bwd(x, y, ri, ri)
			if relErr(ri, dx) != 0 {
				t.Errorf("in-place backward differs")
			}
			// float32.
			y32 := make([]float32, n)
			x32 := to32(x)
			var fwd32 func(x, y []float32)
			switch tc.name {
			case "relu":
				fwd32 = Relu[float32]
			case "hardswish":
				fwd32 = HardSwish[float32]
			case "sigmoid":
				fwd32 = Sigmoid[float32]
			case "clip(0,6)":
				fwd32 = func(x, y []float32) { Clip(x, y, 0, 6) }
			case "clip(-1,inf)":
				fwd32 = func(x, y []float32) { Clip(x, y, -1, float32(math.Inf(1))) }
			default:
				return
			}
			fwd32(x32, y32)
			if e := relErr(to64(y32), y); e > f32Tol {
				t.Errorf("float32 error %.3g", e)
			}
		})
	}
}
