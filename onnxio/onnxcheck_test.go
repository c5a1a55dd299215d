package onnxio_test

import (
	"os"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxcheck"
)

// TestMain checks every model the tests write with the official ONNX
// checker (internal/onnxcheck).
func TestMain(m *testing.M) { os.Exit(onnxcheck.Main(m)) }
