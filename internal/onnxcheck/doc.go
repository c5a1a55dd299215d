// Package onnxcheck runs the official ONNX checker over every model that a
// package's tests write, as an independent check of onnx-adapt's own
// encoder, shape inference and surgery.
//
// The checker is onnx.checker.check_model(model, full_check=True) of
// Debian's python3-onnx (scripts/setup installs it): the structural checks
// plus shape and type inference in strict mode, which rejects, among other
// things, a value_info or output shape that the inferred one contradicts.
//
// A package opts in with
//
//	func TestMain(m *testing.M) { os.Exit(onnxcheck.Main(m)) }
//
// Main hooks onnxio.Save (internal/savehook). The first model saved starts
// one Python worker for the package's whole run; every distinct model
// (deduplicated by content) is piped to it as it is saved, so the checker
// works alongside the tests, needs no copy on disk (test folders are gone
// by the end), and costs one interpreter start per package. After the
// tests, a model the checker rejected fails the run, named by the path the
// test saved it to. Tests that make many models in memory (surgery's
// oracle tests) hand them over with [Submit] instead of writing them.
//
// python3-onnx 1.12 knows ONNX opsets up to 17 and IR version 8. Above
// those it cannot judge a model: it refuses IR versions above its own, and
// would check a node of an operator that changed after opset 17 (ReduceMean
// taking axes as an input in opset 18, for one) against the older schema.
// Such models are therefore reported as not checked instead of being
// checked wrongly; their count is printed.
//
// A test that writes a third-party model back (a round trip) declares its
// source with [FromSource], since onnx-adapt cannot be blamed for a file
// that was invalid before it read it (three of libonnx-testdata's PyTorch
// exports are): such a model fails only when the checker accepts its
// source, or rejects it for another reason.
//
// Where python3-onnx is missing the check is skipped with a message on
// stderr, except in CI (CI=true), where that is an error.
package onnxcheck
