package pretrained_test

import (
	"context"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/models/pretrained"
)

// TestEmbeddedModel: the embedded model loads, has the documented input and
// output, and is really trained: at least 90% top-1 on the Fashion-MNIST
// test set through onnxruntime.
func TestEmbeddedModel(t *testing.T) {
	m, err := pretrained.Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Graph.Verify(); err != nil {
		t.Fatal(err)
	}
	in, out := m.Graph.Inputs[0].Type.Shape, m.Graph.Outputs[0].Type.Shape
	if got := in.String(); got != "[N 1 32 32]" {
		t.Errorf("input shape %s", got)
	}
	if got := out.String(); got != "[N 10]" {
		t.Errorf("output shape %s", got)
	}
	sp, err := dataset.Open("/usr/share/datasets/fashion-mnist")
	if err != nil {
		t.Fatalf("%v (run ./scripts/setup)", err)
	}
	acc, err := finetune.Evaluate(context.Background(), pretrained.Bytes(), sp.Test, finetune.EvalOptions{Batch: 250})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Fashion-MNIST test: %v", acc)
	if acc.N != 10000 || acc.Top1 < 0.90 {
		t.Errorf("test accuracy %v, want ≥ 90%% on 10000 images", acc)
	}
}
