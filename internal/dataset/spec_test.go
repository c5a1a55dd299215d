package dataset

import (
	"reflect"
	"testing"
)

func TestParsePreprocess(t *testing.T) {
	in := mustPreset(t, "imagenet", 3, 224, 224)
	cc := mustPreset(t, "center-crop", 3, 224, 224)
	for _, tc := range []struct {
		spec string
		want Preprocess
	}{
		{"imagenet", in},
		{"center-crop", cc},
		{"imagenet:resize=240", func() Preprocess { p := in; p.Size = 240; return p }()},
		{"imagenet:resize=stretch", func() Preprocess { p := in; p.Resize, p.Size = ResizeStretch, 0; return p }()},
		{"imagenet:resize=none:interp=nearest", func() Preprocess {
			p := in
			p.Resize, p.Size, p.Interp = ResizeNone, 0, NearestNeighbor
			return p
		}()},
		{"center-crop:mean=0.5:std=0.25,0.5,1", func() Preprocess {
			p := cc
			p.Mean, p.Std = []float32{0.5, 0.5, 0.5}, []float32{0.25, 0.5, 1}
			return p
		}()},
		{"imagenet:norm=none", func() Preprocess { p := in; p.Mean, p.Std = nil, nil; return p }()},
		{"none:mean=0.5", Preprocess{Channels: 3, Height: 224, Width: 224, Resize: ResizeStretch,
			Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{1, 1, 1}}},
	} {
		got, err := ParsePreprocess(tc.spec, 3, 224, 224)
		if err != nil {
			t.Errorf("%s: %v", tc.spec, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.spec, got, tc.want)
		}
	}
	for _, tc := range []struct{ spec, want string }{
		{"vgg", "unknown preprocessing preset"},
		{"imagenet:resize", "not KEY=VALUE"},
		{"imagenet:resize=-3", "not a positive size"},
		{"imagenet:mean=1,2", "2 values for 3 channels"},
		{"imagenet:std=0", "std 0"},
		{"imagenet:std=x", `"x" is not a number`},
		{"imagenet:mean=NaN", "mean NaN"},
		{"imagenet:norm=minmax", "only norm=none"},
		{"imagenet:interp=lanczos", "lanczos"},
		{"imagenet:crop=200", `unknown key "crop"`},
	} {
		_, err := ParsePreprocess(tc.spec, 3, 224, 224)
		oneLine(t, err, tc.want)
	}
}

func TestParseAugment(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want *Augment
	}{
		{"", nil},
		{"none", nil},
		{"pad=4:flip", &Augment{Pad: 4, HFlip: true}},
		{"rrc", &Augment{RandomResizedCrop: true}},
		{"rrc=0.25,1:ratio=0.5,2:flip", &Augment{RandomResizedCrop: true, Scale: [2]float64{0.25, 1}, Ratio: [2]float64{0.5, 2}, HFlip: true}},
	} {
		got, err := ParseAugment(tc.spec)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %+v, %v; want %+v", tc.spec, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ spec, want string }{
		{"mixup", `unknown item "mixup"`},
		{"flip=yes", `unknown item "flip=yes"`},
		{"pad=x", `bad value "x"`},
		{"pad=-2", "bad padding -2"},
		{"rrc=0.5", `bad value "0.5"`},
		{"rrc=0.9,0.1", "scale range"},
		{"ratio=0,1", "ratio range"},
	} {
		_, err := ParseAugment(tc.spec)
		oneLine(t, err, tc.want)
	}
}
