package kernels

import (
	"fmt"
	"math"
	"testing"
)

var poolCases = []PoolShape{
	{N: 2, C: 2, H: 6, W: 6, KH: 2, KW: 2, StrideH: 2, StrideW: 2},
	{N: 1, C: 2, H: 7, W: 7, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1},
	{N: 1, C: 2, H: 7, W: 7, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1, CountIncludePad: true},
	{N: 2, C: 1, H: 6, W: 7, KH: 3, KW: 2, StrideH: 2, StrideW: 2, PadT: 0, PadL: 1, PadB: 1, PadR: 0, CeilMode: true},
	{N: 2, C: 1, H: 6, W: 7, KH: 3, KW: 2, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 0, CeilMode: true, CountIncludePad: true},
	{N: 1, C: 1, H: 5, W: 5, KH: 2, KW: 2, StrideH: 2, StrideW: 2, CeilMode: true},
	{N: 1, C: 1, H: 5, W: 5, KH: 2, KW: 2, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1, CeilMode: true, CountIncludePad: true},
	{N: 1, C: 2, H: 4, W: 3, KH: 4, KW: 3, StrideH: 1, StrideW: 1}, // global via pool
}

// naivePool is the reference: the window's cells, with pad counting.
func naivePool(s PoolShape, x []float64, maxp bool) []float64 {
	s = s.norm()
	OH, OW := s.OutH(), s.OutW()
	y := make([]float64, s.N*s.C*OH*OW)
	for p := 0; p < s.N*s.C; p++ {
		for oh := 0; oh < OH; oh++ {
			for ow := 0; ow < OW; ow++ {
				best, sum, cnt, padded := math.Inf(-1), 0.0, 0, 0
				for kh := 0; kh < s.KH; kh++ {
					for kw := 0; kw < s.KW; kw++ {
						h := oh*s.StrideH - s.PadT + kh*s.DilH
						w := ow*s.StrideW - s.PadL + kw*s.DilW
						if h < s.H+s.PadB && w < s.W+s.PadR {
							padded++
						}
						if h < 0 || h >= s.H || w < 0 || w >= s.W {
							continue
						}
						v := x[p*s.H*s.W+h*s.W+w]
						best = math.Max(best, v)
						sum += v
						cnt++
					}
				}
				i := p*OH*OW + oh*OW + ow
				switch {
				case maxp:
					y[i] = best
				case s.CountIncludePad:
					y[i] = sum / float64(padded)
				default:
					y[i] = sum / float64(cnt)
				}
			}
		}
	}
	return y
}

func TestPoolOutputSize(t *testing.T) {
	// PyTorch: MaxPool2d(2, 2, ceil_mode=True) on 5×5 gives 3×3;
	// kernel 2, stride 2, pad 1, ceil on 5 rounds up to 4, and the last
	// window would start in the trailing pad, so 3; kernel 3, stride 2,
	// pad 1, ceil on 6 gives 4 (the last window starts at row 5).
	if s := (PoolShape{N: 1, C: 1, H: 5, W: 5, KH: 2, KW: 2, StrideH: 2, StrideW: 2, CeilMode: true}); s.OutH() != 3 {
		t.Errorf("OutH = %d, want 3", s.OutH())
	}
	if s := (PoolShape{N: 1, C: 1, H: 5, W: 5, KH: 2, KW: 2, StrideH: 2, StrideW: 2, PadT: 1, PadB: 1, CeilMode: true}); s.OutH() != 3 {
		t.Errorf("OutH = %d, want 3", s.OutH())
	}
	if s := (PoolShape{N: 1, C: 1, H: 6, W: 6, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadT: 1, PadB: 1, CeilMode: true}); s.OutH() != 4 {
		t.Errorf("OutH = %d, want 4", s.OutH())
	}
}

func TestPools(t *testing.T) {
	cases := append([]PoolShape{}, poolCases...)
	cases = append(cases, PoolShape{N: 1, C: 2, H: 8, W: 8, KH: 3, KW: 3, StrideH: 1, StrideW: 2, PadT: 2, PadL: 2, PadB: 2, PadR: 2, DilH: 2, DilW: 2})
	for i, s := range cases {
		for _, par := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d/par=%v", i, par), func(t *testing.T) {
				if par {
					forceParallel(t)
				}
				rng := newRNG(uint64(600 + i))
				// Distinct, well-separated values so that the argmax is stable
				// under finite-difference steps.
				x := make([]float64, s.XLen())
				perm := rng.Perm(len(x))
				for j := range x {
					x[j] = float64(perm[j])*0.01 - 0.3
				}
				r := randSlice(rng, s.YLen())
				x0 := clone(x)
				y := make([]float64, s.YLen())
				dx := make([]float64, s.XLen())
				am := make([]int32, s.YLen())
				MaxPool(s, x, y, am)
				unchanged(t, "x", x, x0)
				if e := relErr(y, naivePool(s, x, true)); e > 0 {
					t.Errorf("maxpool forward error %.3g", e)
				}
				MaxPoolBackward(s, am, r, dx)
				fdCheck(t, func() float64 { MaxPool(s, x, y, nil); return dotf(r, y) }, gradInput{"x(max)", x, dx})
				if s.DilH > 1 {
					return
				}
				AveragePool(s, x, y)
				if e := relErr(y, naivePool(s, x, false)); e > refTol {
					t.Errorf("avgpool forward error %.3g", e)
				}
				AveragePoolBackward(s, r, dx)
				fdCheck(t, func() float64 { AveragePool(s, x, y); return dotf(r, y) }, gradInput{"x(avg)", x, dx})
				y32 := make([]float32, s.YLen())
				AveragePool(s, to32(x), y32)
				if e := relErr(to64(y32), y); e > f32Tol {
					t.Errorf("float32 error %.3g", e)
				}
			})
		}
	}
}

func TestGlobalAveragePool(t *testing.T) {
	forceParallel(t)
	rng := newRNG(700)
	nc, hw := 6, 49
	x, r := randSlice(rng, nc*hw), randSlice(rng, nc)
	y, dx := make([]float64, nc), make([]float64, nc*hw)
	GlobalAveragePool(nc, hw, x, y)
	for p := 0; p < nc; p++ {
		s := 0.0
		for _, v := range x[p*hw : (p+1)*hw] {
			s += v
		}
		if math.Abs(y[p]-s/float64(hw)) > 1e-14 {
			t.Errorf("y[%d] = %v, want %v", p, y[p], s/float64(hw))
		}
	}
	GlobalAveragePoolBackward(nc, hw, r, dx)
	fdCheck(t, func() float64 { GlobalAveragePool(nc, hw, x, y); return dotf(r, y) }, gradInput{"x", x, dx})
}
