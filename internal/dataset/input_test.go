package dataset

import (
	"reflect"
	"strings"
	"testing"
)

// TestInputOf: the layout and size of NCHW and NHWC inputs, and the shapes
// the pipeline cannot feed.
func TestInputOf(t *testing.T) {
	tests := []struct {
		shape []int64
		want  Input
		err   string // substring of the error, "" for none
	}{
		{[]int64{1, 3, 224, 224}, Input{3, 224, 224, false}, ""},
		{[]int64{1, 1, 28, 28}, Input{1, 28, 28, false}, ""},
		{[]int64{1, 224, 160, 3}, Input{3, 224, 160, true}, ""},
		{[]int64{8, 28, 28, 1}, Input{1, 28, 28, true}, ""},
		// Ambiguous: C = 3 and the last dimension 3 too; NCHW wins.
		{[]int64{1, 3, 3, 3}, Input{3, 3, 3, false}, ""},
		// A 1×1-channel-looking NCHW input stays NCHW.
		{[]int64{1, 1, 32, 1}, Input{1, 32, 1, false}, ""},
		{[]int64{1, 5, 32, 32}, Input{}, "5 channels"},
		{[]int64{1, 3, 224}, Input{}, "image batch"},
		{[]int64{1, 3, -1, 224}, Input{}, "no fixed height"},
	}
	for _, tc := range tests {
		got, err := InputOf(tc.shape)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "dataset: ") {
				t.Errorf("%v: error %v, want one with %q", tc.shape, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%v: %+v, %v; want %+v", tc.shape, got, err, tc.want)
		}
	}
}

// TestInputPreprocess: "auto" picks imagenet for photographs and none for
// small or greyscale inputs, keeps overrides, and other specs pass through
// to ParsePreprocess.
func TestInputPreprocess(t *testing.T) {
	photo := Input{Channels: 3, Height: 224, Width: 224}
	tests := []struct {
		in   Input
		spec string
		want func() (Preprocess, error)
		err  string
	}{
		{photo, "auto", func() (Preprocess, error) { return Preset("imagenet", 3, 224, 224) }, ""},
		{Input{Channels: 3, Height: 96, Width: 128}, "auto", func() (Preprocess, error) { return Preset("imagenet", 3, 96, 128) }, ""},
		{Input{Channels: 3, Height: 95, Width: 128}, "auto", func() (Preprocess, error) { return Preset("none", 3, 95, 128) }, ""},
		{Input{Channels: 1, Height: 224, Width: 224}, "auto", func() (Preprocess, error) { return Preset("none", 1, 224, 224) }, ""},
		{Input{Channels: 1, Height: 28, Width: 28, NHWC: true}, "auto", func() (Preprocess, error) { return Preset("none", 1, 28, 28) }, ""},
		{photo, "auto:resize=240", func() (Preprocess, error) { return ParsePreprocess("imagenet:resize=240", 3, 224, 224) }, ""},
		{photo, "center-crop", func() (Preprocess, error) { return Preset("center-crop", 3, 224, 224) }, ""},
		{photo, "auto:bogus=1", nil, "unknown key"},
		{photo, "automatic", nil, "unknown preprocessing preset"},
	}
	for _, tc := range tests {
		got, err := tc.in.Preprocess(tc.spec)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v %q: error %v, want one with %q", tc.in, tc.spec, err, tc.err)
			}
			continue
		}
		want, werr := tc.want()
		if err != nil || werr != nil {
			t.Fatalf("%+v %q: %v (want's error %v)", tc.in, tc.spec, err, werr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%+v %q: %v, want %v", tc.in, tc.spec, got, want)
		}
	}
}
