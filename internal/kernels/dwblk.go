package kernels

// Channel-blocked depthwise 3×3 (stride 1 or 2) for float32 on small planes
// (AVX-512 or AVX2+FMA). In NCHW a 7×7 or 4×4 plane is too narrow to
// vectorize along a row, so L channels of one image (L = 16 for AVX-512, 8
// for AVX2, a vector's worth) are interleaved into a padded pixel-major
// block (the layout oneDNN calls nChw16c or nChw8c) and the assembly
// computes L channels per vector instruction. Packing and unpacking are
// O(L·H·W) per block against 9·H·W vector FMAs, yet in scalar Go they cost
// more than the arithmetic (on AVX-512, a fifth of a quickstart's CPU time
// where the kernels took 1%), so full blocks go through transpose, which
// moves 8×8 tiles in assembly (two tiles per 8 pixels for 16 lanes); the
// partial last block of a channel count that is not a multiple of L is
// packed element by element.
// The weights are blocked once per call, and each worker accumulates its
// weight gradient in blocked form, unblocked once at the end.

// dwBlockedMaxP is the largest input plane that takes the blocked path.
const dwBlockedMaxP = 32 * 32

// dwBlkKernels is the assembly of one vector width (see gen_dw_amd64.py):
// each operates on blocks of lanes channels.
type dwBlkKernels struct {
	lanes        int
	fwd1, fwd2   func(out, in, wts, bias *float32, oh, ow, inStride int)
	grad1, grad2 func(acc, dy *float32, dyStride int, in *float32, inStride, oh, ow int)
	scatter2     func(dst, dy, wts *float32, oh, ow, dstStride int)
}

func useDWBlocked[T Float](s ConvShape, g dwGeom) bool {
	return dwBlkKernelsFor(asmISA) != nil && is32[T]() && !generalPaths &&
		g.fast3x3() && s.M == s.C && s.H*s.W <= dwBlockedMaxP &&
		s.PadT <= 2 && s.PadL <= 2 && s.PadB <= 2 && s.PadR <= 2
}

// packBlk writes channels [c0,c0+L) ∩ [0,C) of image plane set x (C×h×w)
// into dst (hp×wp×L) at offset (pt,pl), zeroing everything else. tmp
// (h·w·L) is scratch for the transposition of a full block.
func (k *dwBlkKernels) packBlk(dst []float32, hp, wp int, x []float32, C, c0, h, w, pt, pl int, tmp []float32) {
	L := k.lanes
	dst = dst[:hp*wp*L]
	hh, ww := min(h, hp-pt), min(w, wp-pl)
	if c0+L > C {
		clear(dst)
		for lane := 0; lane < L && c0+lane < C; lane++ {
			src := x[(c0+lane)*h*w:]
			for ih := 0; ih < hh; ih++ {
				row := src[ih*w : ih*w+ww]
				d := dst[((ih+pt)*wp+pl)*L+lane:]
				for iw, v := range row {
					d[iw*L] = v
				}
			}
		}
		return
	}
	HW := h * w
	src := x[c0*HW : (c0+L)*HW]
	if hp == h && wp == w && pt == 0 && pl == 0 {
		k.toBlk(dst, src, HW)
		return
	}
	tmp = tmp[:HW*L]
	k.toBlk(tmp, src, HW)
	clear(dst)
	for ih := 0; ih < hh; ih++ {
		copy(dst[((ih+pt)*wp+pl)*L:][:ww*L], tmp[ih*w*L:][:ww*L])
	}
}

// toBlk sets dst[p·L+c] = src[c·P+p] for p < P, c < L (a full block).
func (k *dwBlkKernels) toBlk(dst, src []float32, P int) {
	L := k.lanes
	transpose(dst[:P*L], L, src[:L*P], P, L, P)
}

// fromBlk sets dst[c·P+p] = src[p·L+c] for p < P, c < L (a full block).
func (k *dwBlkKernels) fromBlk(dst, src []float32, P int) {
	L := k.lanes
	transpose(dst[:L*P], P, src[:P*L], L, P, L)
}

