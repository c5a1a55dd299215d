// Package ort runs ONNX models in onnxruntime and times them.
//
// It is the only package of onnx-adapt that talks to onnxruntime: everything
// that runs or measures a model (latency lookup tables, whole-model timing,
// differential checks of a pruned model against the original, evaluation)
// goes through it, and so does writing the graph onnxruntime optimises a
// model into, in ONNX or in the ORT format of its mobile builds
// ([SaveOptimized]; [NewSession] loads either format). It wraps github.com/yalue/onnxruntime_go, which loads the
// onnxruntime shared library at run time (dlopen) and whose bundled C headers
// are those of onnxruntime 1.24.1 ([RequiredVersion]).
//
// The library is found by [Init] (called by [NewSession] too): see [Init] for
// the search order. ./scripts/setup installs the pinned, hash-checked build
// into the project's .deps folder.
//
// Values cross the boundary as plain Go [Tensor] values (ONNX data-type
// number, shape, little-endian bytes), so callers never hold onnxruntime
// memory and never need to free anything but a [Session].
//
// Errors returned by this package start with "ort: ".
package ort
