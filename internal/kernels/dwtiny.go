package kernels

// Depthwise convolutions (channel multiplier 1, undilated) of planes of at
// most 4 pixels into planes of at most 4 pixels: the 2×2 and 1×1 planes of
// the last MobileNet stages at small inputs (32×32). There the 3×3 loops
// of the other paths are almost all border and call overhead. Instead,
// each channel is a small linear map from its input to its output pixels,
// listed once per call as (output, input, tap) triples; the weight
// gradient accumulates per triple and is folded back onto the taps.
//
// For 2×2 → 2×2 with every output reading every input (3×3, stride 1, pad
// 1, the common case) and float32 where the CPU has AVX2, the map is a
// dense 4×4 matrix per channel and the assembly (dwTiny4AVX2,
// dwTiny4GradAVX2) does two channels per YMM register. The AVX-512 build
// keeps its channel-blocked path for these planes.

// dwTinyMaxP is the largest plane (input and output) of the tiny path.
const dwTinyMaxP = 4

func useDWTiny[T Float](s ConvShape, g dwGeom) bool {
	return !generalPaths && asmISA != isaAVX512 && s.M == s.C && g.dh == 1 && g.dw == 1 &&
		s.H*s.W <= dwTinyMaxP && g.OH*g.OW <= dwTinyMaxP
}

// dwTriple says that output pixel o reads input pixel i through tap t.
type dwTriple struct{ o, i, t int }

// dwTinyTriples lists the triples of g, output-major, and reports whether
// they are the dense 4×4 map (every output reads every input).
func dwTinyTriples(s ConvShape, g dwGeom) ([]dwTriple, bool) {
	var ts []dwTriple
	for o := 0; o < g.OH*g.OW; o++ {
		oh, ow := o/g.OW, o%g.OW
		for i := 0; i < s.H*s.W; i++ {
			kh, kw := i/s.W+g.pt-oh*g.sh, i%s.W+g.pl-ow*g.sw
			if kh >= 0 && kh < g.KH && kw >= 0 && kw < g.KW {
				ts = append(ts, dwTriple{o, i, kh*g.KW + kw})
			}
		}
	}
	dense := s.H*s.W == 4 && g.OH*g.OW == 4 && len(ts) == 16
	return ts, dense
}

// dwTinyPairs reports how many channel pairs the assembly does (0 if it
// does not apply).
func dwTinyPairs[T Float](s ConvShape, dense bool) int {
	if !dense || !is32[T]() || asmISA != isaAVX2 {
		return 0
	}
	return s.C / 2
}

// dwTinyCols fills cols (pairs×4×8) with the columns of the dense maps of
// channel pairs: cols[32q+8i+4h+o] is the weight with which output o reads
// input i in channel 2q+h, or, if transposed, input o reads output i (the
// map of the input gradient).
func dwTinyCols(ts []dwTriple, KK int, w, cols []float32, pairs int, transposed bool) {
	for q := 0; q < pairs; q++ {
		for h := 0; h < 2; h++ {
			wc := w[(2*q+h)*KK:]
			for _, t := range ts {
				o, i := t.o, t.i
				if transposed {
					o, i = i, o
				}
				cols[32*q+8*i+4*h+o] = wc[t.t]
			}
		}
	}
}

func dwTinyForward[T Float](s ConvShape, g dwGeom, x, w, b, y []T, ws *Workspace[T]) {
	ts, dense := dwTinyTriples(s, g)
	Pi, Po, KK := s.H*s.W, g.OH*g.OW, g.KH*g.KW
	pairs := dwTinyPairs[T](s, dense)
	mk := ws.mark()
	defer ws.release(mk)
	if pairs > 0 {
		cols, bias := as32(ws.get(32*pairs, false)), as32(ws.get(8*pairs, true))
		dwTinyCols(ts, KK, as32(w), cols, pairs, false)
		if b != nil {
			for c := 0; c < 2*pairs; c++ {
				fill(bias[4*c:4*c+4], float32(b[c]))
			}
		}
		x32, y32 := as32(x), as32(y)
		parallelFor(pairs, parts(pairs, 32*s.N), func(_, lo, hi int) {
			dwTiny4AVX2(&y32[8*lo], &x32[8*lo], &cols[32*lo], &bias[8*lo], hi-lo, s.N, s.C*4)
		})
	}
	// The rest (all channels, or an odd last one) in Go, a loop over
	// channels per triple, with the triple's weights gathered: wt[k*C+c].
	c0 := 2 * pairs
	if c0 == s.C {
		return
	}
	wt := ws.get(len(ts)*s.C, false)
	dwTinyGather(ts, KK, w, wt, s.C)
	parallelFor(s.N, parts(s.N, 2*len(ts)*(s.C-c0)), func(_, lo, hi int) {
		for n := lo; n < hi; n++ {
			xn, yn := x[n*s.C*Pi:(n+1)*s.C*Pi], y[n*s.C*Po:(n+1)*s.C*Po]
			for c := c0; c < s.C; c++ {
				var init T
				if b != nil {
					init = b[c]
				}
				fill(yn[c*Po:(c+1)*Po], init)
			}
			for k, t := range ts {
				wk := wt[k*s.C : (k+1)*s.C]
				for c := c0; c < s.C; c++ {
					yn[c*Po+t.o] += wk[c] * xn[c*Pi+t.i]
				}
			}
		}
	})
}

