package recon

import (
	"os"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxcheck"
)

// TestMain checks every model the tests prune and refit with the official
// ONNX checker (internal/onnxcheck).
func TestMain(m *testing.M) { os.Exit(onnxcheck.Main(m)) }
