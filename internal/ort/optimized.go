package ort

import (
	"errors"
	"fmt"
	"strings"

	ortgo "github.com/yalue/onnxruntime_go"
)

// ormIdentifier is the FlatBuffers file identifier of an ORT-format model
// (onnxruntime/core/flatbuffers/schema/ort.fbs: file_identifier "ORTM"),
// stored in bytes 4 to 8 of the file.
const ormIdentifier = "ORTM"

// IsORTFormat reports whether model holds an ORT-format model (the
// FlatBuffers format of onnxruntime's reduced-size builds) rather than ONNX
// protobuf.
func IsORTFormat(model []byte) bool {
	return len(model) >= 8 && string(model[4:8]) == ormIdentifier
}

// Format is the file format onnxruntime writes an optimised model in.
type Format int

const (
	// ONNXFormat is ONNX protobuf.
	ONNXFormat Format = iota
	// ORTFormat is onnxruntime's FlatBuffers format, the format reduced-size
	// (minimal and mobile) builds load.
	ORTFormat
)

// SaveOptimized has onnxruntime load the serialized model with opts (its
// graph optimisation level and DisabledOptimizers) and write the graph it
// optimised to path, in the given format: onnxruntime's own writer, through
// the session options' optimized model file path and, for the ORT format,
// the config entry session.save_model_format=ORT. This is what onnxruntime's
// convert_onnx_models_to_ort tool does.
//
// onnxruntime writes path itself, in place; callers that need an atomic
// write give a temporary path and rename it.
func SaveOptimized(model []byte, path string, format Format, opts Options) error {
	if err := Init(); err != nil {
		return err
	}
	if err := opts.validate(); err != nil {
		return err
	}
	if len(model) == 0 {
		return errors.New("ort: empty model")
	}
	if path == "" {
		return errors.New("ort: no path to save the optimized model to")
	}
	so, err := sessionOptions(opts)
	if err != nil {
		return err
	}
	defer so.Destroy()
	if err := so.SetOptimizedModelFilePath(path); err != nil {
		return wrap("setting the optimized model path", err)
	}
	if format == ORTFormat {
		if err := so.AddSessionConfigEntry("session.save_model_format", "ORT"); err != nil {
			return wrap("asking for the ORT format", err)
		}
	}
	ins, outs, err := ortgo.GetInputOutputInfoWithONNXData(model)
	if err != nil {
		return wrap("loading model", err)
	}
	s, err := ortgo.NewDynamicAdvancedSessionWithONNXData(model, ioNames(ins), ioNames(outs), so)
	if err != nil {
		return wrap(fmt.Sprintf("optimizing the model into %s", path), err)
	}
	if err := s.Destroy(); err != nil {
		return wrap("closing session", err)
	}
	return nil
}

func ioNames(infos []ortgo.InputOutputInfo) []string {
	n := make([]string, len(infos))
	for i, v := range infos {
		n[i] = v.Name
	}
	return n
}

// allowSpinningKey is the session config entry that lets the intra-op
// thread pool spin while it waits for work ("1", the default) or not
// ("0").
const allowSpinningKey = "session.intra_op.allow_spinning"

// disabledOptimizersKey is the session config entry listing graph
// optimisers (by name, comma-separated) that onnxruntime must not run.
const disabledOptimizersKey = "optimization.disable_specified_optimizers"

func joinOptimizers(names []string) (string, error) {
	for _, n := range names {
		if n == "" || strings.ContainsAny(n, ", ") {
			return "", fmt.Errorf("ort: invalid optimizer name %q", n)
		}
	}
	return strings.Join(names, ","), nil
}
