package kernels

import "unsafe"

// Depthwise convolution (Group == C, channel multiplier M/C) computed
// directly, plane by plane. Each output row is accumulated from the input
// rows it touches; 3×3 undilated kernels at stride 1 or 2 get a fused 9-tap
// loop over the interior columns of interior rows (the MobileNet case), and
// everything else — borders, other kernel sizes, dilations — takes the
// general per-tap path.

// dwGeom is the geometry of one depthwise plane correlation.
type dwGeom struct {
	H, W, OH, OW, KH, KW, sh, sw, pt, pl, dh, dw int
}

func (g dwGeom) fused3x3() bool {
	return g.KH == 3 && g.KW == 3 && g.dh == 1 && g.dw == 1 && (g.sw == 1 || g.sw == 2)
}

// interiorCols is the column range where all three taps of a fused 3×3 row
// are in bounds.
func (g dwGeom) interiorCols() (lo, hi int) {
	lo0, hi0 := validRange(g.OW, g.sw, -g.pl, g.W)
	lo2, hi2 := validRange(g.OW, g.sw, 2-g.pl, g.W)
	lo, hi = max(lo0, lo2), min(hi0, hi2)
	if lo > hi {
		lo = hi
	}
	return lo, hi
}

// dwRowGeneral accumulates into yrow, over output columns [c0,c1), the taps
// of input row xrow with kernel row k (KW taps).
func dwRowGeneral[T Float](g dwGeom, yrow, xrow, k []T, c0, c1 int) {
	for kw := 0; kw < g.KW; kw++ {
		off := kw*g.dw - g.pl
		l, h := validRange(g.OW, g.sw, off, g.W)
		l, h = max(l, c0), min(h, c1)
		if l >= h {
			continue
		}
		wv := k[kw]
		if g.sw == 1 {
			axpyUnit(wv, xrow[l+off:h+off], yrow[l:h])
		} else {
			for ow := l; ow < h; ow++ {
				yrow[ow] += wv * xrow[ow*g.sw+off]
			}
		}
	}
}

// dwPlane sets dst (OH×OW) to init (unless acc) and adds the correlation of
// src (H×W) with kernel k (KH×KW).
func dwPlane[T Float](g dwGeom, dst, src, k []T, init T, acc bool) {
	if !acc {
		fill(dst[:g.OH*g.OW], init)
	}
	fused := g.fused3x3()
	var lo, hi int
	if fused {
		lo, hi = g.interiorCols()
	}
	for oh := 0; oh < g.OH; oh++ {
		yrow := dst[oh*g.OW : (oh+1)*g.OW]
		ih0 := oh*g.sh - g.pt
		if fused && ih0 >= 0 && ih0+2 < g.H && lo < hi {
			r0 := src[ih0*g.W : (ih0+1)*g.W]
			r1 := src[(ih0+1)*g.W : (ih0+2)*g.W]
			r2 := src[(ih0+2)*g.W : (ih0+3)*g.W]
			off := -g.pl
			k0, k1, k2, k3, k4, k5, k6, k7, k8 := k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8]
			if g.sw == 1 {
				y := yrow[lo:hi]
				n := len(y)
				x0 := r0[lo+off:][: n+2 : n+2]
				x1 := r1[lo+off:][: n+2 : n+2]
				x2 := r2[lo+off:][: n+2 : n+2]
				for i := range y {
					y[i] += k0*x0[i] + k1*x0[i+1] + k2*x0[i+2] +
						k3*x1[i] + k4*x1[i+1] + k5*x1[i+2] +
						k6*x2[i] + k7*x2[i+1] + k8*x2[i+2]
				}
			} else {
				y := yrow[lo:hi]
				n := len(y)
				b := 2*lo + off
				x0 := r0[b:][: 2*n+1 : 2*n+1]
				x1 := r1[b:][: 2*n+1 : 2*n+1]
				x2 := r2[b:][: 2*n+1 : 2*n+1]
				for i := range y {
					j := 2 * i
					y[i] += k0*x0[j] + k1*x0[j+1] + k2*x0[j+2] +
						k3*x1[j] + k4*x1[j+1] + k5*x1[j+2] +
						k6*x2[j] + k7*x2[j+1] + k8*x2[j+2]
				}
			}
			for kh := 0; kh < 3; kh++ {
				xr := src[(ih0+kh)*g.W : (ih0+kh+1)*g.W]
				dwRowGeneral(g, yrow, xr, k[kh*3:kh*3+3], 0, lo)
				dwRowGeneral(g, yrow, xr, k[kh*3:kh*3+3], hi, g.OW)
			}
			continue
		}
		for kh := 0; kh < g.KH; kh++ {
			ih := ih0 + kh*g.dh
			if ih < 0 || ih >= g.H {
				continue
			}
			dwRowGeneral(g, yrow, src[ih*g.W:(ih+1)*g.W], k[kh*g.KW:(kh+1)*g.KW], 0, g.OW)
		}
	}
}

