package ort

import "fmt"

// Check loads serialized model bytes in onnxruntime and runs them once on
// seeded random inputs at batch 1. It is the check every writer of ONNX
// files runs before a file is put in place (onnxio.SaveOptions.Check).
func Check(model []byte) error {
	s, err := NewSession(model, Options{IntraOpThreads: 1})
	if err != nil {
		return fmt.Errorf("onnxruntime cannot load the model: %w", err)
	}
	defer s.Close()
	in, err := RandomInputs(s.Inputs(), 1, 1)
	if err != nil {
		return err
	}
	if _, err := s.Run(in); err != nil {
		return fmt.Errorf("onnxruntime cannot run the model: %w", err)
	}
	return nil
}
