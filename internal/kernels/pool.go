package kernels

import (
	"fmt"
	"math"
)

// PoolShape describes AveragePool or MaxPool over an N×C×H×W input, with
// ONNX attributes: kernel KH×KW, strides (0 means 1), pads (top, left,
// bottom, right), dilations (0 means 1; MaxPool only), ceil_mode and
// count_include_pad (AveragePool only).
//
// With CeilMode the output size is rounded up, and then reduced by one when
// the last window would start beyond the input plus its leading pad — the
// rule of PyTorch and of ONNX's reference implementation, so that every
// window overlaps the input. With CountIncludePad the divisor counts the
// padded cells inside the pads but not the cells of the ceil-mode overhang
// past the trailing pad (PyTorch's avg_pool2d).
type PoolShape struct {
	N, C, H, W             int
	KH, KW                 int
	StrideH, StrideW       int
	PadT, PadL, PadB, PadR int
	DilH, DilW             int
	CeilMode               bool
	CountIncludePad        bool
}

func (s PoolShape) norm() PoolShape {
	s.StrideH, s.StrideW, s.DilH, s.DilW = one(s.StrideH), one(s.StrideW), one(s.DilH), one(s.DilW)
	return s
}

func poolOut(in, k, s, d, p0, p1 int, ceil bool) int {
	eff := d*(k-1) + 1
	num := in + p0 + p1 - eff
	if num < 0 {
		return 0
	}
	if !ceil {
		return num/s + 1
	}
	o := (num+s-1)/s + 1
	if (o-1)*s >= in+p0 {
		o--
	}
	return o
}

// OutH and OutW are the output spatial size.
func (s PoolShape) OutH() int {
	s = s.norm()
	return poolOut(s.H, s.KH, s.StrideH, s.DilH, s.PadT, s.PadB, s.CeilMode)
}

func (s PoolShape) OutW() int {
	s = s.norm()
	return poolOut(s.W, s.KW, s.StrideW, s.DilW, s.PadL, s.PadR, s.CeilMode)
}

func (s PoolShape) XLen() int { return s.N * s.C * s.H * s.W }
func (s PoolShape) YLen() int { return s.N * s.C * s.OutH() * s.OutW() }

// Validate reports whether the shape is consistent.
func (s PoolShape) Validate() error {
	n := s.norm()
	switch {
	case s.N < 0 || s.C <= 0 || s.H <= 0 || s.W <= 0 || s.KH <= 0 || s.KW <= 0:
		return fmt.Errorf("kernels: pool: non-positive dimension in %+v", s)
	case n.StrideH < 1 || n.StrideW < 1 || n.DilH < 1 || n.DilW < 1:
		return fmt.Errorf("kernels: pool: strides and dilations must be positive")
	case s.PadT < 0 || s.PadL < 0 || s.PadB < 0 || s.PadR < 0:
		return fmt.Errorf("kernels: pool: negative pad")
	case s.PadT >= n.DilH*(s.KH-1)+1 || s.PadB >= n.DilH*(s.KH-1)+1 ||
		s.PadL >= n.DilW*(s.KW-1)+1 || s.PadR >= n.DilW*(s.KW-1)+1:
		return fmt.Errorf("kernels: pool: pad must be smaller than the kernel")
	case s.OutH() < 1 || s.OutW() < 1:
		return fmt.Errorf("kernels: pool: empty output")
	}
	return nil
}

func mustPool(s PoolShape) PoolShape {
	if err := s.Validate(); err != nil {
		panic(err.Error())
	}
	return s.norm()
}

func planes(nc, cost int, fn func(p int)) {
	parallelFor(nc, parts(nc, cost), func(_, lo, hi int) {
		for p := lo; p < hi; p++ {
			fn(p)
		}
	})
}

// avgWindow returns the clipped window [h0,h1)×[w0,w1) and its divisor.
func (s PoolShape) avgWindow(oh, ow int) (h0, h1, w0, w1 int, div float64) {
	hs, ws := oh*s.StrideH-s.PadT, ow*s.StrideW-s.PadL
	he, we := min(hs+s.KH, s.H+s.PadB), min(ws+s.KW, s.W+s.PadR)
	padded := (he - hs) * (we - ws)
	h0, w0, h1, w1 = max(hs, 0), max(ws, 0), min(he, s.H), min(we, s.W)
	if s.CountIncludePad {
		return h0, h1, w0, w1, float64(padded)
	}
	return h0, h1, w0, w1, float64((h1 - h0) * (w1 - w0))
}

