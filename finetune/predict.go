package finetune

import (
	"context"
	"fmt"
	"math"

	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
)

// Predict runs a serialized model in onnxruntime over ds and returns the
// top-1 class of every sample (in dataset order; ties go to the lower
// class) and the number of classes. Relabelling data with a reference
// model's predictions (dataset.Relabel) turns accuracy into agreement with
// that model, which is how unlabelled held-out data ranks candidates.
func Predict(ctx context.Context, model []byte, ds dataset.Dataset, opts EvalOptions) ([]int, int, error) {
	pred := make([]int, ds.Len())
	k := 0
	err := RunBatches(ctx, model, ds, opts, func(b *dataset.Batch, outs []ort.Tensor, classes int) error {
		scores, err := outs[0].Float32()
		if err != nil {
			return fmt.Errorf("finetune: predict: %w", err)
		}
		k = classes
		for r := range b.N {
			row := scores[r*classes : (r+1)*classes]
			best := 0
			for j, v := range row {
				if v > row[best] {
					best = j
				}
			}
			pred[b.Indices[r]] = best
		}
		return nil
	})
	return pred, k, err
}

// Wilson95 returns the Wilson score interval of the top-1 accuracy at 95%
// confidence (z = 1.96): the range of true accuracies that a figure from
// N samples is consistent with. Unlike the normal approximation it stays
// inside [0,1] and is sound for a few hundred samples and for accuracies
// near 0 or 1 (Wilson 1927; Brown, Cai and DasGupta 2001).
func (a Accuracy) Wilson95() (lo, hi float64) {
	return Wilson(a.Correct1, a.N, 1.96)
}

// Wilson returns the Wilson score interval of k successes in n trials for
// the normal quantile z; (0, 1) when n is 0.
func Wilson(k, n int, z float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	p, nf := float64(k)/float64(n), float64(n)
	z2 := z * z
	mid := (p + z2/(2*nf)) / (1 + z2/nf)
	half := z / (1 + z2/nf) * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf))
	return max(0, mid-half), min(1, mid+half)
}
