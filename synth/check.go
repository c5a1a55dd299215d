package synth

import (
	"context"
	"fmt"
	"math"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// Mismatch is how far the statistics of a set of images, at the inputs of
// a model's BatchNormalization layers, are from the stored ones, in units
// of the stored deviation σ (floored as in the objective): per layer, the
// mean over channels of |μ̂ − μ|/σ and of |σ̂ − σ|/σ.
type Mismatch struct {
	Layers []LayerMismatch `json:"layers,omitempty"`
	// Mean and Std average the layers' figures; MaxMean and MaxStd are the
	// worst layer's.
	Mean    float64 `json:"mean"`
	Std     float64 `json:"std"`
	MaxMean float64 `json:"max_mean"`
	MaxStd  float64 `json:"max_std"`
}

// LayerMismatch is one layer's part of a Mismatch.
type LayerMismatch struct {
	Layer string  `json:"layer"`
	Mean  float64 `json:"mean"`
	Std   float64 `json:"std"`
}

// Check runs m in onnxruntime over ds, preprocessed by pre, and measures
// the Mismatch of the statistics of the BatchNormalization inputs over the
// whole set.
func Check(ctx context.Context, m *onnxio.Model, ds dataset.Dataset, pre dataset.Preprocess, threads int) (Mismatch, error) {
	var mm Mismatch
	ls := layers(m.Graph)
	if len(ls) == 0 {
		return mm, fmt.Errorf("synth: the model has no BatchNormalization statistics")
	}
	c := m.Clone()
	c.Graph.Outputs = nil
	per := 0
	for _, l := range ls {
		v := c.Graph.Value(l.input)
		c.Graph.Outputs = append(c.Graph.Outputs, v)
		n := 1
		for _, d := range v.Type.Shape[1:] {
			n *= int(max(d.Value, 1))
		}
		per += n
	}
	data, err := onnxio.Encode(c)
	if err != nil {
		return mm, err
	}
	s1, s2, cnt := make([][]float64, len(ls)), make([][]float64, len(ls)), make([]float64, len(ls))
	for i, l := range ls {
		s1[i], s2[i] = make([]float64, len(l.mean)), make([]float64, len(l.mean))
	}
	batch := max(1, min(32, (16<<20)/max(per, 1)))
	err = finetune.RunBatches(ctx, data, ds, finetune.EvalOptions{Batch: batch, Threads: threads, Preprocess: &pre},
		func(b *dataset.Batch, outs []ort.Tensor, _ int) error {
			for i, t := range outs {
				x, err := t.Float32()
				if err != nil {
					return err
				}
				C := len(ls[i].mean)
				hw := len(x) / int(t.Shape[0]) / C
				for n := range b.N {
					for ch := range C {
						for _, v := range x[(n*C+ch)*hw : (n*C+ch+1)*hw] {
							s1[i][ch] += float64(v)
							s2[i][ch] += float64(v) * float64(v)
						}
					}
				}
				cnt[i] += float64(b.N * hw)
			}
			return nil
		})
	if err != nil {
		return mm, err
	}
	for i, l := range ls {
		var dm, ds float64
		for ch := range l.mean {
			mu := s1[i][ch] / cnt[i]
			sd := math.Sqrt(math.Max(s2[i][ch]/cnt[i]-mu*mu, 0))
			dm += math.Abs(mu-l.mean[ch]) / l.std[ch]
			ds += math.Abs(sd-l.std[ch]) / l.std[ch]
		}
		C := float64(len(l.mean))
		lm := LayerMismatch{Layer: l.name, Mean: dm / C, Std: ds / C}
		mm.Layers = append(mm.Layers, lm)
		mm.Mean += lm.Mean / float64(len(ls))
		mm.Std += lm.Std / float64(len(ls))
		mm.MaxMean, mm.MaxStd = math.Max(mm.MaxMean, lm.Mean), math.Max(mm.MaxStd, lm.Std)
	}
	return mm, nil
}
