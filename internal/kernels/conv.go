package kernels

import "fmt"

// ConvShape describes a 2-D convolution in NCHW layout, following ONNX Conv:
// input X is N×C×H×W, weight W is M×(C/Group)×KH×KW, optional bias B has M
// elements, output Y is N×M×OutH()×OutW(). Zero values of Group, strides and
// dilations mean 1. Pads are (top, left, bottom, right), i.e. ONNX's
// pads = [PadT, PadL, PadB, PadR].
type ConvShape struct {
	N, C, H, W             int
	M                      int
	KH, KW                 int
	Group                  int
	StrideH, StrideW       int
	PadT, PadL, PadB, PadR int
	DilH, DilW             int
}

func one(v int) int {
	if v == 0 {
		return 1
	}
	return v
}

func (s ConvShape) norm() ConvShape {
	s.Group, s.StrideH, s.StrideW, s.DilH, s.DilW = one(s.Group), one(s.StrideH), one(s.StrideW), one(s.DilH), one(s.DilW)
	return s
}

// OutH is the output height.
func (s ConvShape) OutH() int {
	s = s.norm()
	return (s.H+s.PadT+s.PadB-s.DilH*(s.KH-1)-1)/s.StrideH + 1
}

// OutW is the output width.
func (s ConvShape) OutW() int {
	s = s.norm()
	return (s.W+s.PadL+s.PadR-s.DilW*(s.KW-1)-1)/s.StrideW + 1
}

// XLen, WLen and YLen are the element counts of input, weight and output.
func (s ConvShape) XLen() int { return s.N * s.C * s.H * s.W }
func (s ConvShape) WLen() int { return s.M * (s.C / one(s.Group)) * s.KH * s.KW }
func (s ConvShape) YLen() int { return s.N * s.M * s.OutH() * s.OutW() }

// FLOPs is the multiply-add count ×2 of the forward pass.
func (s ConvShape) FLOPs() float64 {
	return 2 * float64(s.N) * float64(s.M) * float64(s.OutH()*s.OutW()) * float64(s.C/one(s.Group)*s.KH*s.KW)
}

// IsDepthwise reports whether every group has one input channel (the
// MobileNet depthwise case, with any channel multiplier M/C).
func (s ConvShape) IsDepthwise() bool {
	s = s.norm()
	return s.Group == s.C && s.C > 0 && s.M%s.C == 0
}

// IsPointwise reports whether the convolution is 1×1, stride 1, unpadded:
// a plain GEMM per image with no im2col.
func (s ConvShape) IsPointwise() bool {
	s = s.norm()
	return s.KH == 1 && s.KW == 1 && s.StrideH == 1 && s.StrideW == 1 &&
		s.PadT == 0 && s.PadL == 0 && s.PadB == 0 && s.PadR == 0
}

// Validate reports whether the shape is consistent.
func (s ConvShape) Validate() error {
	n := s.norm()
	switch {
	case s.N < 0 || s.C <= 0 || s.H <= 0 || s.W <= 0 || s.M <= 0 || s.KH <= 0 || s.KW <= 0:
		return fmt.Errorf("kernels: conv: non-positive dimension in %+v", s)
	case n.Group < 1 || s.C%n.Group != 0 || s.M%n.Group != 0:
		return fmt.Errorf("kernels: conv: group %d does not divide C=%d and M=%d", n.Group, s.C, s.M)
	case n.StrideH < 1 || n.StrideW < 1 || n.DilH < 1 || n.DilW < 1:
		return fmt.Errorf("kernels: conv: strides and dilations must be positive")
	case s.PadT < 0 || s.PadL < 0 || s.PadB < 0 || s.PadR < 0:
		return fmt.Errorf("kernels: conv: negative pad")
	case s.OutH() < 1 || s.OutW() < 1:
		return fmt.Errorf("kernels: conv: empty output %dx%d", s.OutH(), s.OutW())
	}
	return nil
}

func mustValid(s ConvShape) ConvShape {
	if err := s.Validate(); err != nil {
		panic(err.Error())
	}
	return s.norm()
}

// Conv2D computes y = conv(x, w) + b. b may be nil. y must not alias x.
// ws may be nil.
func Conv2D[T Float](s ConvShape, x, w, b, y []T, ws *Workspace[T]) {
	s = mustValid(s)
	checkLen("conv x", x, s.XLen())
	checkLen("conv w", w, s.WLen())
	checkLen("conv y", y, s.YLen())
	if b != nil {
		checkLen("conv b", b, s.M)
	}
	switch {
	case s.IsDepthwise():
		dwForward(s, x, w, b, y, ws)
	case useBatchedPointwise(s) && !generalPaths:
		batchedPointwiseForward(s, x, w, b, y, ws)
	default:
		gemmConvForward(s, x, w, b, y, ws)
	}
}

