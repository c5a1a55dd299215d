package kernels

import (
	"slices"
	"testing"
)

// naiveConv is the direct-loop reference convolution.
func naiveConv(s ConvShape, x, w, b []float64) []float64 {
	s = s.norm()
	OH, OW := s.OutH(), s.OutW()
	Cg, Mg := s.C/s.Group, s.M/s.Group
	y := make([]float64, s.N*s.M*OH*OW)
	for n := 0; n < s.N; n++ {
		for m := 0; m < s.M; m++ {
			g := m / Mg
			for oh := 0; oh < OH; oh++ {
				for ow := 0; ow < OW; ow++ {
					acc := 0.0
					if b != nil {
						acc = b[m]
					}
					for cg := 0; cg < Cg; cg++ {
						c := g*Cg + cg
						for kh := 0; kh < s.KH; kh++ {
							ih := oh*s.StrideH - s.PadT + kh*s.DilH
							if ih < 0 || ih >= s.H {
								continue
							}
							for kw := 0; kw < s.KW; kw++ {
								iw := ow*s.StrideW - s.PadL + kw*s.DilW
								if iw < 0 || iw >= s.W {
									continue
								}
								acc += x[((n*s.C+c)*s.H+ih)*s.W+iw] * w[((m*Cg+cg)*s.KH+kh)*s.KW+kw]
							}
						}
					}
					y[((n*s.M+m)*OH+oh)*OW+ow] = acc
				}
			}
		}
	}
	return y
}

