package dataset

import (
	"encoding/hex"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	xdraw "golang.org/x/image/draw"
)

// norm is the expected output for 8-bit value v in channel c.
func norm(p Preprocess, c int, v uint8) float32 {
	x := float64(v) / 255
	if p.Mean != nil {
		x = (x - float64(p.Mean[c])) / float64(p.Std[c])
	}
	return float32(x)
}

func mustPreset(t testing.TB, name string, c, h, w int) Preprocess {
	t.Helper()
	p, err := Preset(name, c, h, w)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// apply decodes file path (or uses img) and preprocesses it.
func apply(t testing.TB, p Preprocess, img image.Image) []float32 {
	t.Helper()
	out := make([]float32, p.SampleLen())
	if err := p.Apply(img, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPreprocessSolid checks that a solid image comes out as the exact
// normalised colour, through files on disk, for every preset and channel
// conversion.
func TestPreprocessSolid(t *testing.T) {
	rgb := color.NRGBA{200, 100, 50, 255}
	lumaRGB := luma(200, 100, 50)
	for _, tc := range []struct {
		name   string
		img    image.Image
		jpeg   bool
		pre    Preprocess
		expect [3]uint8 // per output channel
		tol    float64  // in units of 1/255 before normalisation
	}{
		{"imagenet rgb", solid(40, 30, rgb), false, mustPreset(t, "imagenet", 3, 16, 16), [3]uint8{200, 100, 50}, 0},
		{"imagenet upscale", solid(5, 7, rgb), false, mustPreset(t, "imagenet", 3, 16, 16), [3]uint8{200, 100, 50}, 0},
		{"center-crop rgb", solid(9, 8, rgb), false, mustPreset(t, "center-crop", 3, 6, 6), [3]uint8{200, 100, 50}, 0},
		{"none rgb to gray", solid(40, 30, rgb), false, mustPreset(t, "none", 1, 16, 16), [3]uint8{lumaRGB}, 0},
		{"imagenet gray to rgb", solid(12, 12, color.Gray{77}), false, mustPreset(t, "imagenet", 3, 8, 8), [3]uint8{77, 77, 77}, 0},
		{"none gray to gray", solid(28, 28, color.Gray{131}), false, mustPreset(t, "none", 1, 32, 32), [3]uint8{131}, 0},
		{"catmull-rom", solid(40, 30, rgb), false, func() Preprocess {
			p := mustPreset(t, "imagenet", 3, 16, 16)
			p.Interp = CatmullRom
			return p
		}(), [3]uint8{200, 100, 50}, 0},
		// Go's encoder and decoder round a solid colour within a level.
		{"jpeg rgb", solid(33, 31, rgb), true, mustPreset(t, "imagenet", 3, 16, 16), [3]uint8{200, 100, 50}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "c", "img.png")
			if tc.jpeg {
				path = filepath.Join(dir, "c", "img.jpg")
				writeJPEG(t, path, tc.img)
			} else {
				writePNG(t, path, tc.img)
			}
			f, err := OpenFolder(dir)
			if err != nil {
				t.Fatal(err)
			}
			img, err := f.Image(0, nil)
			if err != nil {
				t.Fatal(err)
			}
			out := apply(t, tc.pre, img)
			plane := tc.pre.Height * tc.pre.Width
			for c := range tc.pre.Channels {
				want := norm(tc.pre, c, tc.expect[c])
				tol := float32(tc.tol / 255)
				if tc.pre.Std != nil {
					tol /= tc.pre.Std[c]
				}
				for i, v := range out[c*plane : (c+1)*plane] {
					if d := v - want; d > tol || d < -tol {
						t.Fatalf("channel %d value %d = %v, want %v ± %v", c, i, v, want, tol)
					}
				}
			}
		})
	}
}

// TestCenterCropPixels checks which source pixel lands where.
func TestCenterCropPixels(t *testing.T) {
	for _, tc := range []struct {
		name         string
		sw, sh       int
		h, w         int
		resize       Resize
		offX, offY   int // output (x,y) shows source (x+offX, y+offY)
		zeroOutsideS bool
	}{
		{"odd margins", 11, 9, 5, 4, ResizeNone, 3, 2, false},
		{"imagenet-mini 227 to 224", 227, 227, 224, 224, ResizeNone, 1, 1, false},
		{"even margins", 10, 10, 6, 6, ResizeNone, 2, 2, false},
		{"smaller: padded", 3, 2, 4, 5, ResizeNone, -1, -1, true},
		{"stretch same size", 7, 5, 5, 7, ResizeStretch, 0, 0, false},
		{"shorter same size", 7, 5, 5, 5, ResizeShorter, 1, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Preprocess{Channels: 3, Height: tc.h, Width: tc.w, Resize: tc.resize, Size: min(tc.sw, tc.sh)}
			src := coords(tc.sw, tc.sh)
			out := apply(t, p, src)
			plane := tc.h * tc.w
			for y := range tc.h {
				for x := range tc.w {
					sx, sy := x+tc.offX, y+tc.offY
					var want color.NRGBA
					if image.Pt(sx, sy).In(src.Rect) {
						want = src.NRGBAAt(sx, sy)
					} else if !tc.zeroOutsideS {
						t.Fatalf("test case reads outside the source at %d,%d", sx, sy)
					}
					for c, v := range []uint8{want.R, want.G, want.B} {
						if got := out[c*plane+y*tc.w+x]; got != norm(p, c, v) {
							t.Fatalf("out[%d][%d][%d] = %v, want %v (source %d,%d)", c, y, x, got, norm(p, c, v), sx, sy)
						}
					}
				}
			}
		})
	}
}