// Conv2DBackward computes the gradients of a convolution given dy (the
// gradient of the loss w.r.t. y). Any of dx, dw, db may be nil to skip it;
// the others are overwritten. x is needed for dw, w for dx.
func Conv2DBackward[T Float](s ConvShape, x, w, dy, dx, dw, db []T, ws *Workspace[T]) {
	s = mustValid(s)
	checkLen("conv dy", dy, s.YLen())
	if dx != nil {
		checkLen("conv dx", dx, s.XLen())
		checkLen("conv w", w, s.WLen())
	}
	if dw != nil {
		checkLen("conv dw", dw, s.WLen())
		checkLen("conv x", x, s.XLen())
	}
	if db != nil {
		checkLen("conv db", db, s.M)
		biasGrad(s.N, s.M, s.OutH()*s.OutW(), dy, db)
	}
	if dx == nil && dw == nil {
		return
	}
	switch {
	case s.IsDepthwise():
		dwBackward(s, x, w, dy, dx, dw, ws)
	case useBatchedPointwise(s) && !generalPaths:
		batchedPointwiseBackward(s, x, w, dy, dx, dw, ws)
	default:
		gemmConvBackward(s, x, w, dy, dx, dw, ws)
	}
}

// biasGrad sets db[m] = Σ_{n,p} dy[n,m,p].
func biasGrad[T Float](N, M, P int, dy, db []T) {
	parallelFor(M, parts(M, N*P), func(_, lo, hi int) {
		for m := lo; m < hi; m++ {
			var acc T
			for n := 0; n < N; n++ {
				acc += sum(dy[(n*M+m)*P : (n*M+m+1)*P])
			}
			db[m] = acc
		}
	})
}

