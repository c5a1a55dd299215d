package kernels

import (
	"fmt"
	"math"
	"testing"
)

func TestBatchNorm(t *testing.T) {
	cases := []struct {
		s      BNShape
		biased bool
	}{
		{BNShape{N: 3, C: 4, HW: 5}, false},
		{BNShape{N: 2, C: 3, HW: 1}, true},
		{BNShape{N: 1, C: 2, HW: 9}, false},
		{BNShape{N: 2, C: 3, HW: 37}, false}, // rows long enough for the SIMD kernels, with a tail
	}
	for i, tc := range cases {
		for _, par := range []bool{false, true} {
			t.Run(fmt.Sprintf("%+v/biased=%v/par=%v", tc.s, tc.biased, par), func(t *testing.T) {
				if par {
					forceParallel(t)
				}
				s := tc.s
				a := BNAttrs{Epsilon: 1e-5, Momentum: 0.9, BiasedRunningVar: tc.biased}
				rng := newRNG(uint64(300 + i))
				x := randSlice(rng, s.len())
				for j := range x {
					x[j] = 3*x[j] + 1
				}
				scale, bias := randSlice(rng, s.C), randSlice(rng, s.C)
				rm, rv := randSlice(rng, s.C), make([]float64, s.C)
				for j := range rv {
					rv[j] = 1 + math.Abs(rm[j])
				}
				r := randSlice(rng, s.len())
				x0 := clone(x)
				y := make([]float64, s.len())
				sm, si := make([]float64, s.C), make([]float64, s.C)
				rm1, rv1 := clone(rm), clone(rv)
				BatchNormTrain(s, a, x, scale, bias, rm1, rv1, y, sm, si)
				unchanged(t, "x", x, x0)
				// Reference statistics.
				R := float64(s.N * s.HW)
				for c := 0; c < s.C; c++ {
					mean, sq := 0.0, 0.0
					for n := 0; n < s.N; n++ {
						for k := 0; k < s.HW; k++ {
							mean += x[(n*s.C+c)*s.HW+k]
						}
					}
					mean /= R
					for n := 0; n < s.N; n++ {
						for k := 0; k < s.HW; k++ {
							d := x[(n*s.C+c)*s.HW+k] - mean
							sq += d * d
						}
					}
					v := sq / R
					vu := sq / (R - 1)
					if tc.biased {
						vu = v
					}
					if math.Abs(sm[c]-mean) > 1e-12 || math.Abs(si[c]-1/math.Sqrt(v+1e-5)) > 1e-9 {
						t.Errorf("c%d: saved stats %v %v, want %v %v", c, sm[c], si[c], mean, 1/math.Sqrt(v+1e-5))
					}
					if math.Abs(rm1[c]-(0.9*rm[c]+0.1*mean)) > 1e-12 || math.Abs(rv1[c]-(0.9*rv[c]+0.1*vu)) > 1e-12 {
						t.Errorf("c%d: running stats %v %v", c, rm1[c], rv1[c])
					}
					for n := 0; n < s.N; n++ {
						for k := 0; k < s.HW; k++ {
							j := (n*s.C+c)*s.HW + k
							want := scale[c]*(x[j]-mean)/math.Sqrt(v+1e-5) + bias[c]
							if math.Abs(y[j]-want) > 1e-10 {
								t.Fatalf("y[%d] = %v, want %v", j, y[j], want)
							}
						}
					}
				}
				// Training-mode gradients.
				dx, ds, db := make([]float64, s.len()), make([]float64, s.C), make([]float64, s.C)
				BatchNormTrainBackward(s, x, scale, sm, si, r, dx, ds, db)
				loss := func() float64 {
					BatchNormTrain(s, a, x, scale, bias, nil, nil, y, make([]float64, s.C), make([]float64, s.C))
					return dotf(r, y)
				}
				if s.N*s.HW > 1 {
					fdCheck(t, loss, gradInput{"x", x, dx}, gradInput{"scale", scale, ds}, gradInput{"bias", bias, db})
				}
				// dx may alias dy.
				r2 := clone(r)
				BatchNormTrainBackward(s, x, scale, sm, si, r2, r2, nil, nil)
				if relErr(r2, dx) > refTol {
					t.Errorf("in-place dx differs")
				}
				// Frozen mode.
				BatchNormInfer(s, a, x, scale, bias, rm, rv, y)
				for j := range y {
					c := (j / s.HW) % s.C
					want := scale[c]*(x[j]-rm[c])/math.Sqrt(rv[c]+1e-5) + bias[c]
					if math.Abs(y[j]-want) > 1e-10 {
						t.Fatalf("infer y[%d] = %v, want %v", j, y[j], want)
					}
				}
				BatchNormInferBackward(s, a, x, scale, rm, rv, r, dx, ds, db)
				lossI := func() float64 {
					BatchNormInfer(s, a, x, scale, bias, rm, rv, y)
					return dotf(r, y)
				}
				fdCheck(t, lossI, gradInput{"x", x, dx}, gradInput{"scale", scale, ds}, gradInput{"bias", bias, db})
				// float32 agreement.
				y32 := make([]float32, s.len())
				BatchNormTrain(s, a, to32(x), to32(scale), to32(bias), nil, nil, y32, make([]float32, s.C), make([]float32, s.C))
				BatchNormTrain(s, a, x, scale, bias, nil, nil, y, sm, si)
				if e := relErr(to64(y32), y); e > f32Tol {
					t.Errorf("float32 forward error %.3g", e)
				}
				dx32 := make([]float32, s.len())
				BatchNormTrainBackward(s, to32(x), to32(scale), to32(sm), to32(si), to32(r), dx32, nil, nil)
				BatchNormTrainBackward(s, x, scale, sm, si, r, dx, nil, nil)
				if e := relErr(to64(dx32), dx); e > f32Tol {
					t.Errorf("float32 backward error %.3g", e)
				}
			})
		}
	}
}

// A large offset must not destroy the float32 variance (shifted one-pass).
func TestBatchNormFloat32LargeMean(t *testing.T) {
	s := BNShape{N: 8, C: 1, HW: 1000}
	rng := newRNG(7)
	x := randSlice(rng, s.len())
	for i := range x {
		x[i] = 1000 + 0.01*x[i]
	}
	sm, si := make([]float32, 1), make([]float32, 1)
	BatchNormTrain(s, BNAttrs{Epsilon: 1e-12, Momentum: 0.9}, to32(x), []float32{1}, []float32{0}, nil, nil, make([]float32, s.len()), sm, si)
	sm64, si64 := make([]float64, 1), make([]float64, 1)
	BatchNormTrain(s, BNAttrs{Epsilon: 1e-12, Momentum: 0.9}, to64(to32(x)), []float64{1}, []float64{0}, nil, nil, make([]float64, s.len()), sm64, si64)
	if math.Abs(float64(si[0])/si64[0]-1) > 1e-2 {
		t.Errorf("float32 invstd %v, float64 %v", si[0], si64[0])
	}
}