func TestResizedSize(t *testing.T) {
	for _, tc := range []struct {
		p              Preprocess
		sw, sh, rw, rh int
	}{
		{Preprocess{Resize: ResizeShorter, Size: 256}, 500, 375, 341, 256},
		{Preprocess{Resize: ResizeShorter, Size: 256}, 375, 500, 256, 341},
		{Preprocess{Resize: ResizeShorter, Size: 256}, 227, 227, 256, 256},
		{Preprocess{Resize: ResizeShorter, Size: 37}, 28, 28, 37, 37},
		{Preprocess{Resize: ResizeStretch, Height: 32, Width: 30}, 28, 28, 30, 32},
		{Preprocess{Resize: ResizeNone}, 28, 27, 28, 27},
	} {
		if rw, rh := tc.p.resized(tc.sw, tc.sh); rw != tc.rw || rh != tc.rh {
			t.Errorf("%v %d: %d×%d → %d×%d, want %d×%d", tc.p.Resize, tc.p.Size, tc.sw, tc.sh, rw, rh, tc.rw, tc.rh)
		}
	}
	if p := mustPreset(t, "imagenet", 3, 224, 224); p.Size != 256 {
		t.Errorf("imagenet preset at 224: shorter side %d, want 256", p.Size)
	}
	if p := mustPreset(t, "imagenet", 3, 32, 32); p.Size != 37 {
		t.Errorf("imagenet preset at 32: shorter side %d, want 37 (256·32/224 = 36.6)", p.Size)
	}
}

// TestResizeThenCrop checks that scaling straight into the crop window
// gives exactly what resizing the whole image and then cropping gives.
func TestResizeThenCrop(t *testing.T) {
	for _, tc := range []struct {
		sw, sh, size, h, w int
		interp             Interp
	}{
		{30, 20, 12, 10, 10, BiLinear},
		{20, 31, 15, 9, 12, CatmullRom},
		{64, 64, 40, 32, 32, ApproxBiLinear},
		{13, 17, 29, 20, 24, NearestNeighbor},
	} {
		src := coords(tc.sw, tc.sh)
		p := Preprocess{Channels: 3, Height: tc.h, Width: tc.w, Resize: ResizeShorter, Size: tc.size, Interp: tc.interp}
		out := apply(t, p, src)
		rw, rh := p.resized(tc.sw, tc.sh)
		full := image.NewRGBA(image.Rect(0, 0, rw, rh))
		filter := map[Interp]xdraw.Interpolator{BiLinear: xdraw.BiLinear, CatmullRom: xdraw.CatmullRom,
			ApproxBiLinear: xdraw.ApproxBiLinear, NearestNeighbor: xdraw.NearestNeighbor}[tc.interp]
		filter.Scale(full, full.Rect, src, src.Rect, xdraw.Src, nil)
		ox, oy := (rw-tc.w)/2, (rh-tc.h)/2
		plane := tc.h * tc.w
		for y := range tc.h {
			for x := range tc.w {
				px := full.RGBAAt(x+ox, y+oy)
				for c, v := range []uint8{px.R, px.G, px.B} {
					if got := out[c*plane+y*tc.w+x]; got != norm(p, c, v) {
						t.Fatalf("%v %d×%d→%d: out[%d][%d][%d] = %v, want %v", tc.interp, tc.sw, tc.sh, tc.size, c, y, x, got, norm(p, c, v))
					}
				}
			}
		}
	}
}

