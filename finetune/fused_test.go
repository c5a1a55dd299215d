package finetune

import (
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
