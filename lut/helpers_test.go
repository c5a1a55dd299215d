package lut

import (
	"time"

	"github.com/onnx-adapt/onnx-adapt/internal/measure"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxcheck"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
)

// Tests that run onnxruntime fail, never skip, when the library cannot be
// loaded: run ./scripts/setup.

// runOnce loads a serialized model in onnxruntime and runs it once on
// random inputs.
func runOnce(t *testing.T, data []byte) {
	t.Helper()
	onnxcheck.Submit(t.Name(), data) // vetted by TestMain's ONNX checker
	s, err := ort.NewSession(data, ort.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatalf("onnxruntime: %v", err)
	}
	defer s.Close()
	in, err := ort.RandomInputs(s.Inputs(), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(in); err != nil {
		t.Fatalf("onnxruntime: %v", err)
	}
}

// fastMeasurer times entries with as few runs as possible: the tests count
// measurements and never look at the times.
func fastMeasurer() *Measurer {
	return &Measurer{Options: ort.Options{IntraOpThreads: 1}, Warmup: 1, MinRuns: 1, MaxRuns: 1}
}

// fastProtocol times whole models briefly: the tests check what is
// measured, not how precisely.
func fastProtocol() measure.Protocol {
	return measure.Protocol{Runtime: ort.Options{IntraOpThreads: 1}, Blocks: 3, BlockTime: time.Millisecond,
		MinBlockRuns: 1, Warmup: time.Millisecond}
}

// testHeader is a header for tables built in tests.
func testHeader(t *testing.T, step int) Header {
	t.Helper()
	h, err := HostHeader(ort.Options{IntraOpThreads: 1}, step)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
