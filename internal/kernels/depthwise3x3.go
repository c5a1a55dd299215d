package kernels

// The 3×3 (undilated, stride 1 or 2) depthwise fast path: each input plane
// is first copied into a zero-padded scratch plane, so the 9-tap loops run
// over every output without any border logic. This matters most for the
// small planes of the late MobileNet stages (14×14 down to 4×4), where the
// border cases of the row-based general path cost more than the arithmetic.

func (g dwGeom) fast3x3() bool {
	return g.KH == 3 && g.KW == 3 && g.dh == 1 && g.dw == 1 &&
		g.sh == g.sw && (g.sw == 1 || g.sw == 2) && g.pt >= 0 && g.pl >= 0
}

// paddedSize is the size of the padded plane the 3×3 loops read: exactly
// the rows and columns the outputs touch.
func (g dwGeom) paddedSize() (hp, wp int) {
	return (g.OH-1)*g.sh + 3, (g.OW-1)*g.sw + 3
}

// padPlane copies src (h×w) into dst (hp×wp) at offset (pt,pl), zeroing
// the rest; rows or columns that fall outside dst are dropped.
func padPlane[T Float](dst []T, hp, wp int, src []T, h, w, pt, pl int) {
	dst = dst[:hp*wp]
	clear(dst)
	cw := min(w, wp-pl)
	if cw <= 0 {
		return
	}
	for ih := 0; ih < h; ih++ {
		r := ih + pt
		if r >= hp {
			break
		}
		copy(dst[r*wp+pl:r*wp+pl+cw], src[ih*w:ih*w+cw])
	}
}

// dw3x3Valid sets dst (oh×ow) to init + the valid 3×3 correlation of the
// padded plane src (hp×wp) with k at stride s, or adds it when acc.
func dw3x3Valid[T Float](dst []T, oh, ow int, src []T, wp int, k []T, s int, init T, acc bool) {
	k0, k1, k2, k3, k4, k5, k6, k7, k8 := k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8]
	n := (ow-1)*s + 3
	for r := 0; r < oh; r++ {
		y := dst[r*ow : (r+1)*ow]
		b := r * s * wp
		x0 := src[b : b+n]
		x1 := src[b+wp : b+wp+n]
		x2 := src[b+2*wp : b+2*wp+n]
		if s == 1 {
			x0, x1, x2 = x0[:len(y)+2], x1[:len(y)+2], x2[:len(y)+2]
			if acc {
				for i := range y {
					y[i] += k0*x0[i] + k1*x0[i+1] + k2*x0[i+2] +
						k3*x1[i] + k4*x1[i+1] + k5*x1[i+2] +
						k6*x2[i] + k7*x2[i+1] + k8*x2[i+2]
				}
			} else {
				for i := range y {
					y[i] = init + k0*x0[i] + k1*x0[i+1] + k2*x0[i+2] +
						k3*x1[i] + k4*x1[i+1] + k5*x1[i+2] +
						k6*x2[i] + k7*x2[i+1] + k8*x2[i+2]
				}
			}
			continue
		}
		for i := range y {
			j := 2 * i
			v := k0*x0[j] + k1*x0[j+1] + k2*x0[j+2] +
				k3*x1[j] + k4*x1[j+1] + k5*x1[j+2] +
				k6*x2[j] + k7*x2[j+1] + k8*x2[j+2]
			if acc {
				y[i] += v
			} else {
				y[i] = init + v
			}
		}
	}
}

// dw3x3GradValid adds to acc (9) Σ dy[r,i]·src[r·s+kh, i·s+kw].
func dw3x3GradValid[T Float](acc []T, dy []T, oh, ow int, src []T, wp int, s int) {
	var a0, a1, a2, a3, a4, a5, a6, a7, a8 T
	n := (ow-1)*s + 3
	for r := 0; r < oh; r++ {
		d := dy[r*ow : (r+1)*ow]
		b := r * s * wp
		x0 := src[b : b+n]
		x1 := src[b+wp : b+wp+n]
		x2 := src[b+2*wp : b+2*wp+n]
		if s == 1 {
			x0, x1, x2 = x0[:len(d)+2], x1[:len(d)+2], x2[:len(d)+2]
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
			continue
		}
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
}

// dw3x3ScatterValid adds k·dy into the padded plane dst (hp×wp), the
// transpose of dw3x3Valid.
func dw3x3ScatterValid[T Float](dst []T, wp int, dy []T, oh, ow int, k []T, s int) {
	k0, k1, k2, k3, k4, k5, k6, k7, k8 := k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8]
	n := (ow-1)*s + 3
	for r := 0; r < oh; r++ {
		d := dy[r*ow : (r+1)*ow]
		b := r * s * wp
		x0 := dst[b : b+n]
		x1 := dst[b+wp : b+wp+n]
		x2 := dst[b+2*wp : b+2*wp+n]
		for i, v := range d {
			j := s * i
			x0[j] += k0 * v
			x0[j+1] += k1 * v
			x0[j+2] += k2 * v
			x1[j] += k3 * v
			x1[j+1] += k4 * v
			x1[j+2] += k5 * v
			x2[j] += k6 * v
			x2[j+1] += k7 * v
			x2[j+2] += k8 * v
		}
	}
}

