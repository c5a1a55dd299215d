package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Named tolerances of the gradient and agreement checks.
const (
	fdStep   = 1e-6  // central-difference step
	gradTol  = 1e-4  // max ‖analytic − numeric‖∞ / max(1, ‖numeric‖∞)
	refTol   = 1e-10 // float64 kernel vs naive reference, relative ∞-norm
	f32Tol   = 2e-4  // float32 vs float64 kernel, relative ∞-norm
	kinkAway = 1e-3  // inputs are kept this far from activation kinks
)

func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

func randSlice(r *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = r.NormFloat64()
	}
	return s
}

func to32(s []float64) []float32 {
	o := make([]float32, len(s))
	for i, v := range s {
		o[i] = float32(v)
	}
	return o
}

func to64(s []float32) []float64 {
	o := make([]float64, len(s))
	for i, v := range s {
		o[i] = float64(v)
	}
	return o
}

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

func dotf(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// gradInput is one differentiable input: its values (perturbed in place by
// fdCheck and restored) and its analytic gradient.
type gradInput struct {
	name string
	x    []float64
	grad []float64
}

// fdCheck compares each analytic gradient with central differences of loss.
func fdCheck(t *testing.T, loss func() float64, ins ...gradInput) {
	t.Helper()
	for _, in := range ins {
		if in.grad == nil {
			continue
		}
		num := make([]float64, len(in.x))
		for i := range in.x {
			v := in.x[i]
			in.x[i] = v + fdStep
			lp := loss()
			in.x[i] = v - fdStep
			lm := loss()
			in.x[i] = v
			num[i] = (lp - lm) / (2 * fdStep)
		}
		e := relErr(in.grad, num)
		if e > gradTol || math.IsNaN(e) {
			t.Errorf("d%s: ∞-norm relative error %.3g > %g (|num|∞=%.3g)", in.name, e, gradTol, infNorm(num))
		} else if testing.Verbose() {
			t.Logf("d%s: ∞-norm relative error %.3g", in.name, e)
		}
	}
}

// unchanged fails the test if any input was mutated.
func unchanged(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s was mutated", what)
	}
}

func clone(s []float64) []float64 { return slices.Clone(s) }

// forceParallel makes every kernel split its work across 3 workers, even
// for tiny shapes, for the duration of the test.
func forceParallel(t *testing.T) {
	old := SetWorkers(3)
	oldMin := minWork
	minWork = 1
	t.Cleanup(func() { SetWorkers(old); minWork = oldMin })
}

// isaLevels lists the assembly levels this CPU and build run, from isaGo
// up to cpuISA: an AVX-512 machine also runs the AVX2 kernels.
func isaLevels() []isa {
	var ls []isa
	for l := isaGo; l <= cpuISA; l++ {
		ls = append(ls, l)
	}
	return ls
}

// withISA makes the kernels dispatch to level l for the rest of the test.
func withISA(t *testing.T, l isa) {
	old := asmISA
	asmISA = l
	t.Cleanup(func() { asmISA = old })
}
