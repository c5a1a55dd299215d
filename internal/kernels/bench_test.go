package kernels

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
)

// benchLayer is one entry of testdata/mobilenetv2_layers.json, the layer
// list shared with bench/torch/layers.py so that per-layer Go and PyTorch
// timings line up by name.
type benchLayer struct {
	Name               string
	Kind               string
	N, C, H, W, M, K   int
	Stride, Pad, Group int
}

func loadBenchLayers(b *testing.B) []benchLayer {
	data, err := os.ReadFile("testdata/mobilenetv2_layers.json")
	if err != nil {
		b.Fatal(err)
	}
	var ls []benchLayer
	if err := json.Unmarshal(data, &ls); err != nil {
		b.Fatal(err)
	}
	return ls
}

func randF32(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// BenchmarkMobileNetV2 times forward+backward (dx and all parameter
// gradients) of each layer type of MobileNetV2, reporting GFLOP/s for
// convolutions and Gemm (backward counted as 2× forward).
func BenchmarkMobileNetV2(b *testing.B) {
	for _, l := range loadBenchLayers(b) {
		b.Run(l.Name, func(b *testing.B) {
			ws := NewWorkspace[float32](0)
			switch l.Kind {
			case "conv":
				s := ConvShape{N: l.N, C: l.C, H: l.H, W: l.W, M: l.M, KH: l.K, KW: l.K, Group: l.Group,
					StrideH: l.Stride, StrideW: l.Stride, PadT: l.Pad, PadL: l.Pad, PadB: l.Pad, PadR: l.Pad}
				x, w := randF32(s.XLen(), 1), randF32(s.WLen(), 2)
				y, dy := make([]float32, s.YLen()), randF32(s.YLen(), 3)
				dx, dw := make([]float32, s.XLen()), make([]float32, s.WLen())
				b.ResetTimer()
				for b.Loop() {
					Conv2D(s, x, w, nil, y, ws)
					Conv2DBackward(s, x, w, dy, dx, dw, nil, ws)
				}
				b.ReportMetric(3*s.FLOPs()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			case "bnrelu6":
				// The fused kernels, as the engine calls them for BN→Clip.
				s := BNShape{N: l.N, C: l.C, HW: l.H * l.W}
				n := s.len()
				x, dy := randF32(n, 1), randF32(n, 3)
				y, dx := make([]float32, n), make([]float32, n)
				sc, bi := randF32(l.C, 4), randF32(l.C, 5)
				rm, rv := make([]float32, l.C), make([]float32, l.C)
				sm, si, ds, db := make([]float32, l.C), make([]float32, l.C), make([]float32, l.C), make([]float32, l.C)
				a := BNAttrs{Epsilon: 1e-5, Momentum: 0.9}
				act := Act{Kind: ActClip, Lo: 0, Hi: 6}
				b.ResetTimer()
				for b.Loop() {
					BatchNormTrainAct(s, a, act, x, sc, bi, rm, rv, y, sm, si)
					BatchNormTrainActBackward(s, act, x, y, sc, bi, sm, si, dy, dx, ds, db)
				}
				b.SetBytes(int64(4 * n))
			case "add":
				shape := []int{l.N, l.C, l.H, l.W}
				n := prod(shape...)
				a, c, dy := randF32(n, 1), randF32(n, 2), randF32(n, 3)
				y, da, dc := make([]float32, n), make([]float32, n), make([]float32, n)
				b.ResetTimer()
				for b.Loop() {
					Add(a, shape, c, shape, y)
					AddBackward(shape, shape, dy, da, dc, ws)
				}
				b.SetBytes(int64(4 * n))
			case "gap":
				nc, hw := l.N*l.C, l.H*l.W
				x, dy := randF32(nc*hw, 1), randF32(nc, 2)
				y, dx := make([]float32, nc), make([]float32, nc*hw)
				b.ResetTimer()
				for b.Loop() {
					GlobalAveragePool(nc, hw, x, y)
					GlobalAveragePoolBackward(nc, hw, dy, dx)
				}
				b.SetBytes(int64(4 * nc * hw))
			case "gemm":
				s := GemmShape{M: l.N, K: l.C, N: l.M, TransB: true, Alpha: 1, Beta: 1, CShape: []int{l.M}}
				a, w, c := randF32(s.M*s.K, 1), randF32(s.N*s.K, 2), randF32(s.N, 3)
				y, dy := make([]float32, s.M*s.N), randF32(s.M*s.N, 4)
				da, dw, dc := make([]float32, len(a)), make([]float32, len(w)), make([]float32, s.N)
				b.ResetTimer()
				for b.Loop() {
					Gemm(s, a, w, c, y)
					GemmBackward(s, a, w, dy, da, dw, dc, ws)
				}
				b.ReportMetric(6*float64(s.M*s.N*s.K)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			}
		})
	}
}

// BenchmarkSgemm measures the float32 GEMM alone, at each assembly level
// this CPU runs (isa=go is gonum's Sgemm), on a square shape and on GEMMs
// of a MobileNetV2 training step at 32×32, batch 64 (the quickstart's):
// the batched pointwise convolutions of the 2×2 and 1×1 planes (n = N·H·W
// = 256, 64) forward (NN), weight gradient (NT) and input gradient (TN),
// and a per-image pointwise convolution of an 8×8 plane. GFLOP/cpu-s
// divides by the process's CPU time instead of the elapsed time: on a
// shared machine, the speed while running (run it with -cpu 1).
func BenchmarkSgemm(b *testing.B) {
	shapes := []struct {
		name    string
		tA, tB  bool
		m, n, k int
	}{
		{"512x512x512", false, false, 512, 512, 512},
		{"NN576x256x96", false, false, 576, 256, 96},
		{"NT96x576x256", false, true, 96, 576, 256},
		{"TN96x256x576", true, false, 96, 256, 576},
		{"NN960x64x160", false, false, 960, 64, 160},
		{"NT160x960x64", false, true, 160, 960, 64},
		{"TN160x64x960", true, false, 160, 64, 960},
		{"NN144x64x24", false, false, 144, 64, 24},
		{"NN96x12544x16", false, false, 96, 12544, 16},
	}
	for _, l := range isaLevels() {
		for _, sh := range shapes {
			b.Run(fmt.Sprintf("isa=%v/shape=%s", l, sh.name), func(b *testing.B) {
				old := asmISA
				asmISA = l
				defer func() { asmISA = old }()
				a, bb, c := randF32(sh.m*sh.k, 1), randF32(sh.k*sh.n, 2), make([]float32, sh.m*sh.n)
				lda, ldb := sh.k, sh.n
				if sh.tA {
					lda = sh.m
				}
				if sh.tB {
					ldb = sh.k
				}
				cpu0 := processCPU()
				for b.Loop() {
					gemm(sh.tA, sh.tB, sh.m, sh.n, sh.k, 1, a, lda, bb, ldb, 0, c, sh.n)
				}
				flops := 2 * float64(sh.m*sh.n*sh.k) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				if cpu := (processCPU() - cpu0).Seconds(); cpu > 0 {
					b.ReportMetric(flops/cpu/1e9, "GFLOP/cpu-s")
				}
			})
		}
	}
}

// BenchmarkBNReLU6 compares fused BatchNormTrainAct(+Backward) with the
// unfused BatchNormTrain → Clip → ClipBackward → BatchNormTrainBackward.
func BenchmarkBNReLU6(b *testing.B) {
	for _, sh := range []BNShape{{N: 128, C: 96, HW: 32 * 32}, {N: 16, C: 144, HW: 56 * 56}} {
		for _, fused := range []bool{true, false} {
			b.Run(fmt.Sprintf("%dx%dx%d/fused=%v", sh.N, sh.C, sh.HW, fused), func(b *testing.B) {
				n := sh.len()
				x, dy := randF32(n, 1), randF32(n, 3)
				y, z, dz, dx := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
				sc, bi := randF32(sh.C, 4), randF32(sh.C, 5)
				sm, si, ds, db := make([]float32, sh.C), make([]float32, sh.C), make([]float32, sh.C), make([]float32, sh.C)
				a := BNAttrs{Epsilon: 1e-5, Momentum: 0.9}
				act := Act{Kind: ActClip, Lo: 0, Hi: 6}
				b.SetBytes(int64(4 * n))
				for b.Loop() {
					if fused {
						BatchNormTrainAct(sh, a, act, x, sc, bi, nil, nil, y, sm, si)
						BatchNormTrainActBackward(sh, act, x, y, sc, bi, sm, si, dy, dx, ds, db)
					} else {
						BatchNormTrain(sh, a, x, sc, bi, nil, nil, y, sm, si)
						Clip(y, z, 0, 6)
						ClipBackward(z, dy, dz, 0, 6)
						BatchNormTrainBackward(sh, x, sc, sm, si, dz, dx, ds, db)
					}
				}
			})
		}
	}
}
