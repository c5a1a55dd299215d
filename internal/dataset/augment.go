package dataset

import (
	"image"
	"math"
	"math/rand/v2"
)

// Augment is train-time augmentation, applied by a Loader on top of its
// Preprocess. All random choices for sample i in epoch e come from a
// generator seeded with (Loader seed, e, i).
type Augment struct {
	// RandomResizedCrop replaces the Preprocess resize and centre crop: a
	// crop covering a fraction of the image area drawn uniformly from
	// Scale, with aspect ratio (width/height) drawn log-uniformly from
	// Ratio, is scaled to the output size (torchvision's
	// RandomResizedCrop, including its 10 tries and centre fallback).
	RandomResizedCrop bool
	Scale             [2]float64 // area fraction range; zero means {0.08, 1}
	Ratio             [2]float64 // aspect ratio range; zero means {3/4, 4/3}

	// Pad enables pad-and-random-crop: the output-sized image is padded
	// by Pad black pixels on each side and a random output-sized window is
	// taken (torchvision's RandomCrop(size, padding=Pad)). For small images
	// such as 28×28 or 32×32.
	Pad int

	// HFlip mirrors the image left-right with probability 1/2, after the
	// crops.
	HFlip bool
}

// withDefaults fills the zero ranges and validates a.
func (a *Augment) withDefaults() (Augment, error) {
	b := *a
	if b.Scale == [2]float64{} {
		b.Scale = [2]float64{0.08, 1}
	}
	if b.Ratio == [2]float64{} {
		b.Ratio = [2]float64{3.0 / 4, 4.0 / 3}
	}
	switch {
	case !(b.Scale[0] > 0 && b.Scale[0] <= b.Scale[1] && b.Scale[1] <= 1):
		return b, errf("augment: scale range %v not within (0,1] and ordered", b.Scale)
	case !(b.Ratio[0] > 0 && b.Ratio[0] <= b.Ratio[1] && !math.IsInf(b.Ratio[1], 0)):
		return b, errf("augment: ratio range %v not positive and ordered", b.Ratio)
	case b.Pad < 0 || b.Pad > 1<<12:
		return b, errf("augment: bad padding %d", b.Pad)
	}
	return b, nil
}

// randomResizedCrop picks a crop of a w×h image as torchvision's
// RandomResizedCrop.get_params does: up to 10 tries at a random area and
// log-uniform aspect ratio, then a centre crop with the ratio clamped.
func randomResizedCrop(rng *rand.Rand, w, h int, scale, ratio [2]float64) image.Rectangle {
	area := float64(w * h)
	lr0, lr1 := math.Log(ratio[0]), math.Log(ratio[1])
	for range 10 {
		target := area * (scale[0] + rng.Float64()*(scale[1]-scale[0]))
		ar := math.Exp(lr0 + rng.Float64()*(lr1-lr0))
		cw := int(math.Round(math.Sqrt(target * ar)))
		ch := int(math.Round(math.Sqrt(target / ar)))
		if cw > 0 && cw <= w && ch > 0 && ch <= h {
			y := rng.IntN(h - ch + 1)
			x := rng.IntN(w - cw + 1)
			return image.Rect(x, y, x+cw, y+ch)
		}
	}
	cw, ch := w, h
	switch in := float64(w) / float64(h); {
	case in < ratio[0]:
		ch = max(1, int(math.Round(float64(cw)/ratio[0])))
	case in > ratio[1]:
		cw = max(1, int(math.Round(float64(ch)*ratio[1])))
	}
	x, y := (w-cw)/2, (h-ch)/2
	return image.Rect(x, y, x+cw, y+ch)
}