// dwGradRowGeneral adds to acc (KW taps of one kernel row) the products of
// dyrow with input row xrow over output columns [c0,c1).
func dwGradRowGeneral[T Float](g dwGeom, acc, dyrow, xrow []T, c0, c1 int) {
	for kw := 0; kw < g.KW; kw++ {
		off := kw*g.dw - g.pl
		l, h := validRange(g.OW, g.sw, off, g.W)
		l, h = max(l, c0), min(h, c1)
		if l >= h {
			continue
		}
		var s T
		if g.sw == 1 {
			s = dot(dyrow[l:h], xrow[l+off:h+off])
		} else {
			for ow := l; ow < h; ow++ {
				s += dyrow[ow] * xrow[ow*g.sw+off]
			}
		}
		acc[kw] += s
	}
}

func dot[T Float](a, b []T) T {
	b = b[:len(a)]
	var s0, s1 T
	i := 0
	for ; i+2 <= len(a); i += 2 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
	}
	if i < len(a) {
		s0 += a[i] * b[i]
	}
	return s0 + s1
}

// dwGradPlane adds to acc (KH×KW) the weight gradient contributed by one
// plane pair: dy (OH×OW) and x (H×W).
func dwGradPlane[T Float](g dwGeom, acc, dy, x []T) {
	fused := g.fused3x3()
	var lo, hi int
	if fused {
		lo, hi = g.interiorCols()
	}
	for oh := 0; oh < g.OH; oh++ {
		dyrow := dy[oh*g.OW : (oh+1)*g.OW]
		ih0 := oh*g.sh - g.pt
		if fused && ih0 >= 0 && ih0+2 < g.H && lo < hi {
			r0 := x[ih0*g.W : (ih0+1)*g.W]
			r1 := x[(ih0+1)*g.W : (ih0+2)*g.W]
			r2 := x[(ih0+2)*g.W : (ih0+3)*g.W]
			off := -g.pl
			var a0, a1, a2, a3, a4, a5, a6, a7, a8 T
			d := dyrow[lo:hi]
			n := len(d)
			if g.sw == 1 {
				x0 := r0[lo+off:][: n+2 : n+2]
				x1 := r1[lo+off:][: n+2 : n+2]
				x2 := r2[lo+off:][: n+2 : n+2]
				for i, v := range d {
					a0 += v * x0[i]
					a1 += v * x0[i+1]
					a2 += v * x0[i+2]
					a3 += v * x1[i]
					a4 += v * x1[i+1]
					a5 += v * x1[i+2]
					a6 += v * x2[i]
					a7 += v * x2[i+1]
					a8 += v * x2[i+2]
				}
			} else {
				b := 2*lo + off
				x0 := r0[b:][: 2*n+1 : 2*n+1]
				x1 := r1[b:][: 2*n+1 : 2*n+1]
				x2 := r2[b:][: 2*n+1 : 2*n+1]
				for i, v := range d {
					j := 2 * i
					a0 += v * x0[j]
					a1 += v * x0[j+1]
					a2 += v * x0[j+2]
					a3 += v * x1[j]
					a4 += v * x1[j+1]
					a5 += v * x1[j+2]
					a6 += v * x2[j]
					a7 += v * x2[j+1]
					a8 += v * x2[j+2]
				}
			}
			acc[0] += a0
			acc[1] += a1
			acc[2] += a2
			acc[3] += a3
			acc[4] += a4
			acc[5] += a5
			acc[6] += a6
			acc[7] += a7
			acc[8] += a8
			for kh := 0; kh < 3; kh++ {
				xr := x[(ih0+kh)*g.W : (ih0+kh+1)*g.W]
				dwGradRowGeneral(g, acc[kh*3:kh*3+3], dyrow, xr, 0, lo)
				dwGradRowGeneral(g, acc[kh*3:kh*3+3], dyrow, xr, hi, g.OW)
			}
			continue
		}
		for kh := 0; kh < g.KH; kh++ {
			ih := ih0 + kh*g.dh
			if ih < 0 || ih >= g.H {
				continue
			}
			dwGradRowGeneral(g, acc[kh*g.KW:(kh+1)*g.KW], dyrow, x[ih*g.W:(ih+1)*g.W], 0, g.OW)
		}
	}
}

// dwScatterPlane adds to dx (H×W) the input gradient of one plane for
// strided convolutions: dx[oh*s+kh*d-p, ...] += k·dy[oh, ...].
func dwScatterPlane[T Float](g dwGeom, dx, dy, k []T) {
	for oh := 0; oh < g.OH; oh++ {
		dyrow := dy[oh*g.OW : (oh+1)*g.OW]
		ih0 := oh*g.sh - g.pt
		for kh := 0; kh < g.KH; kh++ {
			ih := ih0 + kh*g.dh
			if ih < 0 || ih >= g.H {
				continue
			}
			xr := dx[ih*g.W : (ih+1)*g.W]
			for kw := 0; kw < g.KW; kw++ {
				off := kw*g.dw - g.pl
				l, h := validRange(g.OW, g.sw, off, g.W)
				wv := k[kh*g.KW+kw]
				if g.sw == 1 {
					axpyUnit(wv, dyrow[l:h], xr[l+off:h+off])
					continue
				}
				for ow := l; ow < h; ow++ {
					xr[ow*g.sw+off] += wv * dyrow[ow]
				}
			}
		}
	}
}