func sum[T Float](v []T) T {
	var s0, s1, s2, s3 T
	i := 0
	for ; i+4 <= len(v); i += 4 {
		s0 += v[i]
		s1 += v[i+1]
		s2 += v[i+2]
		s3 += v[i+3]
	}
	for ; i < len(v); i++ {
		s0 += v[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// validRange returns the output indices [lo,hi) within [0,out) for which
// o*stride+off lies in [0,in).
func validRange(out, stride, off, in int) (lo, hi int) {
	if off < 0 {
		lo = (-off + stride - 1) / stride
	}
	if in-off <= 0 {
		return 0, 0
	}
	hi = (in - off + stride - 1) / stride
	if hi > out {
		hi = out
	}
	if lo > hi {
		lo = hi
	}
	return lo, hi
}

// im2col writes the patches of one image's channels [0,C) (x holds C×H×W)
// into col, (C·KH·KW) × (OH·OW).
func im2col[T Float](s ConvShape, C int, x, col []T) {
	OH, OW := s.OutH(), s.OutW()
	P := OH * OW
	for c := 0; c < C; c++ {
		xc := x[c*s.H*s.W : (c+1)*s.H*s.W]
		for kh := 0; kh < s.KH; kh++ {
			for kw := 0; kw < s.KW; kw++ {
				row := col[((c*s.KH+kh)*s.KW+kw)*P:][:P]
				offW := kw*s.DilW - s.PadL
				lo, hi := validRange(OW, s.StrideW, offW, s.W)
				for oh := 0; oh < OH; oh++ {
					ih := oh*s.StrideH - s.PadT + kh*s.DilH
					r := row[oh*OW : (oh+1)*OW]
					if ih < 0 || ih >= s.H {
						clear(r)
						continue
					}
					xr := xc[ih*s.W : (ih+1)*s.W]
					clear(r[:lo])
					clear(r[hi:])
					if s.StrideW == 1 {
						copy(r[lo:hi], xr[lo+offW:hi+offW])
					} else {
						for ow := lo; ow < hi; ow++ {
							r[ow] = xr[ow*s.StrideW+offW]
						}
					}
				}
			}
		}
	}
}

// col2im accumulates col (C·KH·KW × OH·OW) into x (C×H×W), which the caller
// zeroes first.
func col2im[T Float](s ConvShape, C int, col, x []T) {
	OH, OW := s.OutH(), s.OutW()
	P := OH * OW
	for c := 0; c < C; c++ {
		xc := x[c*s.H*s.W : (c+1)*s.H*s.W]
		for kh := 0; kh < s.KH; kh++ {
			for kw := 0; kw < s.KW; kw++ {
				row := col[((c*s.KH+kh)*s.KW+kw)*P:][:P]
				offW := kw*s.DilW - s.PadL
				lo, hi := validRange(OW, s.StrideW, offW, s.W)
				for oh := 0; oh < OH; oh++ {
					ih := oh*s.StrideH - s.PadT + kh*s.DilH
					if ih < 0 || ih >= s.H {
						continue
					}
					r := row[oh*OW : (oh+1)*OW]
					xr := xc[ih*s.W : (ih+1)*s.W]
					if s.StrideW == 1 {
						axpyUnit(1, r[lo:hi], xr[lo+offW:hi+offW])
					} else {
						for ow := lo; ow < hi; ow++ {
							xr[ow*s.StrideW+offW] += r[ow]
						}
					}
				}
			}
		}
	}
}

// axpyUnit sets y += a·x.
func axpyUnit[T Float](a T, x, y []T) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}

func gemmConvForward[T Float](s ConvShape, x, w, b, y []T, ws *Workspace[T]) {
	G := s.Group
	Cg, Mg := s.C/G, s.M/G
	K := Cg * s.KH * s.KW
	HW := s.H * s.W
	P := s.OutH() * s.OutW()
	pw := s.IsPointwise()
	nw := parts(s.N, int(s.FLOPs())/max(s.N, 1))
	m := ws.mark()
	defer ws.release(m)
	var cols [][]T
	if !pw {
		cols = make([][]T, nw)
		for i := range cols {
			cols[i] = ws.get(K*P, false)
		}
	}
	parallelFor(s.N, nw, func(wk, lo, hi int) {
		for n := lo; n < hi; n++ {
			yn := y[n*s.M*P : (n+1)*s.M*P]
			beta := T(0)
			if b != nil {
				for mm := 0; mm < s.M; mm++ {
					fill(yn[mm*P:(mm+1)*P], b[mm])
				}
				beta = 1
			}
			for g := 0; g < G; g++ {
				xg := x[(n*s.C+g*Cg)*HW : (n*s.C+(g+1)*Cg)*HW]
				var col []T
				if pw {
					col = xg
				} else {
					col = cols[wk]
					im2col(s, Cg, xg, col)
				}
				gemm(false, false, Mg, P, K, 1, w[g*Mg*K:], K, col, P, beta, yn[g*Mg*P:], P)
			}
		}
	})
}

func fill[T Float](v []T, a T) {
	for i := range v {
		v[i] = a
	}
}

func gemmConvBackward[T Float](s ConvShape, x, w, dy, dx, dw []T, ws *Workspace[T]) {
	G := s.Group
	Cg, Mg := s.C/G, s.M/G
	K := Cg * s.KH * s.KW
	HW := s.H * s.W
	P := s.OutH() * s.OutW()
	pw := s.IsPointwise()
	// The weight gradient is a sum over the batch: fixed slots of samples
	// each sum into their own partial, added in slot order (slotFor).
	ns := slots(s.N, 2*int(s.FLOPs())/max(s.N, 1))
	nw := slotWorkers(ns)
	mk := ws.mark()
	defer ws.release(mk)
	cols := make([][]T, nw)
	dcols := make([][]T, nw)
	dws := make([][]T, ns)
	for i := 0; i < nw; i++ {
		if !pw {
			if dw != nil {
				cols[i] = ws.get(K*P, false)
			}
			if dx != nil {
				dcols[i] = ws.get(K*P, false)
			}
		}
	}
	if dw != nil {
		dws[0] = dw[:s.WLen()]
		clear(dws[0])
		for i := 1; i < ns; i++ {
			dws[i] = ws.get(s.WLen(), true)
		}
	}
	slotFor(s.N, ns, func(wk, slot, lo, hi int) {
		for n := lo; n < hi; n++ {
			for g := 0; g < G; g++ {
				xo := (n*s.C + g*Cg) * HW
				dyg := dy[(n*s.M+g*Mg)*P:]
				if dw != nil {
					var col []T
					if pw {
						col = x[xo : xo+Cg*HW]
					} else {
						col = cols[wk]
						im2col(s, Cg, x[xo:xo+Cg*HW], col)
					}
					gemm(false, true, Mg, K, P, 1, dyg, P, col, P, 1, dws[slot][g*Mg*K:], K)
				}
				if dx != nil {
					dxg := dx[xo : xo+Cg*HW]
					wg := w[g*Mg*K:]
					if pw {
						gemm(true, false, K, P, Mg, 1, wg, K, dyg, P, 0, dxg, P)
					} else {
						gemm(true, false, K, P, Mg, 1, wg, K, dyg, P, 0, dcols[wk], P)
						clear(dxg)
						col2im(s, Cg, dcols[wk], dxg)
					}
				}
			}
		}
	})
	if dw != nil && ns > 1 {
		reducePartials(dw[:s.WLen()], dws[1:])
	}
}

// reducePartials adds each of parts into dst, in order (each element of
// dst is summed by one goroutine, so the result does not depend on the
// worker count).
func reducePartials[T Float](dst []T, parts_ [][]T) {
	n := len(dst)
	parallelFor(n, parts(n, len(parts_)), func(_, lo, hi int) {
		for _, p := range parts_ {
			axpyUnit(1, p[lo:hi], dst[lo:hi])
		}
	})
}