var convCases = []struct {
	name string
	s    ConvShape
	bias bool
}{
	{"3x3 s1 p1", ConvShape{N: 2, C: 3, H: 6, W: 5, M: 4, KH: 3, KW: 3, PadT: 1, PadL: 1, PadB: 1, PadR: 1}, true},
	{"3x3 s2 asym pads", ConvShape{N: 2, C: 3, H: 7, W: 6, M: 2, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadT: 0, PadL: 1, PadB: 1, PadR: 0}, true},
	{"3x3 s2x1 dil2", ConvShape{N: 1, C: 2, H: 8, W: 7, M: 3, KH: 3, KW: 3, StrideH: 2, StrideW: 1, PadT: 2, PadL: 1, PadB: 1, PadR: 2, DilH: 2, DilW: 2}, false},
	{"3x1 no bias", ConvShape{N: 2, C: 2, H: 5, W: 4, M: 3, KH: 3, KW: 1, PadT: 1, PadB: 1}, false},
	{"grouped g2", ConvShape{N: 2, C: 4, H: 5, W: 5, M: 6, KH: 3, KW: 3, Group: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}, true},
	{"pointwise", ConvShape{N: 3, C: 5, H: 4, W: 3, M: 7, KH: 1, KW: 1}, true},
	{"pointwise 1x1 plane", ConvShape{N: 11, C: 13, H: 1, W: 1, M: 17, KH: 1, KW: 1}, true},
	{"pointwise 1x1 plane 8s", ConvShape{N: 16, C: 24, H: 1, W: 1, M: 8, KH: 1, KW: 1}, false},
	{"pointwise 2x2 plane", ConvShape{N: 9, C: 10, H: 2, W: 2, M: 12, KH: 1, KW: 1}, true},
	{"pointwise 4x4 plane", ConvShape{N: 3, C: 5, H: 4, W: 4, M: 6, KH: 1, KW: 1}, false},
	{"pointwise grouped", ConvShape{N: 2, C: 4, H: 3, W: 3, M: 6, KH: 1, KW: 1, Group: 2}, false},
	{"1x1 s2", ConvShape{N: 2, C: 3, H: 5, W: 5, M: 4, KH: 1, KW: 1, StrideH: 2, StrideW: 2}, true},
	{"dw 3x3 s1 p1", ConvShape{N: 2, C: 3, H: 7, W: 9, M: 3, KH: 3, KW: 3, Group: 3, PadT: 1, PadL: 1, PadB: 1, PadR: 1}, true},
	{"dw 3x3 s2 p1", ConvShape{N: 2, C: 3, H: 8, W: 9, M: 3, KH: 3, KW: 3, Group: 3, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}, true},
	{"dw 3x3 s2 asym (TF same)", ConvShape{N: 2, C: 2, H: 8, W: 8, M: 2, KH: 3, KW: 3, Group: 2, StrideH: 2, StrideW: 2, PadB: 1, PadR: 1}, false},
	{"dw 3x3 s1 no pad", ConvShape{N: 1, C: 2, H: 6, W: 6, M: 2, KH: 3, KW: 3, Group: 2}, true},
	{"dw 3x3 s1 big pad", ConvShape{N: 1, C: 2, H: 5, W: 5, M: 2, KH: 3, KW: 3, Group: 2, PadT: 3, PadL: 2, PadB: 0, PadR: 3}, true},
	{"dw multiplier 2", ConvShape{N: 2, C: 3, H: 6, W: 6, M: 6, KH: 3, KW: 3, Group: 3, PadT: 1, PadL: 1, PadB: 1, PadR: 1}, true},
	{"dw mult 2 s2", ConvShape{N: 1, C: 2, H: 7, W: 7, M: 4, KH: 3, KW: 3, Group: 2, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}, true},
	{"dw 5x5 s2 p2", ConvShape{N: 2, C: 2, H: 9, W: 8, M: 2, KH: 5, KW: 5, Group: 2, StrideH: 2, StrideW: 2, PadT: 2, PadL: 2, PadB: 2, PadR: 2}, true},
	{"dw 3x3 dil2", ConvShape{N: 1, C: 2, H: 8, W: 8, M: 2, KH: 3, KW: 3, Group: 2, PadT: 2, PadL: 2, PadB: 2, PadR: 2, DilH: 2, DilW: 2}, false},
	{"dw 3x3 s1 p1 C20", ConvShape{N: 3, C: 20, H: 5, W: 6, M: 20, KH: 3, KW: 3, Group: 20, PadT: 1, PadL: 1, PadB: 1, PadR: 1}, true},
	{"dw 3x3 s1 pads 0,2,2,0 C17", ConvShape{N: 2, C: 17, H: 4, W: 7, M: 17, KH: 3, KW: 3, Group: 17, PadL: 2, PadB: 2}, false},
	{"dw 2x2 plane (dense map)", ConvShape{N: 3, C: 5, H: 2, W: 2, M: 5, KH: 3, KW: 3, Group: 5, PadT: 1, PadL: 1, PadB: 1, PadR: 1}, true},
	{"dw 2x2 plane s2", ConvShape{N: 2, C: 4, H: 2, W: 2, M: 4, KH: 3, KW: 3, Group: 4, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}, false},
	{"dw 1x1 plane", ConvShape{N: 3, C: 6, H: 1, W: 1, M: 6, KH: 3, KW: 3, Group: 6, PadT: 1, PadL: 1, PadB: 1, PadR: 1}, true},
	{"dw 2x1 plane asym pads", ConvShape{N: 2, C: 3, H: 2, W: 1, M: 3, KH: 3, KW: 3, Group: 3, PadT: 0, PadL: 1, PadB: 2, PadR: 1}, false},
	{"dw 2x2 plane no pad 2x2 kernel", ConvShape{N: 2, C: 4, H: 2, W: 2, M: 4, KH: 2, KW: 2, Group: 4}, true},
	{"dw 3x3 wide", ConvShape{N: 1, C: 1, H: 4, W: 37, M: 1, KH: 3, KW: 3, Group: 1, PadT: 1, PadL: 1, PadB: 1, PadR: 1}, true},
}

var convModes = []string{"serial", "parallel", "general-paths"}

func setConvMode(t *testing.T, mode string) {
	switch mode {
	case "parallel":
		forceParallel(t)
	case "general-paths":
		generalPaths = true
		t.Cleanup(func() { generalPaths = false })
	}
}

type convData struct {
	x, w, b, r []float64
}

func newConvData(s ConvShape, bias bool, seed uint64) convData {
	rng := newRNG(seed)
	d := convData{x: randSlice(rng, s.XLen()), w: randSlice(rng, s.WLen()), r: randSlice(rng, s.YLen())}
	if bias {
		d.b = randSlice(rng, s.M)
	}
	return d
}

