package dataset

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"golang.org/x/image/draw"
)

// Resize says how an image is scaled before the centre crop to the output
// size.
type Resize int

const (
	// ResizeNone does not scale: the centre Height×Width crop is taken
	// from the image as it is, padded with black where the image is
	// smaller.
	ResizeNone Resize = iota
	// ResizeShorter scales the image, keeping its aspect ratio, so that its
	// shorter side is Preprocess.Size (the longer side is truncated to an
	// integer, as torchvision's Resize does), then takes the centre crop.
	ResizeShorter
	// ResizeStretch scales the image to exactly Height×Width, ignoring
	// its aspect ratio; an image of that size already is left alone.
	ResizeStretch
)

func (r Resize) String() string {
	switch r {
	case ResizeNone:
		return "none"
	case ResizeShorter:
		return "shorter"
	case ResizeStretch:
		return "stretch"
	}
	return fmt.Sprintf("Resize(%d)", int(r))
}

// Interp is the resampling filter used for scaling; all come from
// golang.org/x/image/draw.
type Interp int

const (
	// BiLinear is draw.BiLinear, a tent kernel that widens when shrinking
	// (antialiased, like PIL's and torchvision's bilinear resize).
	BiLinear Interp = iota
	// CatmullRom is draw.CatmullRom: sharper, slower.
	CatmullRom
	// ApproxBiLinear is draw.ApproxBiLinear: fast, not antialiased.
	ApproxBiLinear
	// NearestNeighbor is draw.NearestNeighbor.
	NearestNeighbor
)

func (in Interp) String() string {
	switch in {
	case BiLinear:
		return "bilinear"
	case CatmullRom:
		return "catmull-rom"
	case ApproxBiLinear:
		return "approx-bilinear"
	case NearestNeighbor:
		return "nearest"
	}
	return fmt.Sprintf("Interp(%d)", int(in))
}

// ParseInterp parses an Interp name as printed by its String method.
func ParseInterp(s string) (Interp, error) {
	for in := BiLinear; in <= NearestNeighbor; in++ {
		if in.String() == s {
			return in, nil
		}
	}
	return 0, errf("unknown interpolation %q (want bilinear, catmull-rom, approx-bilinear or nearest)", s)
}

// Preprocess turns a decoded image into a Channels×Height×Width float32
// tensor (CHW, RGB order for 3 channels). The output size comes from the
// model's input shape. Steps, in order:
//
//  1. resize as Resize says (Size is the shorter side for ResizeShorter);
//  2. centre crop to Height×Width at offset ⌊(size−crop)/2⌋, padding
//     with black when the image is smaller;
//  3. channels: a grayscale image given to a 3-channel model is replicated
//     into R, G and B; a colour image given to a 1-channel model becomes
//     its luma (ITU-R 601 weights in 16-bit fixed point, as Pillow's
//     convert("L"));
//  4. scale to [0,1] by /255, then (x−Mean[c])/Std[c] when Mean and Std
//     are set.
//
// Chroma-subsampled JPEGs are converted to RGB as libjpeg (PIL) does,
// not as image/draw does; see fancyYCbCr. Transparent pixels are
// composited onto black.
type Preprocess struct {
	Channels, Height, Width int
	Resize                  Resize
	Size                    int       // shorter side for ResizeShorter
	Mean, Std               []float32 // per channel; both nil for none
	Interp                  Interp
}

var (
	imagenetMean = []float32{0.485, 0.456, 0.406}
	imagenetStd  = []float32{0.229, 0.224, 0.225}
)

// presets lists the names Preset accepts.
var presets = []string{"imagenet", "center-crop", "none"}

// PresetNames returns the names Preset accepts.
func PresetNames() []string { return slices.Clone(presets) }

