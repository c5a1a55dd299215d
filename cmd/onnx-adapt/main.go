// Command onnx-adapt fits pretrained ONNX CNNs to a latency budget with
// NetAdapt, and inspects, measures and prunes ONNX models.
//
// For profiling, ONNX_ADAPT_CPUPROFILE=FILE writes a CPU profile of the
// whole run (go tool pprof reads it).
package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

func main() {
	if path := os.Getenv("ONNX_ADAPT_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "onnx-adapt: ONNX_ADAPT_CPUPROFILE: %v\n", err)
			os.Exit(exitError)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "onnx-adapt: ONNX_ADAPT_CPUPROFILE: %v\n", err)
			os.Exit(exitError)
		}
		code := run(os.Args[1:], os.Stdout, os.Stderr)
		pprof.StopCPUProfile()
		f.Close()
		os.Exit(code)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
