package finetune

import (
	"fmt"
	"math"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/kernels"
)

// fma32 is a·b + c rounded once to float32 (a·b is exact in float64).
func fma32(a, b, c float32) float32 { return float32(math.FMA(float64(a), float64(b), float64(c))) }

func inside(z, lo, hi float32) bool { return z > lo && z < hi }

// zOf is how the fused loops compute x·a + b.
func zOf(x, a, b float32) float32 {
	if haveAVX {
		return fma32(x, a, b)
	}
	return float32(x*a) + b
}

// TestFusedLoopsFloat32 checks the float32 loops of the fused step (the
// AVX2 assembly where the CPU has it) against scalar references, at every
// length around the vector widths, with values placed exactly on the
// activation's bounds.
func TestFusedLoopsFloat32(t *testing.T) {
	t.Logf("AVX2 loops: %v", haveAVX)
	r := newRNG(21)
	for _, n := range []int{1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 200} {
		for _, act := range []struct {
			kind   unaryKind
			lo, hi float32
		}{{uRelu, 0, float32(math.Inf(1))}, {uClip, 0, 6}, {uClip, -0.5, 0.25}, {uClip, float32(math.Inf(-1)), 1}} {
			x, dy, y, dx := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
			a, b := float32(1.5), float32(0.25)
			for i := range x {
				x[i] = float32(r.NormFloat64() * 3)
				dy[i] = float32(r.NormFloat64())
			}
			// Put some z exactly on the bounds: x·a + b = lo (x = (lo−b)/a
			// is exact for these values when finite).
			for i := 0; i < n; i += 5 {
				if !math.IsInf(float64(act.lo), 0) {
					x[i] = (act.lo - b) / a
				}
			}
			actForward(act.kind, x, y, a, b, act.lo, act.hi)
			for i, v := range x {
				want := min(max(zOf(v, a, b), act.lo), act.hi)
				if y[i] != want {
					t.Fatalf("n=%d %v: forward y[%d] = %v, want %v", n, act, i, y[i], want)
				}
			}
			mean := float32(0.3)
			sg, sgx := actGradSums(act.kind, x, dy, a, b, mean, act.lo, act.hi)
			var wg, wgx float64
			for i, v := range x {
				if inside(zOf(v, a, b), act.lo, act.hi) {
					wg += float64(dy[i])
					wgx += float64(dy[i]) * float64(v-mean)
				}
			}
			if math.Abs(float64(sg)-wg) > 1e-5*(1+math.Abs(wg)) || math.Abs(float64(sgx)-wgx) > 1e-5*(1+math.Abs(wgx)) {
				t.Fatalf("n=%d %v: sums %v %v, want %v %v", n, act, sg, sgx, wg, wgx)
			}
			c1, c0 := float32(-0.01), float32(0.02)
			actGradDx(act.kind, x, dy, dx, a, b, c1, c0, act.lo, act.hi)
			for i, v := range x {
				g := float32(0)
				if inside(zOf(v, a, b), act.lo, act.hi) {
					g = dy[i]
				}
				want := float64(a)*float64(g) + float64(c1)*float64(v) + float64(c0)
				if math.Abs(float64(dx[i])-want) > 1e-6*(1+math.Abs(want)) {
					t.Fatalf("n=%d %v: dx[%d] = %v, want %v", n, act, i, dx[i], want)
				}
			}
			// clipGrad on the clipped output, in place over a copy of dy.
			g := append([]float32(nil), dy...)
			clipGrad(y, g, g, act.lo, act.hi)
			for i := range y {
				want := float32(0)
				if inside(y[i], act.lo, act.hi) {
					want = dy[i]
				}
				if g[i] != want {
					t.Fatalf("n=%d %v: clip grad[%d] = %v (y %v), want %v", n, act, i, g[i], y[i], want)
				}
			}
			// channelStats against float64.
			s := kernels.BNShape{N: 1, C: 1, HW: n}
			mu, v := channelStats(x, s, 0)
			var m64, v64 float64
			for _, u := range x {
				m64 += float64(u)
			}
			m64 /= float64(n)
			for _, u := range x {
				v64 += (float64(u) - m64) * (float64(u) - m64)
			}
			v64 /= float64(n)
			if math.Abs(float64(mu)-m64) > 1e-5*(1+math.Abs(m64)) || math.Abs(float64(v)-v64) > 1e-5*(1+v64) {
				t.Fatalf("n=%d: stats %v %v, want %v %v", n, mu, v, m64, v64)
			}
		}
	}
}