// Preset returns a named preprocessing for a channels×height×width model
// input:
//
//   - "imagenet": the standard evaluation protocol scaled to the input
//     size: resize the shorter side to round(256·height/224), centre crop
//     height×width, ImageNet mean (0.485,0.456,0.406) and std
//     (0.229,0.224,0.225).
//   - "center-crop": no resize, centre crop height×width, ImageNet mean
//     and std. This is imagenet-mini's reference protocol (224×224 centre
//     of its 227×227 images, which gives top-1 79.31% with its
//     MobileNetV2).
//   - "none": scale to [0,1] only, stretching the image to height×width
//     when its size differs.
//
// For a 1-channel model the ImageNet presets use the averages of the three
// means (0.449) and stds (0.226). Fields may be overridden afterwards.
func Preset(name string, channels, height, width int) (Preprocess, error) {
	p := Preprocess{Channels: channels, Height: height, Width: width}
	switch name {
	case "imagenet":
		p.Resize = ResizeShorter
		p.Size = int(math.Round(256 * float64(height) / 224))
	case "center-crop":
		p.Resize = ResizeNone
	case "none":
		p.Resize = ResizeStretch
	default:
		return Preprocess{}, errf("unknown preprocessing preset %q (want %s)", name, strings.Join(presets, ", "))
	}
	if name != "none" {
		if channels == 1 {
			p.Mean, p.Std = []float32{0.449}, []float32{0.226}
		} else {
			p.Mean, p.Std = slices.Clone(imagenetMean), slices.Clone(imagenetStd)
		}
	}
	return p, p.Validate()
}

// Validate reports whether p describes a preprocessing it can do.
func (p Preprocess) Validate() error {
	switch {
	case p.Channels != 1 && p.Channels != 3:
		return errf("preprocess: %d channels (want 1 or 3)", p.Channels)
	case p.Height <= 0 || p.Width <= 0 || p.Height > 1<<14 || p.Width > 1<<14:
		return errf("preprocess: bad output size %d×%d", p.Height, p.Width)
	case p.Resize < ResizeNone || p.Resize > ResizeStretch:
		return errf("preprocess: unknown resize mode %d", int(p.Resize))
	case p.Resize == ResizeShorter && (p.Size <= 0 || p.Size > 1<<14):
		return errf("preprocess: bad shorter-side size %d", p.Size)
	case p.Interp < BiLinear || p.Interp > NearestNeighbor:
		return errf("preprocess: unknown interpolation %d", int(p.Interp))
	case (p.Mean == nil) != (p.Std == nil):
		return errf("preprocess: mean and std must be set together")
	case p.Mean != nil && (len(p.Mean) != p.Channels || len(p.Std) != p.Channels):
		return errf("preprocess: %d means and %d stds for %d channels", len(p.Mean), len(p.Std), p.Channels)
	}
	for _, s := range p.Std {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return errf("preprocess: std %v is not positive and finite", s)
		}
	}
	for _, m := range p.Mean {
		if math.IsNaN(float64(m)) || math.IsInf(float64(m), 0) {
			return errf("preprocess: mean %v is not finite", m)
		}
	}
	return nil
}

// SampleLen is the number of floats of one preprocessed sample, C·H·W.
func (p Preprocess) SampleLen() int { return p.Channels * p.Height * p.Width }

// Apply preprocesses one image into dst, which must hold SampleLen floats,
// without augmentation. It is a convenience for single images; the Loader
// reuses its buffers instead.
func (p Preprocess) Apply(img image.Image, dst []float32) error {
	pl, err := newPipeline(p, nil)
	if err != nil {
		return err
	}
	if len(dst) != p.SampleLen() {
		return errf("preprocess: output has %d floats, want %d", len(dst), p.SampleLen())
	}
	w := pl.newWorker()
	w.transform(img, nil, dst)
	return nil
}

// pipeline is a validated Preprocess and Augment with precomputed tables;
// it is shared, read-only, by all workers.
type pipeline struct {
	p   Preprocess
	aug Augment
	on  bool            // augmentation enabled
	lut [3][256]float32 // output value per channel and 8-bit input value
}