// dwTinyGather sets wt[k*C+c] to the weight of triple k in channel c.
func dwTinyGather[T Float](ts []dwTriple, KK int, w, wt []T, C int) {
	for k, t := range ts {
		for c := 0; c < C; c++ {
			wt[k*C+c] = w[c*KK+t.t]
		}
	}
}

func dwTinyBackward[T Float](s ConvShape, g dwGeom, x, w, dy, dx, dw []T, ws *Workspace[T]) {
	ts, dense := dwTinyTriples(s, g)
	Pi, Po, KK := s.H*s.W, g.OH*g.OW, g.KH*g.KW
	pairs := dwTinyPairs[T](s, dense)
	mk := ws.mark()
	defer ws.release(mk)
	// gr[k*C+c] accumulates Σ_n dy[o]·x[i] of triple k in channel c (for
	// pairs: gp[32q+8i+4h+o], the assembly's layout), folded onto taps at
	// the end.
	var gr, gp []T
	if dw != nil {
		gr = ws.get(s.C*len(ts), true)
		if pairs > 0 {
			gp = ws.get(32*pairs, true)
		}
	}
	if pairs > 0 {
		x32, dy32 := as32(x), as32(dy)
		var colsT, zero []float32
		if dx != nil {
			colsT, zero = as32(ws.get(32*pairs, false)), as32(ws.get(8*pairs, true))
			dwTinyCols(ts, KK, as32(w), colsT, pairs, true)
		}
		dx32, gp32 := as32(dx), as32(gp)
		parallelFor(pairs, parts(pairs, 64*s.N), func(_, lo, hi int) {
			if dw != nil {
				dwTiny4GradAVX2(&gp32[32*lo], &dy32[8*lo], &x32[8*lo], hi-lo, s.N, s.C*4)
			}
			if dx != nil {
				dwTiny4AVX2(&dx32[8*lo], &dy32[8*lo], &colsT[32*lo], &zero[8*lo], hi-lo, s.N, s.C*4)
			}
		})
	}
	c0 := 2 * pairs
	if c0 < s.C {
		// The rest in Go, as the forward; workers split the channels, so
		// that each owns its gradient accumulators gr[k*C+c].
		var wt []T
		if dx != nil {
			wt = ws.get(len(ts)*s.C, false)
			dwTinyGather(ts, KK, w, wt, s.C)
		}
		nc := s.C - c0
		parallelFor(nc, parts(nc, 4*len(ts)*s.N), func(_, lo, hi int) {
			lo, hi = c0+lo, c0+hi
			for n := 0; n < s.N; n++ {
				dyn := dy[n*s.C*Po : (n+1)*s.C*Po]
				if dw != nil {
					xn := x[n*s.C*Pi : (n+1)*s.C*Pi]
					for k, t := range ts {
						gk := gr[k*s.C : (k+1)*s.C]
						for c := lo; c < hi; c++ {
							gk[c] += dyn[c*Po+t.o] * xn[c*Pi+t.i]
						}
					}
				}
				if dx == nil {
					continue
				}
				dxn := dx[n*s.C*Pi : (n+1)*s.C*Pi]
				clear(dxn[lo*Pi : hi*Pi])
				for k, t := range ts {
					wk := wt[k*s.C : (k+1)*s.C]
					for c := lo; c < hi; c++ {
						dxn[c*Pi+t.i] += wk[c] * dyn[c*Po+t.o]
					}
				}
			}
		})
	}
	if dw == nil {
		return
	}
	clear(dw[:s.C*KK])
	for c := 0; c < s.C; c++ {
		dwc := dw[c*KK:][:KK]
		for k, t := range ts {
			if c < c0 {
				q, h := c/2, c%2
				dwc[t.t] += gp[32*q+8*t.i+4*h+t.o]
			} else {
				dwc[t.t] += gr[k*s.C+c]
			}
		}
	}
}