func TestConvForwardMatchesNaive(t *testing.T) {
	for i, tc := range convCases {
		for _, mode := range convModes {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				setConvMode(t, mode)
				d := newConvData(tc.s, tc.bias, uint64(i))
				x0, w0 := clone(d.x), clone(d.w)
				want := naiveConv(tc.s, d.x, d.w, d.b)
				got := make([]float64, tc.s.YLen())
				Conv2D(tc.s, d.x, d.w, d.b, got, NewWorkspace[float64](0))
				if e := relErr(got, want); e > refTol {
					t.Errorf("forward error %.3g", e)
				}
				unchanged(t, "x", d.x, x0)
				unchanged(t, "w", d.w, w0)
			})
		}
	}
}

func TestConvGradients(t *testing.T) {
	for i, tc := range convCases {
		for _, mode := range convModes {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				setConvMode(t, mode)
				s := tc.s
				d := newConvData(s, tc.bias, uint64(100+i))
				ws := NewWorkspace[float64](0)
				y := make([]float64, s.YLen())
				loss := func() float64 {
					Conv2D(s, d.x, d.w, d.b, y, ws)
					return dotf(d.r, y)
				}
				dx := make([]float64, s.XLen())
				dw := make([]float64, s.WLen())
				var db []float64
				if tc.bias {
					db = make([]float64, s.M)
				}
				x0, w0, r0 := clone(d.x), clone(d.w), clone(d.r)
				// Garbage in the outputs must be overwritten.
				fill(dx, 7)
				fill(dw, 7)
				Conv2DBackward(s, d.x, d.w, d.r, dx, dw, db, ws)
				unchanged(t, "x", d.x, x0)
				unchanged(t, "w", d.w, w0)
				unchanged(t, "dy", d.r, r0)
				fdCheck(t, loss, gradInput{"x", d.x, dx}, gradInput{"w", d.w, dw}, gradInput{"b", d.b, db})
				// Each gradient alone equals the one computed together.
				dx2 := make([]float64, s.XLen())
				Conv2DBackward(s, nil, d.w, d.r, dx2, nil, nil, ws)
				dw2 := make([]float64, s.WLen())
				Conv2DBackward(s, d.x, nil, d.r, nil, dw2, nil, ws)
				if relErr(dx2, dx) > refTol || relErr(dw2, dw) > refTol {
					t.Errorf("gradients computed alone differ")
				}
			})
		}
	}
}

// Every float32 path (the assembly of each level this CPU runs, and Go)
// against float64.
func TestConvFloat32MatchesFloat64(t *testing.T) {
	for _, l := range isaLevels() {
		t.Run(l.String(), func(t *testing.T) {
			withISA(t, l)
			checkConvFloat32(t)
		})
	}
}

func checkConvFloat32(t *testing.T) {
	for i, tc := range convCases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			d := newConvData(s, tc.bias, uint64(200+i))
			y64 := make([]float64, s.YLen())
			Conv2D(s, d.x, d.w, d.b, y64, nil)
			y32 := make([]float32, s.YLen())
			var b32 []float32
			if d.b != nil {
				b32 = to32(d.b)
			}
			ws := NewWorkspace[float32](0)
			Conv2D(s, to32(d.x), to32(d.w), b32, y32, ws)
			if e := relErr(to64(y32), y64); e > f32Tol {
				t.Errorf("forward float32 error %.3g", e)
			}
			dx64, dw64 := make([]float64, s.XLen()), make([]float64, s.WLen())
			Conv2DBackward(s, d.x, d.w, d.r, dx64, dw64, nil, nil)
			dx32, dw32 := make([]float32, s.XLen()), make([]float32, s.WLen())
			Conv2DBackward(s, to32(d.x), to32(d.w), to32(d.r), dx32, dw32, nil, ws)
			if e := relErr(to64(dx32), dx64); e > f32Tol {
				t.Errorf("dx float32 error %.3g", e)
			}
			if e := relErr(to64(dw32), dw64); e > f32Tol {
				t.Errorf("dw float32 error %.3g", e)
			}
		})
	}
}

