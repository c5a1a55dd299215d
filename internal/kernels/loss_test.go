package kernels

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

func TestSoftmaxCrossEntropy(t *testing.T) {
	for i, eps := range []float64{0, 0.1, 0.5} {
		t.Run(fmt.Sprint("eps=", eps), func(t *testing.T) {
			forceParallel(t)
			N, K := 5, 7
			rng := newRNG(uint64(1000 + i))
			z := randSlice(rng, N*K)
			labels := make([]int32, N)
			for n := range labels {
				labels[n] = int32(rng.IntN(K))
			}
			z0 := clone(z)
			dz := make([]float64, N*K)
			loss := SoftmaxCrossEntropy(N, K, z, labels, eps, dz)
			unchanged(t, "logits", z, z0)
			// Reference.
			want := 0.0
			for n := 0; n < N; n++ {
				m, s := math.Inf(-1), 0.0
				for k := 0; k < K; k++ {
					m = math.Max(m, z[n*K+k])
				}
				for k := 0; k < K; k++ {
					s += math.Exp(z[n*K+k] - m)
				}
				for k := 0; k < K; k++ {
					q := eps / float64(K)
					if k == int(labels[n]) {
						q += 1 - eps
					}
					want -= q * (z[n*K+k] - m - math.Log(s))
				}
			}
			want /= float64(N)
			if math.Abs(loss-want) > 1e-12 {
				t.Errorf("loss %v, want %v", loss, want)
			}
			fdCheck(t, func() float64 { return SoftmaxCrossEntropy(N, K, z, labels, eps, nil) }, gradInput{"logits", z, dz})
			l32 := SoftmaxCrossEntropy(N, K, to32(z), labels, eps, nil)
			if math.Abs(l32-loss) > f32Tol*math.Max(1, loss) {
				t.Errorf("float32 loss %v vs %v", l32, loss)
			}
		})
	}
}

func TestDistillationKL(t *testing.T) {
	for i, temp := range []float64{1, 2, 4} {
		t.Run(fmt.Sprint("T=", temp), func(t *testing.T) {
			N, K := 4, 6
			rng := newRNG(uint64(1100 + i))
			s, te := randSlice(rng, N*K), randSlice(rng, N*K)
			ds := make([]float64, N*K)
			loss := DistillationKL(N, K, s, te, temp, ds)
			// Reference: T²/N Σ pt·(log pt − log ps).
			want := 0.0
			for n := 0; n < N; n++ {
				ps, pt := make([]float64, K), make([]float64, K)
				Softmax(1, K, scaled(s[n*K:(n+1)*K], 1/temp), ps)
				Softmax(1, K, scaled(te[n*K:(n+1)*K], 1/temp), pt)
				for k := range ps {
					want += pt[k] * (math.Log(pt[k]) - math.Log(ps[k]))
				}
			}
			want *= temp * temp / float64(N)
			if math.Abs(loss-want) > 1e-12 {
				t.Errorf("loss %v, want %v", loss, want)
			}
			if DistillationKL(N, K, s, s, temp, nil) > 1e-15 {
				t.Errorf("KL(p‖p) ≠ 0")
			}
			fdCheck(t, func() float64 { return DistillationKL(N, K, s, te, temp, nil) }, gradInput{"student", s, ds})
		})
	}
}

func scaled(v []float64, a float64) []float64 {
	o := make([]float64, len(v))
	for i := range v {
		o[i] = v[i] * a
	}
	return o
}

func TestSoftmaxAndTopK(t *testing.T) {
	x := []float64{1, 3, 2, 0, 0, 5, 5, -1}
	y := make([]float64, 8)
	Softmax(2, 4, x, y)
	for n := 0; n < 2; n++ {
		s := 0.0
		for _, v := range y[n*4 : (n+1)*4] {
			s += v
		}
		if math.Abs(s-1) > 1e-15 {
			t.Errorf("row %d sums to %v", n, s)
		}
	}
	if math.Abs(y[1]/y[2]-math.E) > 1e-12 {
		t.Errorf("softmax ratio %v", y[1]/y[2])
	}
	labels := []int32{2, 2}
	if got := TopKCorrect(2, 4, x, labels, 1); got != 0 { // row 1: tie 5,5 → index 1 wins, as argmax
		t.Errorf("top1 = %d, want 0", got)
	}
	if got := TopKCorrect(2, 4, x, labels, 2); got != 2 {
		t.Errorf("top2 = %d, want 2", got)
	}
	if got := TopKCorrect(2, 4, x, []int32{3, 0}, 2); got != 0 {
		t.Errorf("top2 = %d, want 0", got)
	}
	// A dead network (all outputs equal) or a NaN one is right only where
	// argmax would be: label 0 of 4, in one row of 4.
	nan := math.NaN()
	for _, c := range []struct {
		name string
		row  []float64
	}{{"equal", []float64{0, 0, 0, 0}}, {"nan", []float64{nan, nan, nan, nan}}} {
		rows := slices.Concat(c.row, c.row, c.row, c.row)
		if got := TopKCorrect(4, 4, rows, []int32{0, 1, 2, 3}, 1); got != 1 {
			t.Errorf("%s outputs: top1 = %d of 4, want 1", c.name, got)
		}
	}
	// A NaN among numbers ranks first, as in numpy's argmax.
	if got := TopKCorrect(1, 3, []float64{nan, 2, 1}, []int32{1}, 1); got != 0 {
		t.Errorf("NaN above the label: top1 = %d, want 0", got)
	}
	if got := TopKCorrect(1, 3, []float64{nan, 2, 1}, []int32{1}, 2); got != 1 {
		t.Errorf("NaN above the label: top2 = %d, want 1", got)
	}
}