func newPipeline(p Preprocess, a *Augment) (*pipeline, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	pl := &pipeline{p: p}
	if a != nil {
		aug, err := a.withDefaults()
		if err != nil {
			return nil, err
		}
		pl.aug, pl.on = aug, true
	}
	for c := range p.Channels {
		for v := range 256 {
			x := float64(v) / 255
			if p.Mean != nil {
				x = (x - float64(p.Mean[c])) / float64(p.Std[c])
			}
			pl.lut[c][v] = float32(x)
		}
	}
	return pl, nil
}

// worker is the per-goroutine state of a pipeline: buffers and caches
// reused from sample to sample.
type worker struct {
	pl     *pipeline
	sc     Scratch
	mid    *image.RGBA // Height×Width after resize/crop, before pad-crop/flip
	scaler draw.Scaler // cached for the sizes in skey
	skey   [4]int
	pcg    rand.PCG
	rng    *rand.Rand  // over pcg
	full   *image.RGBA // a whole JPEG converted by fancyYCbCr
	cb, cr []int32     // fancyYCbCr's row buffers
}

func (pl *pipeline) newWorker() *worker {
	w := &worker{pl: pl, mid: image.NewRGBA(image.Rect(0, 0, pl.p.Width, pl.p.Height))}
	w.rng = rand.New(&w.pcg)
	return w
}

// seedSample seeds the worker's generator for sample i of epoch e.
func (w *worker) seedSample(seed uint64, epoch, i int) *rand.Rand {
	w.pcg.Seed(seed, mix64(mix64(uint64(epoch)^0x243f6a8885a308d3)^uint64(i)))
	return w.rng
}

// mix64 is SplitMix64's finaliser.
func mix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// centerOffset is the offset of a centre crop in a dimension d pixels
// larger than the crop: ⌊d/2⌋, as numpy slicing img[(h−c)//2:] and PIL's
// ImageOps.fit do. When d is negative the image is smaller than the crop
// and is padded by ⌊−d/2⌋ before it, as torchvision's CenterCrop pads.
// (torchvision crops at round(d/2), ties to even, one pixel further for
// odd d. imagenet-mini's reference 1031/1300 is reproduced with ⌊d/2⌋ and
// not with round(d/2), which gives 1030.)
func centerOffset(d int) int {
	return d / 2 // Go's division truncates: ⌊d/2⌋ for d ≥ 0, −⌊−d/2⌋ for d < 0
}

// resized returns the size of an sw×sh image after p's resize step.
func (p *Preprocess) resized(sw, sh int) (int, int) {
	switch p.Resize {
	case ResizeShorter:
		if sw <= sh {
			return p.Size, int(float64(p.Size*sh) / float64(sw))
		}
		return int(float64(p.Size*sw) / float64(sh)), p.Size
	case ResizeStretch:
		return p.Width, p.Height
	}
	return sw, sh
}

