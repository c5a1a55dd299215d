package kernels

import (
	"fmt"
	"math"
	"testing"
)

func TestBatchNormAct(t *testing.T) {
	acts := []struct {
		act   Act
		kinks []float64
	}{
		{Act{Kind: ActNone}, nil},
		{Act{Kind: ActRelu}, []float64{0}},
		{Act{Kind: ActClip, Lo: 0, Hi: 6}, []float64{0, 6}},
		{Act{Kind: ActClip, Lo: -0.5, Hi: math.Inf(1)}, []float64{-0.5}},
		{Act{Kind: ActHardSwish}, []float64{-3, 3}},
	}
	s := BNShape{N: 3, C: 4, HW: 300} // HW > bnBlock: exercises the blocks
	for i, tc := range acts {
		for _, par := range []bool{false, true} {
			t.Run(fmt.Sprintf("%+v/par=%v", tc.act, par), func(t *testing.T) {
				if par {
					forceParallel(t)
				}
				a := BNAttrs{Epsilon: 1e-5, Momentum: 0.9}
				rng := newRNG(uint64(1600 + i))
				var x, scale, bias []float64
				sm, si := make([]float64, s.C), make([]float64, s.C)
				u := make([]float64, s.len())
				// Draw until every pre-activation is away from the kinks.
				for try := 0; ; try++ {
					x, scale, bias = randSlice(rng, s.len()), randSlice(rng, s.C), randSlice(rng, s.C)
					for c := range scale {
						scale[c] *= 3
					}
					BatchNormTrain(s, a, x, scale, bias, nil, nil, u, sm, si)
					ok := true
					for _, v := range u {
						for _, k := range tc.kinks {
							if math.Abs(v-k) < kinkAway {
								ok = false
							}
						}
					}
					if ok {
						break
					}
					if try > 1000 {
						t.Fatal("cannot draw inputs away from the kinks")
					}
				}
				r := randSlice(rng, s.len())
				x0 := clone(x)
				y := make([]float64, s.len())
				rm, rv := make([]float64, s.C), make([]float64, s.C)
				BatchNormTrainAct(s, a, tc.act, x, scale, bias, rm, rv, y, sm, si)
				unchanged(t, "x", x, x0)
				for j, v := range u {
					if want := actFwd(tc.act.Kind, tc.act.Lo, tc.act.Hi, v); math.Abs(y[j]-want) > 1e-12 {
						t.Fatalf("y[%d] = %v, want act(%v) = %v", j, y[j], v, want)
					}
				}
				dx, ds, db := make([]float64, s.len()), make([]float64, s.C), make([]float64, s.C)
				BatchNormTrainActBackward(s, tc.act, x, y, scale, bias, sm, si, r, dx, ds, db)
				fdCheck(t, func() float64 {
					BatchNormTrainAct(s, a, tc.act, x, scale, bias, nil, nil, y, make([]float64, s.C), make([]float64, s.C))
					return dotf(r, y)
				}, gradInput{"x", x, dx}, gradInput{"scale", scale, ds}, gradInput{"bias", bias, db})
				BatchNormTrainAct(s, a, tc.act, x, scale, bias, nil, nil, y, sm, si)
				// Without dx (dscale/dbias only) the results agree.
				ds2, db2 := make([]float64, s.C), make([]float64, s.C)
				BatchNormTrainActBackward(s, tc.act, x, y, scale, bias, sm, si, r, nil, ds2, db2)
				if relErr(ds2, ds) > refTol || relErr(db2, db) > refTol {
					t.Errorf("dscale/dbias without dx differ")
				}
				// dx may alias dy.
				r2 := clone(r)
				BatchNormTrainActBackward(s, tc.act, x, y, scale, bias, sm, si, r2, r2, nil, nil)
				if e := relErr(r2, dx); e > refTol {
					t.Errorf("in-place dx differs by %.3g", e)
				}
				// float32 agreement.
				y32 := make([]float32, s.len())
				BatchNormTrainAct(s, a, tc.act, to32(x), to32(scale), to32(bias), nil, nil, y32, make([]float32, s.C), make([]float32, s.C))
				if e := relErr(to64(y32), y); e > f32Tol {
					t.Errorf("float32 y error %.3g", e)
				}
				dx32 := make([]float32, s.len())
				BatchNormTrainActBackward(s, tc.act, to32(x), to32(y), to32(scale), to32(bias), to32(sm), to32(si), to32(r), dx32, nil, nil)
				if e := relErr(to64(dx32), dx); e > f32Tol {
					t.Errorf("float32 dx error %.3g", e)
				}
			})
		}
	}
}
