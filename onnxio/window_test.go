package onnxio_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxpb"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// TestWindow checks ReadWindow's defaults, OutSize and Padding for each
// auto_pad against ONNX's formulas (Conv and pooling operator docs), with
// hand-worked extents.
func TestWindow(t *testing.T) {
	tests := []struct {
		name   string
		kernel []int64
		attrs  []*onnxpb.AttributeProto
		x      int64 // input extent of every spatial axis
		ceil   bool
		out    []int64    // OutSize per axis
		pads   [][2]int64 // Padding per axis
	}{
		{"defaults", []int64{3, 3}, nil, 5, false, []int64{3, 3}, [][2]int64{{0, 0}, {0, 0}}},
		{"explicit pads", []int64{3, 3}, []*onnxpb.AttributeProto{onnxio.AttrInts("pads", []int64{1, 2, 3, 4})}, 5,
			false, []int64{7, 9}, [][2]int64{{1, 3}, {2, 4}}},
		{"empty auto_pad is NOTSET", []int64{3}, []*onnxpb.AttributeProto{onnxio.AttrString("auto_pad", ""), onnxio.AttrInts("pads", []int64{1, 1})}, 5,
			false, []int64{5}, [][2]int64{{1, 1}}},
		{"strides and dilations", []int64{3}, []*onnxpb.AttributeProto{onnxio.AttrInts("strides", []int64{2}), onnxio.AttrInts("dilations", []int64{2})}, 9,
			false, []int64{3}, [][2]int64{{0, 0}}},
		{"SAME_UPPER odd total", []int64{4}, []*onnxpb.AttributeProto{onnxio.AttrString("auto_pad", "SAME_UPPER")}, 5,
			false, []int64{5}, [][2]int64{{1, 2}}},
		{"SAME_LOWER odd total", []int64{4}, []*onnxpb.AttributeProto{onnxio.AttrString("auto_pad", "SAME_LOWER")}, 5,
			false, []int64{5}, [][2]int64{{2, 1}}},
		{"SAME_UPPER stride 2", []int64{3}, []*onnxpb.AttributeProto{onnxio.AttrString("auto_pad", "SAME_UPPER"), onnxio.AttrInts("strides", []int64{2})}, 6,
			false, []int64{3}, [][2]int64{{0, 1}}},
		{"SAME ignores pads", []int64{3}, []*onnxpb.AttributeProto{onnxio.AttrString("auto_pad", "SAME_LOWER"), onnxio.AttrInts("pads", []int64{5, 5})}, 4,
			false, []int64{4}, [][2]int64{{1, 1}}},
		{"VALID ignores pads", []int64{3}, []*onnxpb.AttributeProto{onnxio.AttrString("auto_pad", "VALID"), onnxio.AttrInts("pads", []int64{5, 5})}, 7,
			false, []int64{5}, [][2]int64{{0, 0}}},
		{"ceil_mode", []int64{3}, []*onnxpb.AttributeProto{onnxio.AttrInts("strides", []int64{2})}, 4,
			true, []int64{2}, [][2]int64{{0, 0}}},
		{"ceil_mode: the last window starts in the input", []int64{2}, []*onnxpb.AttributeProto{onnxio.AttrInts("strides", []int64{2}), onnxio.AttrInts("pads", []int64{0, 1})}, 4,
			true, []int64{2}, [][2]int64{{0, 1}}},
		{"floor mode", []int64{2}, []*onnxpb.AttributeProto{onnxio.AttrInts("strides", []int64{2})}, 5,
			false, []int64{2}, [][2]int64{{0, 0}}},
	}
	for _, tc := range tests {
		g := onnxio.NewGraph("g")
		n := g.AddNode("Conv", tc.name, nil, []string{"y"}, tc.attrs...)
		w, err := onnxio.ReadWindow(n, tc.kernel)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var out []int64
		var pads [][2]int64
		for i := range tc.kernel {
			o, err := w.OutSize(i, tc.x, tc.ceil)
			if err != nil {
				t.Errorf("%s: OutSize: %v", tc.name, err)
			}
			b, e := w.Padding(i, tc.x)
			out, pads = append(out, o), append(pads, [2]int64{b, e})
		}
		if !slices.Equal(out, tc.out) || !slices.Equal(pads, tc.pads) {
			t.Errorf("%s: OutSize %v, Padding %v; want %v, %v", tc.name, out, pads, tc.out, tc.pads)
		}
	}
}

// TestReadWindowErrors checks that malformed window attributes are refused
// with a message naming what is wrong.
func TestReadWindowErrors(t *testing.T) {
	tests := []struct {
		kernel []int64
		attr   *onnxpb.AttributeProto
		want   string
	}{
		{[]int64{3, 3}, onnxio.AttrString("auto_pad", "SAME"), "unknown auto_pad"},
		{[]int64{3, 3}, onnxio.AttrInts("strides", []int64{1}), "do not agree in rank"},
		{[]int64{3, 3}, onnxio.AttrInts("pads", []int64{1, 1}), "do not agree in rank"},
		{[]int64{3}, onnxio.AttrInts("strides", []int64{0}), "must be positive"},
		{[]int64{0}, onnxio.AttrInts("strides", []int64{1}), "must be positive"},
		{[]int64{3}, onnxio.AttrInts("dilations", []int64{-1}), "must be positive"},
		{[]int64{3}, onnxio.AttrInts("pads", []int64{-1, 0}), "must not be negative"},
	}
	for _, tc := range tests {
		g := onnxio.NewGraph("g")
		n := g.AddNode("MaxPool", "", nil, []string{"y"}, tc.attr)
		_, err := onnxio.ReadWindow(n, tc.kernel)
		if err == nil || !strings.HasPrefix(err.Error(), "onnxio: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("kernel %v, %s: error %v, want one saying %q", tc.kernel, tc.attr.GetName(), err, tc.want)
		}
	}
	g := onnxio.NewGraph("g")
	w, err := onnxio.ReadWindow(g.AddNode("Conv", "", nil, []string{"y"}, onnxio.AttrString("auto_pad", "VALID")), []int64{5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.OutSize(0, 4, false); err == nil {
		t.Error("OutSize of a VALID window larger than its input: no error")
	}
}