func TestConvValidate(t *testing.T) {
	bad := []ConvShape{
		{N: 1, C: 3, H: 4, W: 4, M: 4, KH: 3, KW: 3, Group: 2},
		{N: 1, C: 3, H: 2, W: 2, M: 3, KH: 3, KW: 3},
		{N: 1, C: 3, H: 4, W: 4, M: 3, KH: 3, KW: 3, PadT: -1},
	}
	for _, s := range bad {
		if s.Validate() == nil {
			t.Errorf("Validate(%+v) = nil, want error", s)
		}
	}
}

func TestWorkspaceBounded(t *testing.T) {
	s := ConvShape{N: 4, C: 8, H: 10, W: 10, M: 8, KH: 3, KW: 3, PadT: 1, PadL: 1, PadB: 1, PadR: 1}
	d := newConvData(s, true, 9)
	ws := NewWorkspace[float64](0)
	y := make([]float64, s.YLen())
	dx, dw := make([]float64, s.XLen()), make([]float64, s.WLen())
	Conv2D(s, d.x, d.w, d.b, y, ws)
	Conv2DBackward(s, d.x, d.w, d.r, dx, dw, nil, ws)
	c := ws.Cap()
	for i := 0; i < 3; i++ {
		Conv2D(s, d.x, d.w, d.b, y, ws)
		Conv2DBackward(s, d.x, d.w, d.r, dx, dw, nil, ws)
	}
	if ws.Cap() != c || ws.Cap() != ws.HighWater() {
		t.Errorf("workspace grew: cap %d → %d, high water %d", c, ws.Cap(), ws.HighWater())
	}
	if a := testing.AllocsPerRun(5, func() { Conv2D(s, d.x, d.w, d.b, y, ws) }); a > 8 {
		t.Errorf("Conv2D allocates %v times per call with a warm workspace", a)
	}
}

// The float32 channel-blocked depthwise path of every assembly level this
// CPU runs (16 lanes for AVX-512, 8 for AVX2) against the portable one,
// with a check that the blocked path is really taken. Channel counts are
// multiples of neither, of 8 only, and of both; widths leave every column
// tail of the assembly loops.
func TestDepthwiseBlockedMatchesPortable(t *testing.T) {
	var levels []isa
	for _, l := range isaLevels() {
		if dwBlkKernelsFor(l) != nil {
			levels = append(levels, l)
		}
	}
	if len(levels) == 0 {
		t.Skip("no depthwise assembly on this build/CPU")
	}
	shapes := []ConvShape{
		{N: 3, C: 20, H: 5, W: 6, M: 20, KH: 3, KW: 3, Group: 20, PadT: 1, PadL: 1, PadB: 1, PadR: 1},
		{N: 2, C: 33, H: 4, W: 4, M: 33, KH: 3, KW: 3, Group: 33, PadT: 1, PadL: 1, PadB: 1, PadR: 1},
		{N: 2, C: 16, H: 9, W: 7, M: 16, KH: 3, KW: 3, Group: 16, PadT: 0, PadL: 2, PadB: 2, PadR: 1},
		{N: 1, C: 5, H: 3, W: 3, M: 5, KH: 3, KW: 3, Group: 5},
		{N: 2, C: 20, H: 8, W: 9, M: 20, KH: 3, KW: 3, Group: 20, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1},
		{N: 2, C: 17, H: 7, W: 7, M: 17, KH: 3, KW: 3, Group: 17, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1},
		{N: 1, C: 16, H: 8, W: 8, M: 16, KH: 3, KW: 3, Group: 16, StrideH: 2, StrideW: 2, PadB: 1, PadR: 1},
		{N: 1, C: 3, H: 6, W: 5, M: 3, KH: 3, KW: 3, Group: 3, StrideH: 2, StrideW: 2},
		{N: 2, C: 24, H: 7, W: 7, M: 24, KH: 3, KW: 3, Group: 24, PadT: 1, PadL: 1, PadB: 1, PadR: 1},
		{N: 1, C: 8, H: 32, W: 32, M: 8, KH: 3, KW: 3, Group: 8, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1},
		{N: 2, C: 40, H: 10, W: 11, M: 40, KH: 3, KW: 3, Group: 40, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1},
	}
	for _, l := range levels {
		t.Run(l.String(), func(t *testing.T) {
			withISA(t, l)
			checkDepthwiseBlocked(t, shapes)
		})
	}
}

