// Package mobile makes what a mobile ONNX Runtime needs to run onnx-adapt's
// models: ORT-format files and the operator list of a reduced build.
//
// [WriteORT] writes, next to an ONNX file, the .ort file that onnxruntime
// itself makes of it (as onnxruntime's convert_onnx_models_to_ort tool
// does: the session options' optimized model path with
// session.save_model_format=ORT), optimised at the level the phone will run
// (see [ORTOptions.Level] for which and why), and puts it in place only
// after loading it back and matching its outputs with the ONNX file's.
//
// [CollectOperators] lists the operators — domain, opset, operator types —
// that a set of ONNX or ORT-format models uses, merged over files and
// folders, and [Operators.WriteConfig] writes them in the configuration
// format of onnxruntime's reduced-operator build
// (create_reduced_build_config.py, build.py --include_ops_by_config). ORT
// files are read with the FlatBuffers library and the field positions of
// onnxruntime's schema (ort.fbs); only the fields the list needs are read.
//
// Errors are prefixed with "mobile: ".
package mobile
