package ort

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The shared ImageNet-pretrained MobileNetV2, present beside the project in
// development and CI but not in a user's clone.
var mobilenetPath = filepath.Join("..", "..", "..", "shared", "imagenet-mini", "mobilenetv2-1.0.onnx")

func loadMobileNet(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile(mobilenetPath)
	if os.IsNotExist(err) {
		tb.Skipf("%s not present", mobilenetPath)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestMobileNetV2(t *testing.T) {
	s := mustSession(t, loadMobileNet(t), Options{IntraOpThreads: 2})
	in := s.Inputs()
	if len(in) != 1 || in[0].DataType != Float || len(in[0].Shape) != 4 || !slices.Equal(in[0].Shape[1:], []int64{3, 224, 224}) {
		t.Fatalf("Inputs() = %v, want one float [N 3 224 224]", in)
	}
	x, err := RandomInputs(in, 2, 42)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(x)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || !slices.Equal(out[0].Shape, []int64{2, 1000}) {
		t.Fatalf("outputs %v, want one [2 1000]", out)
	}
	logits, _ := out[0].Float32()
	for i, v := range logits {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("logit %d = %v", i, v)
		}
	}
	// The two batch rows had different inputs, so different logits; a
	// second run on the same inputs is bit-identical (sequential CPU run).
	if slices.Equal(logits[:1000], logits[1000:]) {
		t.Error("different images gave identical logits")
	}
	again, err := s.Run(x)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again[0].Data, out[0].Data) {
		t.Error("two runs on the same input differ")
	}
}

// BenchmarkNewSessionMobileNetV2 is the cost of loading a real model
// (including the short-lived session that reads its inputs and outputs).
func BenchmarkNewSessionMobileNetV2(b *testing.B) {
	model := loadMobileNet(b)
	for b.Loop() {
		s, err := NewSession(model, Options{IntraOpThreads: 1})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
