package onnxio_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// caseInputs reads test_data_set_0's inputs of an ONNX backend test case.
func caseInputs(dir string, n int) ([]ort.Tensor, error) {
	var out []ort.Tensor
	for i := range n {
		data, err := os.ReadFile(filepath.Join(dir, "test_data_set_0", fmt.Sprintf("input_%d.pb", i)))
		if err != nil {
			return nil, err
		}
		t, err := onnxio.DecodeTensor(data)
		if err != nil {
			return nil, err
		}
		raw, err := t.Raw()
		if err != nil {
			return nil, err
		}
		rt, err := ort.NewRaw(int32(t.DataType), t.Dims, raw)
		if err != nil {
			return nil, err
		}
		out = append(out, rt)
	}
	return out, nil
}

func runModel(data []byte, inputs []ort.Tensor) ([]ort.Tensor, error) {
	s, err := ort.NewSession(data, ort.Options{IntraOpThreads: 1})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Run(inputs)
}

// TestRoundTripOutputsBitIdentical: every libonnx-testdata model that
// onnxruntime runs gives bit-identical outputs before and after an IR round
// trip (load → encode).
func TestRoundTripOutputsBitIdentical(t *testing.T) {
	if err := ort.Init(); err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, path := range testdataModels(t) {
		dir := filepath.Dir(path)
		orig, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		m, err := onnxio.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		inputs, err := caseInputs(dir, len(m.Graph.Inputs))
		if err != nil || len(inputs) == 0 { // models without inputs: ort refuses them
			continue // sequences, optionals, or no test data: not plain tensors
		}
		want, err := runModel(orig, inputs)
		if err != nil {
			continue // an operator or type this onnxruntime build does not run
		}
		enc, err := onnxio.Encode(m)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		got, err := runModel(enc, inputs)
		if err != nil {
			t.Errorf("%s: round-tripped model fails in onnxruntime: %v", path, err)
			continue
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d outputs, want %d", path, len(got), len(want))
			continue
		}
		for i := range got {
			if got[i].DataType != want[i].DataType || !bytes.Equal(got[i].Data, want[i].Data) ||
				fmt.Sprint(got[i].Shape) != fmt.Sprint(want[i].Shape) {
				if strings.Contains(path, "random") || strings.Contains(path, "dropout") || strings.Contains(path, "bernoulli") {
					continue // nondeterministic operators
				}
				t.Errorf("%s: output %d differs after the round trip", path, i)
			}
		}
		ran++
	}
	t.Logf("%d models ran in onnxruntime", ran)
	if ran < 600 {
		t.Errorf("only %d models ran in onnxruntime", ran)
	}
}
