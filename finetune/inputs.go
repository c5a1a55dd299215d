package finetune

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
)

// SampleBatch returns the first n samples of ds as an input for a model
// whose image input is info, preprocessed and laid out (NCHW or NHWC) as
// Evaluate does: a batch of n, or fewer when ds is smaller, for a dynamic
// batch dimension; for a fixed one, that many samples, zero-padded.
func SampleBatch(ctx context.Context, ds dataset.Dataset, info ort.IOInfo, pre *dataset.Preprocess, n int) (ort.Tensor, error) {
	if info.DataType != ort.Float {
		return ort.Tensor{}, fmt.Errorf("finetune: input %s is not float32", info)
	}
	shape := make([]int, len(info.Shape))
	for i, d := range info.Shape {
		shape[i] = int(d)
	}
	if len(shape) > 0 && shape[0] < 0 {
		shape[0] = max(1, min(n, ds.Len()))
	}
	for i, d := range shape {
		if d <= 0 {
			return ort.Tensor{}, fmt.Errorf("finetune: input %s has dimension %d unknown", info, i)
		}
	}
	lay, err := layoutOf(shape)
	if err != nil {
		return ort.Tensor{}, err
	}
	p, err := lay.preprocess(pre)
	if err != nil {
		return ort.Tensor{}, err
	}
	ld, err := dataset.NewLoader(ds, dataset.Config{BatchSize: lay.n, Workers: 1, Preprocess: p})
	if err != nil {
		return ort.Tensor{}, err
	}
	it := ld.Epoch(ctx, 0)
	defer it.Close()
	b, err := it.Next()
	if errors.Is(err, io.EOF) {
		return ort.Tensor{}, errors.New("finetune: the dataset is empty")
	}
	if err != nil {
		return ort.Tensor{}, err
	}
	x := make([]float32, lay.n*lay.c*lay.h*lay.w)
	lay.load(x, b)
	dims := make([]int64, len(shape))
	for i, d := range shape {
		dims[i] = int64(d)
	}
	return ort.NewFloat32(dims, x)
}
