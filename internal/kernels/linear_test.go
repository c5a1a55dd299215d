package kernels

import (
	"fmt"
	"testing"
)

func naiveGemm(s GemmShape, a, b, c []float64) []float64 {
	y := make([]float64, s.M*s.N)
	var cv []float64
	if s.CShape != nil {
		cv, _ = naiveBroadcast(make([]float64, s.M*s.N), []int{s.M, s.N}, c, s.CShape, func(_, v float64) float64 { return v })
	}
	for i := 0; i < s.M; i++ {
		for j := 0; j < s.N; j++ {
			acc := 0.0
			for k := 0; k < s.K; k++ {
				av := a[i*s.K+k]
				if s.TransA {
					av = a[k*s.M+i]
				}
				bv := b[k*s.N+j]
				if s.TransB {
					bv = b[j*s.K+k]
				}
				acc += av * bv
			}
			y[i*s.N+j] = s.Alpha * acc
			if cv != nil {
				y[i*s.N+j] += s.Beta * cv[i*s.N+j]
			}
		}
	}
	return y
}

func TestGemm(t *testing.T) {
	var cases []GemmShape
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			for _, c := range [][]int{nil, {}, {5}, {1, 5}, {4, 1}, {4, 5}} {
				cases = append(cases, GemmShape{M: 4, N: 5, K: 3, TransA: ta, TransB: tb, Alpha: 1.5, Beta: 0.5, CShape: c})
			}
		}
	}
	cases = append(cases, GemmShape{M: 7, N: 3, K: 6, Alpha: 1, Beta: 1, CShape: []int{3}})
	for i, s := range cases {
		for _, par := range []bool{false, true} {
			t.Run(fmt.Sprintf("tA=%v tB=%v C=%v par=%v", s.TransA, s.TransB, s.CShape, par), func(t *testing.T) {
				if par {
					forceParallel(t)
				}
				rng := newRNG(uint64(800 + i))
				a, b := randSlice(rng, s.M*s.K), randSlice(rng, s.K*s.N)
				var c, dc []float64
				if s.CShape != nil {
					c, dc = randSlice(rng, prod(s.CShape...)), make([]float64, prod(s.CShape...))
				}
				a0, b0 := clone(a), clone(b)
				y := make([]float64, s.M*s.N)
				Gemm(s, a, b, c, y)
				unchanged(t, "a", a, a0)
				unchanged(t, "b", b, b0)
				if e := relErr(y, naiveGemm(s, a, b, c)); e > refTol {
					t.Errorf("forward error %.3g", e)
				}
				r := randSlice(rng, len(y))
				da, db := make([]float64, len(a)), make([]float64, len(b))
				GemmBackward(s, a, b, r, da, db, dc, nil)
				fdCheck(t, func() float64 { Gemm(s, a, b, c, y); return dotf(r, y) },
					gradInput{"a", a, da}, gradInput{"b", b, db}, gradInput{"c", c, dc})
				y32 := make([]float32, len(y))
				var c32 []float32
				if c != nil {
					c32 = to32(c)
				}
				Gemm(s, to32(a), to32(b), c32, y32)
				Gemm(s, a, b, c, y)
				if e := relErr(to64(y32), y); e > f32Tol {
					t.Errorf("float32 error %.3g", e)
				}
			})
		}
	}
}

func TestMatMul(t *testing.T) {
	cases := [][2][]int{
		{{4, 3}, {3, 5}},
		{{2, 4, 3}, {3, 5}},
		{{2, 4, 3}, {2, 3, 5}},
		{{2, 1, 4, 3}, {3, 3, 5}},
		{{3}, {3, 5}},
		{{4, 3}, {3}},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			forceParallel(t)
			rng := newRNG(uint64(900 + i))
			as, bs := tc[0], tc[1]
			a, b := randSlice(rng, prod(as...)), randSlice(rng, prod(bs...))
			out, err := MatMulShape(as, bs)
			if err != nil {
				t.Fatal(err)
			}
			y := make([]float64, prod(out...))
			MatMul(a, as, b, bs, y)
			// Reference by per-batch naive products.
			pa, pb := as, bs
			if len(pa) == 1 {
				pa = []int{1, pa[0]}
			}
			if len(pb) == 1 {
				pb = []int{pb[0], 1}
			}
			M, K, N := pa[len(pa)-2], pa[len(pa)-1], pb[len(pb)-1]
			batch, _ := BroadcastShape(pa[:len(pa)-2], pb[:len(pb)-2])
			nb := prod(batch...)
			sa, sb := stridesFor(pa[:len(pa)-2], batch), stridesFor(pb[:len(pb)-2], batch)
			for bi := 0; bi < nb; bi++ {
				r, ia, ib := bi, 0, 0
				for d := len(batch) - 1; d >= 0; d-- {
					idx := r % batch[d]
					r /= batch[d]
					ia += idx * sa[d]
					ib += idx * sb[d]
				}
				want := naiveGemm(GemmShape{M: M, N: N, K: K, Alpha: 1}, a[ia*M*K:(ia+1)*M*K], b[ib*K*N:(ib+1)*K*N], nil)
				if e := relErr(y[bi*M*N:(bi+1)*M*N], want); e > refTol {
					t.Errorf("batch %d error %.3g", bi, e)
				}
			}
			if len(as) == 2 && len(bs) == 2 {
				r := randSlice(rng, len(y))
				da, db := make([]float64, len(a)), make([]float64, len(b))
				MatMulBackward(M, K, N, a, b, r, da, db)
				fdCheck(t, func() float64 { MatMul(a, as, b, bs, y); return dotf(r, y) }, gradInput{"a", a, da}, gradInput{"b", b, db})
			}
		})
	}
}