// transform writes the preprocessed (and, with rng set and augmentation
// on, augmented) img into dst. The random draws are made in a fixed order:
// resized crop, pad offsets, flip.
func (w *worker) transform(img image.Image, rng *rand.Rand, dst []float32) {
	pl := w.pl
	p := &pl.p
	aug := rng != nil && pl.on
	if y, ok := img.(*image.YCbCr); ok {
		if w.full == nil || w.full.Rect != y.Rect {
			// Reuse the pixels when they are large enough: data sets of
			// assorted sizes then allocate only for a new largest image.
			n := 4 * y.Rect.Dx() * y.Rect.Dy()
			var pix []uint8
			if w.full != nil && cap(w.full.Pix) >= n {
				pix = w.full.Pix[:n]
			} else {
				pix = make([]uint8, n)
			}
			w.full = &image.RGBA{Pix: pix, Stride: 4 * y.Rect.Dx(), Rect: y.Rect}
		}
		var done bool
		if done, w.cb, w.cr = fancyYCbCr(w.full, y, w.cb, w.cr); done {
			img = w.full
		}
	}
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	mid := w.mid
	if aug && pl.aug.RandomResizedCrop {
		r := randomResizedCrop(rng, sw, sh, pl.aug.Scale, pl.aug.Ratio).Add(b.Min)
		w.scale(mid, mid.Rect, img, r)
	} else {
		rw, rh := p.resized(sw, sh)
		ox, oy := centerOffset(rw-p.Width), centerOffset(rh-p.Height)
		// dr places the whole resized image so that the crop window
		// lands on mid; the scaler computes only mid's pixels.
		dr := image.Rect(-ox, -oy, rw-ox, rh-oy)
		if !mid.Rect.In(dr) {
			clear(mid.Pix)
		}
		w.scale(mid, dr, img, b)
	}
	px, py, flip := 0, 0, false
	if aug {
		if P := pl.aug.Pad; P > 0 {
			px, py = rng.IntN(2*P+1)-P, rng.IntN(2*P+1)-P
		}
		if pl.aug.HFlip {
			flip = rng.Uint64()&1 == 1
		}
	}
	w.emit(dst, px, py, flip)
}

// scale draws src's sr into dst's dr, resampling when the sizes differ.
func (w *worker) scale(dst *image.RGBA, dr image.Rectangle, src image.Image, sr image.Rectangle) {
	if dr.Dx() == sr.Dx() && dr.Dy() == sr.Dy() {
		draw.Draw(dst, dr, src, sr.Min, draw.Src)
		return
	}
	var k *draw.Kernel
	switch w.pl.p.Interp {
	case BiLinear:
		k = draw.BiLinear
	case CatmullRom:
		k = draw.CatmullRom
	case ApproxBiLinear:
		draw.ApproxBiLinear.Scale(dst, dr, src, sr, draw.Src, nil)
		return
	default:
		draw.NearestNeighbor.Scale(dst, dr, src, sr, draw.Src, nil)
		return
	}
	// A kernel scaler precomputes its weights for one pair of sizes;
	// data sets of equal-sized images reuse one per worker.
	key := [4]int{dr.Dx(), dr.Dy(), sr.Dx(), sr.Dy()}
	if w.scaler == nil || w.skey != key {
		w.scaler, w.skey = k.NewScaler(key[0], key[1], key[2], key[3]), key
	}
	w.scaler.Scale(dst, dr, src, sr, draw.Src, nil)
}

// emit converts mid to floats in dst: mid shifted by (px,py) (zero pixels
// outside, as pad-and-random-crop), mirrored when flip is set.
func (w *worker) emit(dst []float32, px, py int, flip bool) {
	pl := w.pl
	H, W := pl.p.Height, pl.p.Width
	plane := H * W
	pix, stride := w.mid.Pix, w.mid.Stride
	gray := pl.p.Channels == 1
	l0, l1, l2 := &pl.lut[0], &pl.lut[1], &pl.lut[2]
	for y := range H {
		sy := y + py
		rowIn := sy >= 0 && sy < H
		row := dst[y*W : y*W+W]
		for x := range W {
			sx := x
			if flip {
				sx = W - 1 - x
			}
			sx += px
			var r, g, b uint8
			if rowIn && sx >= 0 && sx < W {
				o := sy*stride + 4*sx
				s := pix[o : o+3 : o+3]
				r, g, b = s[0], s[1], s[2]
			}
			if gray {
				row[x] = l0[luma(r, g, b)]
				continue
			}
			i := y*W + x
			dst[i] = l0[r]
			dst[plane+i] = l1[g]
			dst[2*plane+i] = l2[b]
		}
	}
}

// luma is Pillow's RGB→L conversion (its L24 macro): ITU-R 601 weights
// in 16-bit fixed point on 8-bit values. It maps r=g=b=v to v exactly.
func luma(r, g, b uint8) uint8 {
	return uint8((19595*uint32(r) + 38470*uint32(g) + 7471*uint32(b) + 1<<15) >> 16)
}
