// Command onnx-adapt fits pretrained ONNX CNNs to a latency budget with
// NetAdapt, and inspects, measures and prunes ONNX models.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