func checkDepthwiseBlocked(t *testing.T, shapes []ConvShape) {
	for i, s := range shapes {
		if !useDWBlocked[float32](s.norm(), s.norm().dwGeom()) {
			t.Fatalf("shape %d does not take the blocked path", i)
		}
		forceParallel(t)
		d := newConvData(s, true, uint64(1500+i))
		x, w, b, r := to32(d.x), to32(d.w), to32(d.b), to32(d.r)
		run := func(general bool) (y, dx, dw []float32) {
			generalPaths = general
			defer func() { generalPaths = false }()
			y, dx, dw = make([]float32, s.YLen()), make([]float32, s.XLen()), make([]float32, s.WLen())
			ws := NewWorkspace[float32](0)
			Conv2D(s, x, w, b, y, ws)
			Conv2DBackward(s, x, w, r, dx, dw, nil, ws)
			return
		}
		y1, dx1, dw1 := run(false)
		y2, dx2, dw2 := run(true)
		for _, c := range []struct {
			name string
			a, b []float32
		}{{"y", y1, y2}, {"dx", dx1, dx2}, {"dw", dw1, dw2}} {
			if e := relErr(to64(c.a), to64(c.b)); e > 1e-5 {
				t.Errorf("shape %d: %s differs by %.3g", i, c.name, e)
			}
		}
	}
}

// transpose at every level, element by element, with sizes below, at and
// past multiples of 8 (the assembly does 8×8 tiles, Go the edges).
func TestTranspose(t *testing.T) {
	for _, l := range isaLevels() {
		withISA(t, l)
		for _, sh := range [][2]int{{1, 1}, {8, 8}, {9, 17}, {16, 5}, {5, 16}, {23, 40}} {
			rows, cols := sh[0], sh[1]
			lds, ldd := cols+3, rows+2
			src := to32(randSlice(newRNG(uint64(rows*cols)), rows*lds))
			dst := make([]float32, cols*ldd)
			transpose(dst, ldd, src, lds, rows, cols)
			for j := 0; j < cols; j++ {
				for i := 0; i < ldd; i++ {
					want := float32(0)
					if i < rows {
						want = src[i*lds+j]
					}
					if dst[j*ldd+i] != want {
						t.Fatalf("%v %dx%d: dst[%d,%d] = %v, want %v", l, rows, cols, j, i, dst[j*ldd+i], want)
					}
				}
			}
		}
	}
}

// The transpositions between planes and the blocked layout, element by
// element, for plane sizes below, at and past multiples of 8 (the
// assembly does 8 pixels at a time, Go the rest).
func TestBlkTranspose(t *testing.T) {
	ran := false
	for _, l := range isaLevels() {
		k := dwBlkKernelsFor(l)
		if k == nil {
			continue
		}
		ran = true
		L := k.lanes
		for _, P := range []int{1, 4, 7, 8, 9, 16, 49, 64, 256} {
			planes := to32(randSlice(newRNG(uint64(P)), L*P+3))
			blk := make([]float32, P*L+3)
			k.toBlk(blk, planes, P)
			for p := 0; p < P; p++ {
				for c := 0; c < L; c++ {
					if blk[p*L+c] != planes[c*P+p] {
						t.Fatalf("%v P=%d: toBlk[%d,%d] = %v, want %v", l, P, p, c, blk[p*L+c], planes[c*P+p])
					}
				}
			}
			if blk[P*L] != 0 {
				t.Fatalf("%v P=%d: toBlk wrote past its block", l, P)
			}
			back := make([]float32, L*P+3)
			k.fromBlk(back, blk, P)
			if !slices.Equal(back[:L*P], planes[:L*P]) || back[L*P] != 0 {
				t.Fatalf("%v P=%d: fromBlk(toBlk(x)) != x", l, P)
			}
		}
	}
	if !ran {
		t.Skip("no blocked transposition in assembly on this build/CPU")
	}
}