func TestLumaKeepsGray(t *testing.T) {
	for v := range 256 {
		if got := luma(uint8(v), uint8(v), uint8(v)); got != uint8(v) {
			t.Fatalf("luma(%d,%d,%d) = %d", v, v, v, got)
		}
		// Pillow's L24 on 8-bit values; image/color rounds on 16-bit
		// values, which can differ by one level.
		r, g, b := uint8(v), uint8(v*7), 255-uint8(v)
		pil := uint8((int(r)*19595 + int(g)*38470 + int(b)*7471 + 0x8000) >> 16)
		if got := luma(r, g, b); got != pil {
			t.Fatalf("luma(%d,%d,%d) = %d, Pillow gives %d", r, g, b, got, pil)
		}
		if d := absDiff(pil, color.GrayModel.Convert(color.RGBA{r, g, b, 255}).(color.Gray).Y); d > 1 {
			t.Fatalf("luma(%d,%d,%d) is %d levels from image/color's", r, g, b, d)
		}
	}
}

func TestPresetAndValidateErrors(t *testing.T) {
	if _, err := Preset("resnet", 3, 224, 224); err == nil {
		t.Error("unknown preset accepted")
	} else {
		oneLine(t, err, "resnet", "imagenet")
	}
	base := mustPreset(t, "imagenet", 3, 224, 224)
	for _, tc := range []struct {
		name string
		mod  func(*Preprocess)
		want string
	}{
		{"two channels", func(p *Preprocess) { p.Channels = 2 }, "2 channels"},
		{"zero height", func(p *Preprocess) { p.Height = 0 }, "output size"},
		{"no size", func(p *Preprocess) { p.Size = 0 }, "shorter-side"},
		{"mean only", func(p *Preprocess) { p.Std = nil }, "together"},
		{"short mean", func(p *Preprocess) { p.Mean = p.Mean[:2] }, "2 means"},
		{"zero std", func(p *Preprocess) { p.Std = []float32{1, 0, 1} }, "std 0"},
		{"NaN std", func(p *Preprocess) { p.Std = []float32{1, float32(math.NaN()), 1} }, "std NaN"},
		{"bad interp", func(p *Preprocess) { p.Interp = 9 }, "interpolation"},
		{"bad resize", func(p *Preprocess) { p.Resize = -1 }, "resize mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := base
			p.Mean, p.Std = append([]float32(nil), base.Mean...), append([]float32(nil), base.Std...)
			tc.mod(&p)
			oneLine(t, p.Validate(), tc.want)
		})
	}
	if err := p1(t).Validate(); err != nil {
		t.Error(err)
	}
	if in, err := ParseInterp("catmull-rom"); err != nil || in != CatmullRom {
		t.Errorf("ParseInterp: %v %v", in, err)
	}
	if _, err := ParseInterp("lanczos"); err == nil {
		t.Error("ParseInterp accepted lanczos")
	}
}

func p1(t *testing.T) Preprocess { return mustPreset(t, "imagenet", 1, 28, 28) }

