package finetune

import (
	"context"
	"slices"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
)

// TestSampleBatch: the batch holds the first samples, preprocessed, in the
// input's layout, at the batch size the input allows.
func TestSampleBatch(t *testing.T) {
	ds := fashionSubset(t, 5, true)
	pre, err := dataset.Preset("none", 1, 28, 28)
	if err != nil {
		t.Fatal(err)
	}
	// The reference: the loader's first batch, NCHW.
	ld, err := dataset.NewLoader(ds, dataset.Config{BatchSize: 5, Preprocess: pre})
	if err != nil {
		t.Fatal(err)
	}
	it := ld.Epoch(context.Background(), 0)
	b, err := it.Next()
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(b.X[:5*28*28])
	it.Close()
	for _, tc := range []struct {
		shape, want []int64
		n           int
	}{
		{[]int64{-1, 1, 28, 28}, []int64{3, 1, 28, 28}, 3},
		{[]int64{-1, 1, 28, 28}, []int64{5, 1, 28, 28}, 8}, // only 5 samples
		{[]int64{-1, 28, 28, 1}, []int64{2, 28, 28, 1}, 2}, // NHWC
		{[]int64{7, 1, 28, 28}, []int64{7, 1, 28, 28}, 2},  // fixed batch, zero-padded
	} {
		x, err := SampleBatch(context.Background(), ds, ort.IOInfo{Name: "x", DataType: ort.Float, Shape: tc.shape}, &pre, tc.n)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(x.Shape, tc.want) {
			t.Errorf("%v, n=%d: shape %v, want %v", tc.shape, tc.n, x.Shape, tc.want)
			continue
		}
		got, _ := x.Float32()
		per := 28 * 28
		for i := range int(tc.want[0]) {
			img := got[i*per : (i+1)*per]
			ref := make([]float32, per)
			if i < 5 {
				ref = want[i*per : (i+1)*per]
			}
			if !slices.Equal(img, ref) { // one channel: NHWC and NCHW agree
				t.Errorf("%v, n=%d: sample %d differs from the loader's", tc.shape, tc.n, i)
			}
		}
	}
	if _, err := SampleBatch(context.Background(), ds, ort.IOInfo{DataType: ort.Float, Shape: []int64{-1, 1, -1, 28}}, &pre, 2); err == nil {
		t.Error("an unknown spatial dimension was accepted")
	}
}
