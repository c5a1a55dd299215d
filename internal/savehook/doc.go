// Package savehook lets the tests of onnx-adapt see every model file that
// onnxio.Save writes, so that an independent checker can vet them all (see
// internal/onnxcheck). It holds nothing but the hook: production code never
// sets it.
package savehook