// TestFusedFloat32MatchesFloat64 runs the fused BN+activation step in
// float32 (the AVX2 paths: per-plane loops and, for planes of at most
// smallHW values, the row kernels) against float64 (the generic Go code)
// on plane sizes and channel counts that leave vector tails, in training
// and frozen mode.
func TestFusedFloat32MatchesFloat64(t *testing.T) {
	for _, tc := range []struct {
		n, c, h, w int64
		act        string
		freeze     bool
	}{
		{5, 7, 1, 1, "Clip", false}, {4, 13, 2, 2, "Relu", false}, {3, 5, 3, 3, "Clip", false},
		{2, 9, 4, 4, "Clip", true}, {3, 6, 5, 5, "Relu", false}, {2, 3, 9, 7, "Clip", false},
		{4, 3, 1, 1, "Relu", true}, {2, 4, 17, 1, "Clip", false},
		{3, 11, 2, 2, "none", false}, {2, 3, 6, 6, "none", false},
	} {
		name := fmt.Sprintf("%dx%dx%dx%d-%s-freeze%v", tc.n, tc.c, tc.h, tc.w, tc.act, tc.freeze)
		t.Run(name, func(t *testing.T) {
			b := newGB(17, 3)
			x := b.input("x", tc.n, tc.c, tc.h, tc.w)
			y := bn(b, x, "bn", tc.c)
			switch tc.act {
			case "Clip":
				y = b.node("Clip", vals(y, b.initVals("lo", nil, []float32{0}), b.initVals("hi", nil, []float32{0.8})))
			case "Relu":
				y = b.node("Relu", vals(y))
			}
			b.output(y)
			o := Options{Train: true, InputGrad: true, FreezeBN: tc.freeze}
			e32 := mustCompile[float32](t, b.m, o)
			e64 := mustCompile[float64](t, b.m, o)
			if _, ok := e32.steps[0].(*bnActStep[float32]); !ok {
				t.Fatal("not fused")
			}
			r := newRNG(9)
			for i := range e64.Input(0) {
				v := float32(r.NormFloat64())
				e32.Input(0)[i], e64.Input(0)[i] = v, float64(v)
			}
			proj := make([]float32, len(e32.Logits()))
			for i := range proj {
				proj[i] = float32(r.NormFloat64())
			}
			e32.Forward(true)
			e64.Forward(true)
			cmp := func(what string, a []float32, b []float64) {
				t.Helper()
				a64 := make([]float64, len(a))
				for i, v := range a {
					a64[i] = float64(v)
				}
				if e := relErr(a64, b); !(e < 1e-5) {
					t.Errorf("%s: float32 and float64 differ by %.3g", what, e)
				}
			}
			cmp("output", e32.Output(0), e64.Output(0))
			for i, v := range proj {
				e32.LogitsGrad()[i], e64.LogitsGrad()[i] = v, float64(v)
			}
			e32.Backward()
			e64.Backward()
			cmp("dx", e32.InputGrad(0), e64.InputGrad(0))
			for i, p := range e32.Params() {
				cmp("d"+p.Name, p.Grad, e64.Params()[i].Grad)
			}
			for i, s := range e32.buffers {
				cmp(s.name, s.data, e64.buffers[i].data)
			}
		})
	}
}