// unpackBlk writes the h×w×L block src back to channels [c0,c0+L) ∩ [0,C)
// of y (C×h×w).
func (k *dwBlkKernels) unpackBlk(y []float32, C, c0, h, w int, src []float32) {
	L, P := k.lanes, h*w
	if c0+L <= C {
		k.fromBlk(y[c0*P:(c0+L)*P], src, P)
		return
	}
	for lane := 0; lane < L && c0+lane < C; lane++ {
		d := y[(c0+lane)*P : (c0+lane+1)*P]
		for p := range d {
			d[p] = src[p*L+lane]
		}
	}
}

// unpackBlkWindow writes the h×w window at (pt,pl) of the padded block src
// (hp×wp×L) back to channels [c0,c0+L) ∩ [0,C) of y (C×h×w); cells
// outside src are set to 0. tmp (h·w·L) is scratch for a full block.
func (k *dwBlkKernels) unpackBlkWindow(y []float32, C, c0, h, w int, src []float32, hp, wp, pt, pl int, tmp []float32) {
	L, P := k.lanes, h*w
	if c0+L <= C {
		tmp = tmp[:P*L]
		cw := max(0, min(w, wp-pl))
		for ih := 0; ih < h; ih++ {
			row := tmp[ih*w*L : (ih+1)*w*L]
			n := 0
			if r := ih + pt; r < hp {
				n = copy(row[:cw*L], src[(r*wp+pl)*L:])
			}
			clear(row[n:])
		}
		k.fromBlk(y[c0*P:(c0+L)*P], tmp, P)
		return
	}
	for lane := 0; lane < L && c0+lane < C; lane++ {
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
					v = src[(r*wp+iw+pl)*L+lane]
				}
				row[iw] = v
			}
		}
	}
}

// blkWeights fills wb (nb×9×L) with the 3×3 kernels of the C channels in
// blocks of L, flipped if flip, zero for lanes past C; and, if bb is not
// nil, bb (nb×L) with the biases (zero where b is nil).
func blkWeights(L int, wb, bb, w, b []float32, C int, flip bool) {
	nb := (C + L - 1) / L
	for blk := 0; blk < nb; blk++ {
		wk := wb[blk*9*L : (blk+1)*9*L]
		for lane := 0; lane < L; lane++ {
			c := blk*L + lane
			for t := 0; t < 9; t++ {
				v := float32(0)
				if c < C {
					if flip {
						v = w[c*9+8-t]
					} else {
						v = w[c*9+t]
					}
				}
				wk[t*L+lane] = v
			}
			if bb != nil {
				v := float32(0)
				if b != nil && c < C {
					v = b[c]
				}
				bb[blk*L+lane] = v
			}
		}
	}
}

func dwBlockedForward(s ConvShape, g dwGeom, x, w, b, y []float32, ws *Workspace[float32]) {
	k := dwBlkKernelsFor(asmISA)
	L := k.lanes
	nb := (s.C + L - 1) / L
	units := s.N * nb
	hp, wp := g.paddedSize()
	HW, P := s.H*s.W, g.OH*g.OW
	nw := parts(units, 18*P*L)
	fwd := k.fwd1
	if g.sw == 2 {
		fwd = k.fwd2
	}
	mk := ws.mark()
	defer ws.release(mk)
	wb, bb := ws.get(nb*9*L, false), ws.get(nb*L, false)
	blkWeights(L, wb, bb, w, b, s.C, false)
	type scratch struct{ xb, ob, tmp []float32 }
	sc := make([]scratch, nw)
	for i := range sc {
		sc[i] = scratch{xb: ws.get(hp*wp*L, false), ob: ws.get(P*L, false), tmp: ws.get(HW*L, false)}
	}
	parallelFor(units, nw, func(wk, lo, hi int) {
		t := sc[wk]
		for u := lo; u < hi; u++ {
			n, blk := u/nb, u%nb
			c0 := blk * L
			xn := x[n*s.C*HW : (n+1)*s.C*HW]
			k.packBlk(t.xb, hp, wp, xn, s.C, c0, s.H, s.W, g.pt, g.pl, t.tmp)
			fwd(&t.ob[0], &t.xb[0], &wb[blk*9*L], &bb[blk*L], g.OH, g.OW, wp)
			k.unpackBlk(y[n*s.C*P:(n+1)*s.C*P], s.C, c0, g.OH, g.OW, t.ob)
		}
	})
}