// TestEmitPadFlip checks the pad-crop offset and flip arithmetic against
// torchvision's order: pad, crop at (j,i) in the padded image, then flip.
func TestEmitPadFlip(t *testing.T) {
	const W, H = 5, 4
	p := Preprocess{Channels: 3, Height: H, Width: W, Resize: ResizeNone}
	pl, err := newPipeline(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := pl.newWorker()
	src := coords(W, H)
	for y := range H {
		for x := range W {
			c := src.NRGBAAt(x, y)
			w.mid.SetRGBA(x, y, color.RGBA{c.R, c.G, c.B, 255})
		}
	}
	for _, tc := range []struct {
		px, py int
		flip   bool
	}{{0, 0, false}, {0, 0, true}, {2, -1, false}, {-2, 1, true}, {-4, 3, false}} {
		out := make([]float32, p.SampleLen())
		w.emit(out, tc.px, tc.py, tc.flip)
		for y := range H {
			for x := range W {
				cx := x
				if tc.flip {
					cx = W - 1 - x
				}
				sx, sy := cx+tc.px, y+tc.py
				var want color.NRGBA
				if sx >= 0 && sx < W && sy >= 0 && sy < H {
					want = src.NRGBAAt(sx, sy)
				}
				if got := out[y*W+x]; got != norm(p, 0, want.R) {
					t.Fatalf("%+v: out[0][%d][%d] = %v, want %v", tc, y, x, got, norm(p, 0, want.R))
				}
				if got := out[2*H*W+y*W+x]; got != norm(p, 2, want.B) {
					t.Fatalf("%+v: out[2][%d][%d] = %v, want %v", tc, y, x, got, norm(p, 2, want.B))
				}
			}
		}
	}
}

// TestAugmentIsShiftAndFlip checks that pad-crop+flip outputs are always
// a shift within ±Pad, possibly mirrored, of the plain output, and that
// the draws cover the range.
func TestAugmentIsShiftAndFlip(t *testing.T) {
	const pad = 2
	ds := memIDX(200, 6, 7, func(i int) int { return i % 3 })
	p := mustPreset(t, "none", 1, 6, 7)
	pl, err := newPipeline(p, &Augment{Pad: pad, HFlip: true})
	if err != nil {
		t.Fatal(err)
	}
	w := pl.newWorker()
	seen := map[[3]int]bool{}
	for i := range ds.Len() {
		img, _ := ds.Image(i, nil)
		plain := apply(t, p, img)
		got := make([]float32, p.SampleLen())
		w.transform(img, w.seedSample(42, 3, i), got)
		found := false
		for py := -pad; py <= pad && !found; py++ {
			for px := -pad; px <= pad && !found; px++ {
				for _, flip := range []bool{false, true} {
					if shifted(plain, 7, 6, px, py, flip, norm(p, 0, 0)) == string(f32bytes(got)) {
						found = true
						seen[[3]int{px, py, b2i(flip)}] = true
						break
					}
				}
			}
		}
		if !found {
			t.Fatalf("sample %d: augmented output is no shift/flip of the plain one", i)
		}
	}
	if len(seen) < 30 { // of 5·5·2 = 50 combinations, 200 draws
		t.Errorf("only %d of 50 shift/flip combinations drawn in 200 samples", len(seen))
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func shifted(plain []float32, W, H, px, py int, flip bool, zero float32) string {
	out := make([]float32, len(plain))
	for y := range H {
		for x := range W {
			cx := x
			if flip {
				cx = W - 1 - x
			}
			sx, sy := cx+px, y+py
			v := zero
			if sx >= 0 && sx < W && sy >= 0 && sy < H {
				v = plain[sy*W+sx]
			}
			out[y*W+x] = v
		}
	}
	return string(f32bytes(out))
}

func f32bytes(f []float32) []byte {
	b := make([]byte, 0, 4*len(f))
	for _, v := range f {
		u := math.Float32bits(v)
		b = append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
	}
	return b
}

func TestRandomResizedCropParams(t *testing.T) {
	scale, ratio := [2]float64{0.08, 1}, [2]float64{3.0 / 4, 4.0 / 3}
	for _, tc := range []struct{ w, h int }{{100, 100}, {227, 227}, {300, 40}, {40, 300}, {1, 1}, {3, 2}} {
		rng := rand.New(rand.NewPCG(1, uint64(tc.w*1000+tc.h)))
		inRange := 0
		for range 500 {
			r := randomResizedCrop(rng, tc.w, tc.h, scale, ratio)
			if r.Empty() || !r.In(image.Rect(0, 0, tc.w, tc.h)) {
				t.Fatalf("%d×%d: crop %v outside the image", tc.w, tc.h, r)
			}
			// Rounding to whole pixels moves area and ratio a little.
			a := float64(r.Dx()*r.Dy()) / float64(tc.w*tc.h)
			ar := float64(r.Dx()) / float64(r.Dy())
			if a >= scale[0]*0.8 && a <= scale[1] && ar >= ratio[0]*0.8 && ar <= ratio[1]*1.25 {
				inRange++
			}
		}
		if tc.w >= 100 && tc.h >= 100 && inRange != 500 {
			t.Errorf("%d×%d: %d of 500 crops within the scale and ratio ranges", tc.w, tc.h, inRange)
		}
	}
	// An image far wider than the ratio range falls back to a centre crop
	// with the ratio clamped when no try fits.
	r := randomResizedCrop(rand.New(rand.NewPCG(1, 2)), 400, 10, [2]float64{0.9, 1}, ratio)
	if r != image.Rect(193, 0, 206, 10) {
		t.Errorf("fallback crop %v, want (193,0)-(206,10)", r)
	}
	a := Augment{Scale: [2]float64{0.5, 0.2}}
	if _, err := a.withDefaults(); err == nil {
		t.Error("reversed scale range accepted")
	}
}

// TestFancyYCbCrMatchesPIL compares JPEG colour conversion with what
// Pillow (libjpeg-turbo) decodes from the same files (testdata/README.md).
func TestFancyYCbCrMatchesPIL(t *testing.T) {
	for _, name := range []string{"pil420", "pil422"} {
		t.Run(name, func(t *testing.T) {
			img, err := decodeFile(filepath.Join("testdata", name+".jpg"), nil)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := os.ReadFile(filepath.Join("testdata", name+".rgb"))
			if err != nil {
				t.Fatal(err)
			}
			y, ok := img.(*image.YCbCr)
			if !ok {
				t.Fatalf("decoded %T, want *image.YCbCr", img)
			}
			fancy := image.NewRGBA(y.Rect)
			if ok, _, _ := fancyYCbCr(fancy, y, nil, nil); !ok {
				t.Fatalf("fancyYCbCr refused %v", y.SubsampleRatio)
			}
			plain := image.NewRGBA(y.Rect)
			xdraw.Draw(plain, plain.Rect, y, image.Point{}, xdraw.Src)
			// The IDCTs of Go and libjpeg differ by a level or two; the
			// chroma upsampling, when not libjpeg's, by much more.
			if d := maxDiff(fancy, ref, y.Rect); d > 2 {
				t.Errorf("fancy conversion differs from Pillow by up to %d levels, want ≤ 2", d)
			}
			if d := maxDiff(plain, ref, y.Rect); d < 20 {
				t.Errorf("image/draw conversion differs from Pillow by only %d levels; the test image does not exercise chroma upsampling", d)
			}
		})
	}
}

func maxDiff(img *image.RGBA, ref []byte, r image.Rectangle) int {
	m := 0
	for y := range r.Dy() {
		for x := range r.Dx() {
			for c := range 3 {
				d := int(img.Pix[y*img.Stride+4*x+c]) - int(ref[(y*r.Dx()+x)*3+c])
				m = max(m, d, -d)
			}
		}
	}
	return m
}

func TestFancyYCbCrSolid(t *testing.T) {
	for _, ratio := range []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio422} {
		for _, size := range []image.Point{{1, 1}, {2, 2}, {5, 3}, {16, 9}} {
			src := image.NewYCbCr(image.Rectangle{Max: size}, ratio)
			yy, cb, cr := uint8(120), uint8(90), uint8(200)
			for i := range src.Y {
				src.Y[i] = yy
			}
			for i := range src.Cb {
				src.Cb[i], src.Cr[i] = cb, cr
			}
			dst := image.NewRGBA(src.Rect)
			if ok, _, _ := fancyYCbCr(dst, src, nil, nil); !ok {
				t.Fatalf("%v %v refused", ratio, size)
			}
			// libjpeg's arithmetic for one pixel.
			want := color.RGBA{
				clamp8(int32(yy) + crR[cr]),
				clamp8(int32(yy) + (cbG[cb]+crG[cr])>>16),
				clamp8(int32(yy) + cbB[cb]), 255}
			// ... which is within a level of image/color's conversion.
			r, g, b := color.YCbCrToRGB(yy, cb, cr)
			if d := max(absDiff(want.R, r), absDiff(want.G, g), absDiff(want.B, b)); d > 1 {
				t.Fatalf("libjpeg tables give %v, image/color %v", want, []uint8{r, g, b})
			}
			for y := range size.Y {
				for x := range size.X {
					if got := dst.RGBAAt(x, y); got != want {
						t.Fatalf("%v %v: pixel %d,%d = %v, want %v", ratio, size, x, y, got, want)
					}
				}
			}
		}
	}
}

func absDiff(a, b uint8) int { return max(int(a)-int(b), int(b)-int(a)) }

// pilBlock is Pillow's RGB decoding of the 8×8 block at (172,112) of
// imagenet-mini's ILSVRC2012_val_00000347.JPEG, the block of the image with
// the strongest chroma detail.
const pilBlock = "f1ee8df8f6a1d4d589dbdd9cc7cd9d757d58bfc5abbcc0affcf477f1ea75fef88af4f08de9e895f6f7b5c5c798cbceaff0db40e9d842eade4cefe359e8de5beee677ebe899878a55d8be11dfc71de9d631e0d12ee2cf33d5c740d0ca6ab5b67ae1c613e4c91ae7d123dfca21d9c322dbc941bcb354a9aa70d1bc2bd5c333c6b728d3c63accbf3cb9b142a4a559abb4899b994cacaa60c1c37abfc57dc9d38ecad89dd0e1bfc0d8caa4b89592a98cbcd6bbb5d1b8aacab3a8cabaa0c4c29bc4ca"

// TestImagenetMiniCenterCrop decodes imagenet-mini images with the
// center-crop preset and compares one block with Pillow's decoding.
func TestImagenetMiniCenterCrop(t *testing.T) {
	f := imagenetMini(t)
	p := mustPreset(t, "center-crop", 3, 224, 224)
	if p.SampleLen() != 3*224*224 {
		t.Fatalf("SampleLen %d", p.SampleLen())
	}
	ref, _ := hex.DecodeString(pilBlock)
	for i := range 3 {
		img, err := f.Image(i, nil)
		if err != nil {
			t.Fatal(err)
		}
		if img.Bounds().Size() != image.Pt(227, 227) {
			t.Fatalf("%s is %v, want 227×227", f.Path(i), img.Bounds())
		}
		out := apply(t, p, img)
		for c := range 3 {
			lo, hi := norm(p, c, 0), norm(p, c, 255)
			for _, v := range out[c*224*224 : (c+1)*224*224] {
				if !(v >= lo && v <= hi) {
					t.Fatalf("%s: channel %d value %v outside [%v,%v]", f.Path(i), c, v, lo, hi)
				}
			}
		}
		if filepath.Base(f.Path(i)) != "ILSVRC2012_val_00000347.JPEG" {
			continue
		}
		// Source (172+x, 112+y) lands at output (171+x, 111+y).
		for y := range 8 {
			for x := range 8 {
				for c := range 3 {
					got := out[c*224*224+(111+y)*224+171+x]
					want := norm(p, c, ref[(y*8+x)*3+c])
					if d := math.Abs(float64(got - want)); d > 3.0/255/float64(p.Std[c])+1e-6 {
						t.Errorf("block pixel %d,%d channel %d = %v, Pillow gives %v", x, y, c, got, want)
					}
				}
			}
		}
	}
}
