package savehook

// Saved, when set, is called by onnxio.Save after a model file is in place,
// with its path and its self-contained bytes (external data inlined). It is
// set once, before any test runs, and must be safe for concurrent calls.
var Saved func(path string, model []byte)
