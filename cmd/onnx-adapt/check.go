package main

import (
	"fmt"

	"github.com/onnx-adapt/onnx-adapt/internal/ort"
)

// checkRuns loads model bytes in onnxruntime and runs them once on random
// inputs (batch 1). It is the Check of every save.
func checkRuns(model []byte) error {
	s, err := ort.NewSession(model, ort.Options{IntraOpThreads: 1})
	if err != nil {
		return fmt.Errorf("onnxruntime cannot load the model: %w", err)
	}
	defer s.Close()
	in, err := ort.RandomInputs(s.Inputs(), 1, 1)
	if err != nil {
		return err
	}
	if _, err := s.Run(in); err != nil {
		return fmt.Errorf("onnxruntime cannot run the model: %w", err)
	}
	return nil
}
