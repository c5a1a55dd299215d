package kernels

// Channel-blocked depthwise 3×3 (stride 1 or 2) for float32 on small planes
// (AVX-512). In NCHW a 7×7 or 4×4 plane is too narrow to vectorize along a
// row, so 16 channels of one image are interleaved into a padded
// pixel-major block (the layout oneDNN calls nChw16c) and the assembly
// computes 16 channels per vector instruction. Packing and unpacking are
// scalar Go, O(16·H·W) per block against 9·H·W vector FMAs.

// dwBlockedMaxP is the largest input plane that takes the blocked path.
const dwBlockedMaxP = 32 * 32

const dwLanes = 16

func useDWBlocked[T Float](s ConvShape, g dwGeom) bool {
	return haveDWAsm && asmISA == isaAVX512 && is32[T]() && !generalPaths &&
		g.fast3x3() && s.M == s.C && s.H*s.W <= dwBlockedMaxP &&
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

// unpackBlk16Window writes the h×w window at (pt,pl) of the padded block
// src (hp×wp×16) back to channels [c0,c0+16) ∩ [0,C) of y (C×h×w); cells
// outside src are set to 0.
func unpackBlk16Window(y []float32, C, c0, h, w int, src []float32, hp, wp, pt, pl int) {
	P := h * w
	for lane := 0; lane < dwLanes && c0+lane < C; lane++ {
		d := y[(c0+lane)*P : (c0+lane+1)*P]
		for ih := 0; ih < h; ih++ {
			row := d[ih*w : (ih+1)*w]
			r := ih + pt
			if r >= hp {
				clear(row)
				continue
			}
			for iw := range row {
				v := float32(0)
				if iw+pl < wp {
					v = src[(r*wp+iw+pl)*dwLanes+lane]
				}
				row[iw] = v
			}
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
	hp, wp := g.paddedSize()
	HW, P := s.H*s.W, g.OH*g.OW
	nw := parts(units, 18*P*dwLanes)
	fwd := dw3x3s1Blk16
	if g.sw == 2 {
		fwd = dw3x3s2Blk16
	}
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
			fwd(&t.ob[0], &t.xb[0], &t.wb[0], &t.bb[0], g.OH, g.OW, wp)
			unpackBlk16(y[n*s.C*P:(n+1)*s.C*P], s.C, c0, g.OH, g.OW, t.ob)
		}
	})
}

func dwBlockedBackward(s ConvShape, g dwGeom, x, w, dy, dx, dw []float32, ws *Workspace[float32]) {
	nb := (s.C + dwLanes - 1) / dwLanes
	units := s.N * nb
	hp, wp := g.paddedSize() // padded x (and, at stride 2, padded dx)
	s1 := g.sw == 1
	// dy is packed padded by (2−pad) at stride 1, for the dx gather, and
	// unpadded at stride 2, where dx is a scatter.
	hq, wq, qt, ql := g.OH, g.OW, 0, 0
	if s1 {
		hq, wq, qt, ql = s.H+2, s.W+2, 2-g.pt, 2-g.pl
	}
	HW, P := s.H*s.W, g.OH*g.OW
	ns := slots(units, 36*P*dwLanes) // dw: fixed partial sums (slotFor)
	nw := slotWorkers(ns)
	grad := dw3x3s1GradBlk16
	if !s1 {
		grad = dw3x3s2GradBlk16
	}
	mk := ws.mark()
	defer ws.release(mk)
	type scratch struct{ xb, dyb, ob, wb, bb, acc []float32 }
	sc := make([]scratch, nw)
	for i := range sc {
		t := scratch{dyb: ws.get(hq*wq*dwLanes, false), wb: ws.get(9*dwLanes, false),
			bb: ws.get(dwLanes, true), acc: ws.get(9*dwLanes, false)}
		if dw != nil {
			t.xb = ws.get(hp*wp*dwLanes, false)
		}
		if dx != nil {
			if s1 {
				t.ob = ws.get(HW*dwLanes, false)
			} else {
				t.ob = ws.get(hp*wp*dwLanes, false)
			}
		}
		sc[i] = t
	}
	dwp := make([][]float32, ns)
	if dw != nil {
		for i := range dwp {
			dwp[i] = ws.get(s.M*9, true)
		}
	}
	slotFor(units, ns, func(wk, slot, lo, hi int) {
		t := sc[wk]
		for u := lo; u < hi; u++ {
			n, c0 := u/nb, (u%nb)*dwLanes
			packBlk16(t.dyb, hq, wq, dy[n*s.C*P:(n+1)*s.C*P], s.C, c0, g.OH, g.OW, qt, ql)
			if dw != nil {
				packBlk16(t.xb, hp, wp, x[n*s.C*HW:(n+1)*s.C*HW], s.C, c0, s.H, s.W, g.pt, g.pl)
				clear(t.acc)
				grad(&t.acc[0], &t.dyb[(qt*wq+ql)*dwLanes], wq, &t.xb[0], wp, g.OH, g.OW)
				for lane := 0; lane < dwLanes && c0+lane < s.C; lane++ {
					d := dwp[slot][(c0+lane)*9 : (c0+lane)*9+9]
					for k := range d {
						d[k] += t.acc[k*dwLanes+lane]
					}
				}
			}
			if dx == nil {
				continue
			}
			dxn := dx[n*s.C*HW : (n+1)*s.C*HW]
			if s1 {
				blkWeights(t.wb, nil, w, nil, s.C, c0, true)
				dw3x3s1Blk16(&t.ob[0], &t.dyb[0], &t.wb[0], &t.bb[0], s.H, s.W, wq)
				unpackBlk16(dxn, s.C, c0, s.H, s.W, t.ob)
				continue
			}
			blkWeights(t.wb, nil, w, nil, s.C, c0, false)
			clear(t.ob)
			dw3x3s2ScatterBlk16(&t.ob[0], &t.dyb[0], &t.wb[0], g.OH, g.OW, wp)
			unpackBlk16Window(dxn, s.C, c0, s.H, s.W, t.ob, hp, wp, g.pt, g.pl)
		}
	})
	if dw != nil {
		copy(dw[:s.M*9], dwp[0])
		for i := 1; i < ns; i++ {
			axpyUnit(1, dwp[i], dw[:s.M*9])
		}
	}
}