// generalPaths disables the 3×3 depthwise fast path and the batched
// pointwise path, so that tests cover the general paths too.
var generalPaths = false

func (s ConvShape) dwGeom() dwGeom {
	return dwGeom{H: s.H, W: s.W, OH: s.OutH(), OW: s.OutW(), KH: s.KH, KW: s.KW,
		sh: s.StrideH, sw: s.StrideW, pt: s.PadT, pl: s.PadL, dh: s.DilH, dw: s.DilW}
}

func dwForward[T Float](s ConvShape, x, w, b, y []T, ws *Workspace[T]) {
	g := s.dwGeom()
	if useDWTiny[T](s, g) {
		dwTinyForward(s, g, x, w, b, y, ws)
		return
	}
	if useDWBlocked[T](s, g) {
		dwBlockedForward(s, g, as32(x), as32(w), as32(b), as32(y), (*Workspace[float32])(unsafe.Pointer(ws)))
		return
	}
	if g.fast3x3() && !generalPaths {
		dw3x3Forward(s, g, x, w, b, y, ws)
		return
	}
	mult := s.M / s.C
	HW, P, KK := s.H*s.W, g.OH*g.OW, s.KH*s.KW
	nm := s.N * s.M
	parallelFor(nm, parts(nm, 2*P*KK), func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			n, m := i/s.M, i%s.M
			c := m / mult
			var init T
			if b != nil {
				init = b[m]
			}
			dwPlane(g, y[i*P:(i+1)*P], x[(n*s.C+c)*HW:(n*s.C+c+1)*HW], w[m*KK:(m+1)*KK], init, false)
		}
	})
}

func dwBackward[T Float](s ConvShape, x, w, dy, dx, dw []T, ws *Workspace[T]) {
	g := s.dwGeom()
	if useDWTiny[T](s, g) {
		dwTinyBackward(s, g, x, w, dy, dx, dw, ws)
		return
	}
	if useDWBlocked[T](s, g) {
		dwBlockedBackward(s, g, as32(x), as32(w), as32(dy), as32(dx), as32(dw), (*Workspace[float32])(unsafe.Pointer(ws)))
		return
	}
	if g.fast3x3() && !generalPaths {
		dw3x3Backward(s, g, x, w, dy, dx, dw, ws)
		return
	}
	mult := s.M / s.C
	HW, P, KK := s.H*s.W, g.OH*g.OW, s.KH*s.KW
	nc := s.N * s.C
	ns := slots(nc, 4*P*KK*mult) // dw: fixed partial sums (slotFor)
	nw := slotWorkers(ns)
	mk := ws.mark()
	defer ws.release(mk)
	var parts_ [][]T
	if dw != nil {
		parts_ = make([][]T, ns)
		for i := range parts_ {
			parts_[i] = ws.get(s.M*KK, true)
		}
	}
	flips := make([][]T, nw)
	for i := range flips {
		flips[i] = ws.get(KK, false)
	}
	// For stride 1 the input gradient is a correlation of dy with the
	// flipped kernel and complementary pads.
	gT := dwGeom{H: g.OH, W: g.OW, OH: s.H, OW: s.W, KH: s.KH, KW: s.KW, sh: 1, sw: 1,
		pt: s.DilH*(s.KH-1) - s.PadT, pl: s.DilW*(s.KW-1) - s.PadL, dh: s.DilH, dw: s.DilW}
	stride1 := s.StrideH == 1 && s.StrideW == 1
	slotFor(nc, ns, func(wk, slot, lo, hi int) {
		for i := lo; i < hi; i++ {
			n, c := i/s.C, i%s.C
			var xp []T
			if dw != nil {
				xp = x[i*HW : (i+1)*HW]
			}
			if dx != nil {
				clear(dx[i*HW : (i+1)*HW])
			}
			for j := 0; j < mult; j++ {
				m := c*mult + j
				dyp := dy[(n*s.M+m)*P : (n*s.M+m+1)*P]
				if dw != nil {
					dwGradPlane(g, parts_[slot][m*KK:(m+1)*KK], dyp, xp)
				}
				if dx != nil {
					k := w[m*KK : (m+1)*KK]
					if stride1 {
						f := flips[wk]
						for t := range f {
							f[t] = k[KK-1-t]
						}
						dwPlane(gT, dx[i*HW:(i+1)*HW], dyp, f, 0, true)
					} else {
						dwScatterPlane(g, dx[i*HW:(i+1)*HW], dyp, k)
					}
				}
			}
		}
	})
	if dw != nil {
		copy(dw[:s.M*KK], parts_[0])
		if ns > 1 {
			reducePartials(dw[:s.M*KK], parts_[1:])
		}
	}
}
