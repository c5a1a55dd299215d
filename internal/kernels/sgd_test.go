package kernels

import (
	"math"
	"testing"
)

// refSGD is a literal transcription of torch.optim.SGD's single-tensor step.
func refSGD(h SGDParams, p, g, buf []float64, first bool) {
	for i := range p {
		d := g[i]
		if h.WeightDecay != 0 {
			d += h.WeightDecay * p[i]
		}
		if h.Momentum != 0 {
			if first {
				buf[i] = d
			} else {
				buf[i] = buf[i]*h.Momentum + (1-h.Dampening)*d
			}
			if h.Nesterov {
				d = d + h.Momentum*buf[i]
			} else {
				d = buf[i]
			}
		}
		p[i] -= h.LR * d
	}
}

func TestSGD(t *testing.T) {
	cases := []SGDParams{
		{LR: 0.1},
		{LR: 0.1, WeightDecay: 1e-4},
		{LR: 0.05, Momentum: 0.9},
		{LR: 0.05, Momentum: 0.9, Dampening: 0.1, WeightDecay: 5e-4},
		{LR: 0.05, Momentum: 0.9, Nesterov: true, WeightDecay: 4e-5},
	}
	for i, h := range cases {
		forceParallel(t)
		rng := newRNG(uint64(1200 + i))
		p := randSlice(rng, 33)
		pr := clone(p)
		buf, bufr := make([]float64, len(p)), make([]float64, len(p))
		for step := 0; step < 3; step++ {
			g := randSlice(rng, len(p))
			g0 := clone(g)
			SGDStep(h, p, g, buf, step == 0)
			refSGD(h, pr, g, bufr, step == 0)
			unchanged(t, "grad", g, g0)
		}
		for j := range p {
			if math.Abs(p[j]-pr[j]) > 1e-15 || math.Abs(buf[j]-bufr[j]) > 1e-15 {
				t.Fatalf("case %+v: p[%d] = %v, want %v", h, j, p[j], pr[j])
			}
		}
	}
	// A known value: p=1, g=1, momentum 0.9, two steps, lr 0.1:
	// buf=1, p=0.9; buf=0.9+1=1.9, p=0.9−0.19=0.71.
	p, buf := []float32{1}, []float32{0}
	SGDStep(SGDParams{LR: 0.1, Momentum: 0.9}, p, []float32{1}, buf, true)
	SGDStep(SGDParams{LR: 0.1, Momentum: 0.9}, p, []float32{1}, buf, false)
	if math.Abs(float64(p[0])-0.71) > 1e-6 {
		t.Errorf("p = %v, want 0.71", p[0])
	}
}

// float32 SGD at every level (the assembly takes the common step, each
// combination of weight decay and Nesterov) against the float64 reference,
// over lengths that leave tails after the 8-wide vectors.
func TestSGDFloat32(t *testing.T) {
	cases := []SGDParams{
		{LR: 0.05, Momentum: 0.9},
		{LR: 0.05, Momentum: 0.9, Dampening: 0.1, WeightDecay: 5e-4},
		{LR: 0.05, Momentum: 0.9, Nesterov: true},
		{LR: 0.05, Momentum: 0.9, Nesterov: true, WeightDecay: 4e-5},
		{LR: 0.1, WeightDecay: 1e-4},
	}
	for _, l := range isaLevels() {
		withISA(t, l)
		forceParallel(t)
		for i, h := range cases {
			for _, n := range []int{5, 37, 200} {
				rng := newRNG(uint64(1300 + i))
				pr := randSlice(rng, n)
				p := to32(pr)
				pr = to64(p)
				buf, bufr := make([]float32, n), make([]float64, n)
				for step := 0; step < 4; step++ {
					g := to32(randSlice(rng, n))
					SGDStep(h, p, g, buf, step == 0)
					refSGD(h, pr, to64(g), bufr, step == 0)
				}
				if e := relErr(to64(p), pr); e > 1e-6 {
					t.Errorf("%v %+v n=%d: p differs from float64 by %.3g", l, h, n, e)
				}
				if e := relErr(to64(buf), bufr); h.Momentum != 0 && e > 1e-6 {
					t.Errorf("%v %+v n=%d: buf differs from float64 by %.3g", l, h, n, e)
				}
			}
		}
	}
}

func TestDropout(t *testing.T) {
	n := 10000
	x := make([]float64, n)
	for i := range x {
		x[i] = float64(i%7) + 1
	}
	x0 := clone(x)
	y, y2 := make([]float64, n), make([]float64, n)
	m, m2 := make([]bool, n), make([]bool, n)
	Dropout(x, y, m, 0.3, 42)
	unchanged(t, "x", x, x0)
	kept := 0
	for i := range x {
		if m[i] {
			kept++
			if math.Abs(y[i]-x[i]/0.7) > 1e-12 {
				t.Fatalf("kept y[%d] = %v", i, y[i])
			}
		} else if y[i] != 0 {
			t.Fatalf("dropped y[%d] = %v", i, y[i])
		}
	}
	if frac := float64(kept) / float64(n); math.Abs(frac-0.7) > 0.02 {
		t.Errorf("kept fraction %v, want ≈0.7", frac)
	}
	// Same seed → same mask whatever the worker count; other seed differs.
	forceParallel(t)
	Dropout(x, y2, m2, 0.3, 42)
	if relErr(y, y2) != 0 {
		t.Error("mask depends on worker count")
	}
	Dropout(x, y2, m2, 0.3, 43)
	if relErr(y, y2) == 0 {
		t.Error("mask does not depend on the seed")
	}
	r := randSlice(newRNG(1300), n)
	dx := make([]float64, n)
	DropoutBackward(m, r, dx, 0.3)
	for i := range dx {
		want := 0.0
		if m[i] {
			want = r[i] / 0.7
		}
		if math.Abs(dx[i]-want) > 1e-12 {
			t.Fatalf("dx[%d] = %v, want %v", i, dx[i], want)
		}
	}
}
