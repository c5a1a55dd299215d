package kernels

// Channel-blocked depthwise 3×3 stride 1 for float32 on small planes
// (AVX-512). In NCHW a 7×7 or 4×4 plane is too narrow to vectorize along a
// row, so 16 channels of one image are interleaved into a padded
// pixel-major block (the layout oneDNN calls nChw16c) and the assembly
// computes 16 channels per vector instruction. Packing and unpacking are
// scalar Go, O(16·H·W) per block against 9·H·W vector FMAs.

// dwBlockedMaxP is the largest input plane that takes the blocked path.
const dwBlockedMaxP = 32 * 32

const dwLanes = 16

func useDWBlocked[T Float](s ConvShape, g dwGeom) bool {
	return haveDWAsm && haveSgemmAsm && is32[T]() && !generalPaths &&
		g.fast3x3() && g.sw == 1 && s.M == s.C && s.H*s.W <= dwBlockedMaxP &&
		s.PadT <= 2 && s.PadL <= 2 && s.PadB <= 2 && s.PadR <= 2
}

// packBlk16 writes channels [c0,c0+16) ∩ [0,C) of image plane set x
// (C×h×w) into dst (hp×wp×16) at offset (pt,pl), zeroing everything else.
func packBlk16(dst []float32, hp, wp int, x []float32, C, c0, h, w, pt, pl int) {
	dst = dst[:hp*wp*dwLanes]
	clear(dst)
	hh, ww := min(h, hp-pt), min(w, wp-pl)
	for lane := 0; lane < dwLanes && c0+lane < C; lane++ {
		src := x[(c0+lane)*h*w:]
		for ih := 0; ih < hh; ih++ {
			row := src[ih*w : ih*w+ww]
			d := dst[((ih+pt)*wp+pl)*dwLanes+lane:]
			for iw, v := range row {
				d[iw*dwLanes] = v
			}
		}
	}
}

// unpackBlk16 writes the h×w×16 block src back to channels [c0,c0+16) ∩
// [0,C) of y (C×h×w).
func unpackBlk16(y []float32, C, c0, h, w int, src []float32) {
	P := h * w
	for lane := 0; lane < dwLanes && c0+lane < C; lane++ {
		d := y[(c0+lane)*P : (c0+lane+1)*P]
		for p := range d {
			d[p] = src[p*dwLanes+lane]
		}
	}
}

// blkWeights fills wb (9×16) with the 3×3 kernels of channels [c0,c0+16),
// flipped if flip, zero for lanes past C; and bb (16) with the biases.
func blkWeights(wb, bb, w, b []float32, C, c0 int, flip bool) {
	for lane := 0; lane < dwLanes; lane++ {
		c := c0 + lane
		for t := 0; t < 9; t++ {
			v := float32(0)
			if c < C {
				if flip {
					v = w[c*9+8-t]
				} else {
					v = w[c*9+t]
				}
			}
			wb[t*dwLanes+lane] = v
		}
		if bb != nil {
			bb[lane] = 0
			if b != nil && c < C {
				bb[lane] = b[c]
			}
		}
	}
}

func dwBlockedForward(s ConvShape, g dwGeom, x, w, b, y []float32, ws *Workspace[float32]) {
	nb := (s.C + dwLanes - 1) / dwLanes
	units := s.N * nb
	hp, wp := g.OH+2, g.OW+2
	HW, P := s.H*s.W, g.OH*g.OW
	nw := parts(units, 18*P*dwLanes)
	mk := ws.mark()
	defer ws.release(mk)
	type scratch struct{ xb, ob, wb, bb []float32 }
	sc := make([]scratch, nw)
	for i := range sc {
		sc[i] = scratch{ws.get(hp*wp*dwLanes, false), ws.get(P*dwLanes, false), ws.get(9*dwLanes, false), ws.get(dwLanes, false)}
	}
	parallelFor(units, nw, func(wk, lo, hi int) {
		t := sc[wk]
		for u := lo; u < hi; u++ {
			n, c0 := u/nb, (u%nb)*dwLanes
			xn := x[n*s.C*HW : (n+1)*s.C*HW]
			packBlk16(t.xb, hp, wp, xn, s.C, c0, s.H, s.W, g.pt, g.pl)
			blkWeights(t.wb, t.bb, w, b, s.C, c0, false)
			dw3x3s1Blk16(&t.ob[0], &t.xb[0], &t.wb[0], &t.bb[0], g.OH, g.OW, wp)
			unpackBlk16(y[n*s.C*P:(n+1)*s.C*P], s.C, c0, g.OH, g.OW, t.ob)
		}
	})
}

func dwBlockedBackward(s ConvShape, g dwGeom, x, w, dy, dx, dw []float32, ws *Workspace[float32]) {
	nb := (s.C + dwLanes - 1) / dwLanes
	units := s.N * nb
	hp, wp := g.OH+2, g.OW+2 // padded x
	hq, wq := s.H+2, s.W+2   // padded dy (by 2−pad) for the dx gather
	HW, P := s.H*s.W, g.OH*g.OW
	nw := parts(units, 36*P*dwLanes)
	mk := ws.mark()
	defer ws.release(mk)
	type scratch struct{ xb, dyb, ob, wb, bb, acc, dwp []float32 }
	sc := make([]scratch, nw)
	for i := range sc {
		t := scratch{dyb: ws.get(hq*wq*dwLanes, false), wb: ws.get(9*dwLanes, false),
			bb: ws.get(dwLanes, true), acc: ws.get(9*dwLanes, false)}
		if dw != nil {
			t.xb = ws.get(hp*wp*dwLanes, false)
			t.dwp = ws.get(s.M*9, true)
		}
		if dx != nil {
			t.ob = ws.get(HW*dwLanes, false)
		}
		sc[i] = t
	}
	parallelFor(units, nw, func(wk, lo, hi int) {
		t := sc[wk]
		for u := lo; u < hi; u++ {
			n, c0 := u/nb, (u%nb)*dwLanes
			packBlk16(t.dyb, hq, wq, dy[n*s.C*P:(n+1)*s.C*P], s.C, c0, g.OH, g.OW, 2-g.pt, 2-g.pl)
			if dw != nil {
				packBlk16(t.xb, hp, wp, x[n*s.C*HW:(n+1)*s.C*HW], s.C, c0, s.H, s.W, g.pt, g.pl)
				clear(t.acc)
				off := ((2-g.pt)*wq + 2 - g.pl) * dwLanes
				dw3x3s1GradBlk16(&t.acc[0], &t.dyb[off], wq, &t.xb[0], wp, g.OH, g.OW)
				for lane := 0; lane < dwLanes && c0+lane < s.C; lane++ {
					d := t.dwp[(c0+lane)*9 : (c0+lane)*9+9]
					for k := range d {
						d[k] += t.acc[k*dwLanes+lane]
					}
				}
			}
			if dx != nil {
				blkWeights(t.wb, nil, w, nil, s.C, c0, true)
				dw3x3s1Blk16(&t.ob[0], &t.dyb[0], &t.wb[0], &t.bb[0], s.H, s.W, wq)
				unpackBlk16(dx[n*s.C*HW:(n+1)*s.C*HW], s.C, c0, s.H, s.W, t.ob)
			}
		}
	})
	if dw != nil {
		copy(dw[:s.M*9], sc[0].dwp)
		for i := 1; i < nw; i++ {
			axpyUnit(1, sc[i].dwp, dw[:s.M*9])
		}
	}
}