// cropAdd adds the (h×w) window at (pt,pl) of src (hp×wp) into dst, or
// copies it when !acc. Cells of dst outside src are set to 0 (or left).
func cropAdd[T Float](dst []T, h, w int, src []T, hp, wp, pt, pl int, acc bool) {
	for ih := 0; ih < h; ih++ {
		d := dst[ih*w : (ih+1)*w]
		r := ih + pt
		cw := 0
		if r < hp {
			cw = max(0, min(w, wp-pl))
			s := src[r*wp+pl : r*wp+pl+cw]
			if acc {
				axpyUnit(1, s, d[:cw])
			} else {
				copy(d, s)
			}
		}
		if !acc {
			clear(d[cw:])
		}
	}
}

func dw3x3Forward[T Float](s ConvShape, g dwGeom, x, w, b, y []T, ws *Workspace[T]) {
	mult := s.M / s.C
	HW, P := s.H*s.W, g.OH*g.OW
	hp, wp := g.paddedSize()
	nc := s.N * s.C
	nw := parts(nc, 18*P*mult)
	mk := ws.mark()
	defer ws.release(mk)
	pads := make([][]T, nw)
	for i := range pads {
		pads[i] = ws.get(hp*wp, false)
	}
	parallelFor(nc, nw, func(wk, lo, hi int) {
		xp := pads[wk]
		for i := lo; i < hi; i++ {
			n, c := i/s.C, i%s.C
			padPlane(xp, hp, wp, x[i*HW:(i+1)*HW], s.H, s.W, g.pt, g.pl)
			for j := 0; j < mult; j++ {
				m := c*mult + j
				var init T
				if b != nil {
					init = b[m]
				}
				o := (n*s.M + m) * P
				dw3x3Valid(y[o:o+P], g.OH, g.OW, xp, wp, w[m*9:m*9+9], g.sw, init, false)
			}
		}
	})
}

func dw3x3Backward[T Float](s ConvShape, g dwGeom, x, w, dy, dx, dw []T, ws *Workspace[T]) {
	mult := s.M / s.C
	HW, P := s.H*s.W, g.OH*g.OW
	hp, wp := g.paddedSize()
	nc := s.N * s.C
	ns := slots(nc, 36*P*mult) // dw: fixed partial sums (slotFor)
	nw := slotWorkers(ns)
	mk := ws.mark()
	defer ws.release(mk)
	pads := make([][]T, nw)
	var partials [][]T
	for i := range pads {
		pads[i] = ws.get(hp*wp, false)
	}
	if dw != nil {
		partials = make([][]T, ns)
		for i := range partials {
			partials[i] = ws.get(s.M*9, true)
		}
	}
	// Stride 1 with pads ≤ 2: dx is the valid correlation of dy padded by
	// (2−pad) with the flipped kernel (a gather: one write per element).
	gather := g.sw == 1 && g.pt <= 2 && g.pl <= 2 && s.PadB <= 2 && s.PadR <= 2
	var dpads [][]T
	hq, wq := s.H+2, s.W+2
	if dx != nil && gather {
		dpads = make([][]T, nw)
		for i := range dpads {
			dpads[i] = ws.get(hq*wq+9, false)
		}
	}
	slotFor(nc, ns, func(wk, slot, lo, hi int) {
		pad := pads[wk]
		for i := lo; i < hi; i++ {
			n, c := i/s.C, i%s.C
			if dw != nil {
				padPlane(pad, hp, wp, x[i*HW:(i+1)*HW], s.H, s.W, g.pt, g.pl)
				for j := 0; j < mult; j++ {
					m := c*mult + j
					o := (n*s.M + m) * P
					dw3x3GradValid(partials[slot][m*9:m*9+9], dy[o:o+P], g.OH, g.OW, pad, wp, g.sw)
				}
			}
			if dx == nil {
				continue
			}
			dxp := dx[i*HW : (i+1)*HW]
			if gather {
				dq, f := dpads[wk][:hq*wq], dpads[wk][hq*wq:]
				for j := 0; j < mult; j++ {
					m := c*mult + j
					o := (n*s.M + m) * P
					k := w[m*9 : m*9+9]
					for t := range f {
						f[t] = k[8-t]
					}
					padPlane(dq, hq, wq, dy[o:o+P], g.OH, g.OW, 2-g.pt, 2-g.pl)
					dw3x3Valid(dxp, s.H, s.W, dq, wq, f, 1, 0, j > 0)
				}
				continue
			}
			clear(pad[:hp*wp])
			for j := 0; j < mult; j++ {
				m := c*mult + j
				o := (n*s.M + m) * P
				dw3x3ScatterValid(pad, wp, dy[o:o+P], g.OH, g.OW, w[m*9:m*9+9], g.sw)
			}
			cropAdd(dxp, s.H, s.W, pad, hp, wp, g.pt, g.pl, false)
		}
	})
	if dw != nil {
		copy(dw[:s.M*9], partials[0])
		if ns > 1 {
			reducePartials(dw[:s.M*9], partials[1:])
		}
	}
}
