package dataset

import (
	"strconv"
	"strings"
)

// ParsePreprocess parses a preprocessing spec for a channels×height×width
// model input: a preset name (see Preset) followed by ':'-separated
// overrides, for example "imagenet:resize=240" or
// "center-crop:mean=0.5:std=0.5:interp=catmull-rom". Overrides:
//
//	resize=N        scale the shorter side to N, then centre crop
//	resize=none     centre crop without scaling
//	resize=stretch  scale to the output size, no crop
//	mean=A[,B,C]    per-channel mean, or one value for every channel
//	std=A[,B,C]     per-channel std, likewise
//	norm=none       no mean/std normalisation (values in [0,1])
//	interp=NAME     bilinear, catmull-rom, approx-bilinear or nearest
func ParsePreprocess(spec string, channels, height, width int) (Preprocess, error) {
	name, rest, _ := strings.Cut(spec, ":")
	p, err := Preset(name, channels, height, width)
	if err != nil {
		return Preprocess{}, err
	}
	if rest == "" {
		return p, nil
	}
	for _, kv := range strings.Split(rest, ":") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return Preprocess{}, errf("preprocess spec %q: %q is not KEY=VALUE", spec, kv)
		}
		switch k {
		case "resize":
			switch v {
			case "none":
				p.Resize, p.Size = ResizeNone, 0
			case "stretch":
				p.Resize, p.Size = ResizeStretch, 0
			default:
				n, err := strconv.Atoi(v)
				if err != nil || n <= 0 {
					return Preprocess{}, errf("preprocess spec %q: resize=%q is not a positive size, none or stretch", spec, v)
				}
				p.Resize, p.Size = ResizeShorter, n
			}
		case "mean", "std":
			vals, err := floats(v, channels)
			if err != nil {
				return Preprocess{}, errf("preprocess spec %q: %s: %v", spec, k, err)
			}
			if k == "mean" {
				p.Mean = vals
			} else {
				p.Std = vals
			}
		case "norm":
			if v != "none" {
				return Preprocess{}, errf("preprocess spec %q: norm=%q (only norm=none)", spec, v)
			}
			p.Mean, p.Std = nil, nil
		case "interp":
			if p.Interp, err = ParseInterp(v); err != nil {
				return Preprocess{}, err
			}
		default:
			return Preprocess{}, errf("preprocess spec %q: unknown key %q (want resize, mean, std, norm or interp)", spec, k)
		}
	}
	// A mean or std given alone keeps the preset's other half, or a
	// neutral one when the preset has none.
	if p.Mean != nil && p.Std == nil {
		p.Std = repeat(1, channels)
	}
	if p.Std != nil && p.Mean == nil {
		p.Mean = repeat(0, channels)
	}
	return p, p.Validate()
}

// floats parses "A" or "A,B,…" into n values; one value is repeated.
func floats(s string, n int) ([]float32, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 1 && len(parts) != n {
		return nil, errf("%d values for %d channels", len(parts), n)
	}
	out := make([]float32, len(parts))
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 32)
		if err != nil {
			return nil, errf("%q is not a number", p)
		}
		out[i] = float32(f)
	}
	if len(out) == 1 {
		return repeat(out[0], n), nil
	}
	return out, nil
}

func repeat(v float32, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// ParseAugment parses an augmentation spec: "none" (or "") for no
// augmentation, else ':'-separated items, for example "pad=4:flip" or
// "rrc:flip" or "rrc=0.25,1:ratio=0.75,1.333:flip":
//
//	rrc             random-resized-crop with the default ranges
//	rrc=MIN,MAX     random-resized-crop with area fractions in [MIN,MAX]
//	ratio=MIN,MAX   random-resized-crop aspect ratios
//	pad=N           pad-and-random-crop with N pixels of padding
//	flip            random horizontal flip
func ParseAugment(spec string) (*Augment, error) {
	if spec == "" || spec == "none" {
		return nil, nil
	}
	a := &Augment{}
	for _, item := range strings.Split(spec, ":") {
		k, v, hasV := strings.Cut(item, "=")
		var err error
		switch {
		case k == "rrc" && !hasV:
			a.RandomResizedCrop = true
		case k == "rrc":
			a.RandomResizedCrop = true
			a.Scale, err = pair(v)
		case k == "ratio" && hasV:
			a.Ratio, err = pair(v)
		case k == "pad" && hasV:
			a.Pad, err = strconv.Atoi(v)
		case k == "flip" && !hasV:
			a.HFlip = true
		default:
			return nil, errf("augment spec %q: unknown item %q (want rrc, rrc=MIN,MAX, ratio=MIN,MAX, pad=N or flip)", spec, item)
		}
		if err != nil {
			return nil, errf("augment spec %q: %s: bad value %q", spec, k, v)
		}
	}
	if _, err := a.withDefaults(); err != nil {
		return nil, err
	}
	return a, nil
}

func pair(s string) ([2]float64, error) {
	a, b, ok := strings.Cut(s, ",")
	if !ok {
		return [2]float64{}, strconv.ErrSyntax
	}
	x, err := strconv.ParseFloat(a, 64)
	if err != nil {
		return [2]float64{}, err
	}
	y, err := strconv.ParseFloat(b, 64)
	return [2]float64{x, y}, err
}
