package lut

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxcheck"
)

// TestMain checks every model the tests build and run (lookup-table unit models) with the official
// ONNX checker (internal/onnxcheck). With LUT_TEST_WRITER_PATH set, the
// test binary is instead a process that extends a shared table (see
// TestSaveConcurrentProcesses).
func TestMain(m *testing.M) {
	if path := os.Getenv("LUT_TEST_WRITER_PATH"); path != "" {
		w, _ := strconv.Atoi(os.Getenv("LUT_TEST_WRITER"))
		if err := writeEntries(path, w); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(onnxcheck.Main(m))
}