// AveragePool computes ONNX AveragePool (dilations must be 1).
func AveragePool[T Float](s PoolShape, x, y []T) {
	s = mustPool(s)
	if s.DilH != 1 || s.DilW != 1 {
		panic("kernels: AveragePool: dilations are not supported")
	}
	checkLen("avgpool x", x, s.XLen())
	checkLen("avgpool y", y, s.YLen())
	OH, OW, HW := s.OutH(), s.OutW(), s.H*s.W
	planes(s.N*s.C, OH*OW*s.KH*s.KW, func(p int) {
		xp, yp := x[p*HW:(p+1)*HW], y[p*OH*OW:(p+1)*OH*OW]
		for oh := 0; oh < OH; oh++ {
			for ow := 0; ow < OW; ow++ {
				h0, h1, w0, w1, div := s.avgWindow(oh, ow)
				var acc T
				for h := h0; h < h1; h++ {
					acc += sum(xp[h*s.W+w0 : h*s.W+w1])
				}
				yp[oh*OW+ow] = acc / T(div)
			}
		}
	})
}

// AveragePoolBackward sets dx from dy.
func AveragePoolBackward[T Float](s PoolShape, dy, dx []T) {
	s = mustPool(s)
	checkLen("avgpool dy", dy, s.YLen())
	checkLen("avgpool dx", dx, s.XLen())
	OH, OW, HW := s.OutH(), s.OutW(), s.H*s.W
	planes(s.N*s.C, OH*OW*s.KH*s.KW, func(p int) {
		dxp, dyp := dx[p*HW:(p+1)*HW], dy[p*OH*OW:(p+1)*OH*OW]
		clear(dxp)
		for oh := 0; oh < OH; oh++ {
			for ow := 0; ow < OW; ow++ {
				h0, h1, w0, w1, div := s.avgWindow(oh, ow)
				g := dyp[oh*OW+ow] / T(div)
				for h := h0; h < h1; h++ {
					r := dxp[h*s.W+w0 : h*s.W+w1]
					for i := range r {
						r[i] += g
					}
				}
			}
		}
	})
}

// MaxPool computes ONNX MaxPool and records in argmax, for each output,
// the index within its input plane (h·W + w) of the first maximum.
// Padding never wins. argmax may be nil when no backward will follow.
func MaxPool[T Float](s PoolShape, x, y []T, argmax []int32) {
	s = mustPool(s)
	checkLen("maxpool x", x, s.XLen())
	checkLen("maxpool y", y, s.YLen())
	if argmax != nil && len(argmax) < s.YLen() {
		panic("kernels: maxpool: argmax too short")
	}
	OH, OW, HW := s.OutH(), s.OutW(), s.H*s.W
	planes(s.N*s.C, OH*OW*s.KH*s.KW, func(p int) {
		xp, yp := x[p*HW:(p+1)*HW], y[p*OH*OW:(p+1)*OH*OW]
		for oh := 0; oh < OH; oh++ {
			hs := oh*s.StrideH - s.PadT
			for ow := 0; ow < OW; ow++ {
				ws := ow*s.StrideW - s.PadL
				best, arg := T(math.Inf(-1)), int32(-1)
				for kh := 0; kh < s.KH; kh++ {
					h := hs + kh*s.DilH
					if h < 0 || h >= s.H {
						continue
					}
					for kw := 0; kw < s.KW; kw++ {
						w := ws + kw*s.DilW
						if w < 0 || w >= s.W {
							continue
						}
						if v := xp[h*s.W+w]; v > best || arg < 0 {
							best, arg = v, int32(h*s.W+w)
						}
					}
				}
				yp[oh*OW+ow] = best
				if argmax != nil {
					argmax[p*OH*OW+oh*OW+ow] = arg
				}
			}
		}
	})
}

// MaxPoolBackward routes each dy to the argmax recorded by MaxPool.
func MaxPoolBackward[T Float](s PoolShape, argmax []int32, dy, dx []T) {
	s = mustPool(s)
	checkLen("maxpool dy", dy, s.YLen())
	checkLen("maxpool dx", dx, s.XLen())
	OH, OW, HW := s.OutH(), s.OutW(), s.H*s.W
	planes(s.N*s.C, OH*OW, func(p int) {
		dxp := dx[p*HW : (p+1)*HW]
		clear(dxp)
		am := argmax[p*OH*OW : (p+1)*OH*OW]
		for i, g := range dy[p*OH*OW : (p+1)*OH*OW] {
			if a := am[i]; a >= 0 {
				dxp[a] += g
			}
		}
	})
}

// GlobalAveragePool sets y[n,c] = mean of x[n,c,:] (x is N·C planes of hw).
func GlobalAveragePool[T Float](nc, hw int, x, y []T) {
	checkLen("globalavgpool x", x, nc*hw)
	checkLen("globalavgpool y", y, nc)
	inv := 1 / T(hw)
	planes(nc, hw, func(p int) { y[p] = sum(x[p*hw:(p+1)*hw]) * inv })
}

// GlobalAveragePoolBackward sets dx[n,c,:] = dy[n,c]/hw.
func GlobalAveragePoolBackward[T Float](nc, hw int, dy, dx []T) {
	checkLen("globalavgpool dy", dy, nc)
	checkLen("globalavgpool dx", dx, nc*hw)
	inv := 1 / T(hw)
	planes(nc, hw, func(p int) { fill(dx[p*hw:(p+1)*hw], dy[p]*inv) })
}
