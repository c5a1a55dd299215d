package main

import (
	"os"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxcheck"
)

// TestMain checks every model the tests write with the official ONNX
// checker (internal/onnxcheck). With ONNX_ADAPT_TEST_CLI=1 the test binary
// is the onnx-adapt command instead, in a process of its own that a test
// can kill (see child); so it is as a search's timing process
// (measureChild), which an adaptation in the tests starts from this binary.
func TestMain(m *testing.M) {
	if os.Getenv("ONNX_ADAPT_TEST_CLI") == "1" || len(os.Args) > 1 && os.Args[1] == measureChild {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(onnxcheck.Main(m))
}