func dwBlockedBackward(s ConvShape, g dwGeom, x, w, dy, dx, dw []float32, ws *Workspace[float32]) {
	k := dwBlkKernelsFor(asmISA)
	L := k.lanes
	nb := (s.C + L - 1) / L
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
	ns := slots(units, 36*P*L) // dw: fixed partial sums (slotFor)
	nw := slotWorkers(ns)
	grad := k.grad1
	if !s1 {
		grad = k.grad2
	}
	mk := ws.mark()
	defer ws.release(mk)
	var wb, zero []float32
	if dx != nil {
		// Stride 1: dx is the correlation of padded dy with the flipped
		// kernel (no bias); stride 2: a scatter with the kernel itself.
		wb, zero = ws.get(nb*9*L, false), ws.get(L, true)
		blkWeights(L, wb, nil, w, nil, s.C, s1)
	}
	type scratch struct{ xb, dyb, ob, tmp []float32 }
	sc := make([]scratch, nw)
	for i := range sc {
		t := scratch{dyb: ws.get(hq*wq*L, false)}
		if dw != nil {
			t.xb = ws.get(hp*wp*L, false)
		}
		if dx != nil {
			if s1 {
				t.ob = ws.get(HW*L, false)
			} else {
				t.ob = ws.get(hp*wp*L, false)
			}
		}
		t.tmp = ws.get(max(HW, P)*L, false)
		sc[i] = t
	}
	dwp := make([][]float32, ns)
	if dw != nil {
		for i := range dwp {
			dwp[i] = ws.get(nb*9*L, true) // blocked: [block][tap][lane]
		}
	}
	slotFor(units, ns, func(wk, slot, lo, hi int) {
		t := sc[wk]
		for u := lo; u < hi; u++ {
			n, blk := u/nb, u%nb
			c0 := blk * L
			k.packBlk(t.dyb, hq, wq, dy[n*s.C*P:(n+1)*s.C*P], s.C, c0, g.OH, g.OW, qt, ql, t.tmp)
			if dw != nil {
				k.packBlk(t.xb, hp, wp, x[n*s.C*HW:(n+1)*s.C*HW], s.C, c0, s.H, s.W, g.pt, g.pl, t.tmp)
				grad(&dwp[slot][blk*9*L], &t.dyb[(qt*wq+ql)*L], wq, &t.xb[0], wp, g.OH, g.OW)
			}
			if dx == nil {
				continue
			}
			dxn := dx[n*s.C*HW : (n+1)*s.C*HW]
			if s1 {
				k.fwd1(&t.ob[0], &t.dyb[0], &wb[blk*9*L], &zero[0], s.H, s.W, wq)
				k.unpackBlk(dxn, s.C, c0, s.H, s.W, t.ob)
				continue
			}
			clear(t.ob)
			k.scatter2(&t.ob[0], &t.dyb[0], &wb[blk*9*L], g.OH, g.OW, wp)
			k.unpackBlkWindow(dxn, s.C, c0, s.H, s.W, t.ob, hp, wp, g.pt, g.pl, t.tmp)
		}
	})
	if dw != nil {
		acc := dwp[0]
		for i := 1; i < ns; i++ {
			axpyUnit(1, dwp[i], acc)
		}
		for c := 0; c < s.C; c++ {
			blk, lane := c/L, c%L
			for tap := 0; tap < 9; tap++ {
				dw[c*9+tap] = acc[(blk*9+tap)*L+lane]
			}
		}
	}
}
