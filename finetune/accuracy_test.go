package finetune

import (
	"math"
	"testing"
)

// TestAccuracyLoss: Loss is the mean cross-entropy of the softmax at the
// labels, a dead network's NaN scores count as maxImageLoss, and top-1
// ties between models that Loss tells apart.
func TestAccuracyLoss(t *testing.T) {
	nan := float32(math.NaN())
	for _, tc := range []struct {
		name   string
		logits []float32
		labels []int32
		top1   float64
		loss   float64
	}{
		{"uniform", []float32{0, 0, 0, 0, 0, 0}, []int32{0, 2}, 0.5, math.Log(3)},
		{"confident", []float32{10, 0, 0, 0, 0, 10}, []int32{0, 2}, 1, -math.Log(math.Exp(10) / (math.Exp(10) + 2))},
		{"less confident, same top-1", []float32{2, 0, 0, 0, 0, 2}, []int32{0, 2}, 1, -math.Log(math.Exp(2) / (math.Exp(2) + 2))},
		{"dead", []float32{nan, nan, nan, 0, 0, 0}, []int32{1, 1}, 0, (maxImageLoss + math.Log(3)) / 2},
	} {
		var a Accuracy
		a.add(2, 3, tc.logits, tc.labels)
		a.finish()
		if a.Top1 != tc.top1 || math.Abs(a.Loss-tc.loss) > 1e-9 {
			t.Errorf("%s: top-1 %v, loss %.9f; want %v, %.9f", tc.name, a.Top1, a.Loss, tc.top1, tc.loss)
		}
	}
}
