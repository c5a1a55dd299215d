package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// modelFlags are the flags every command that reads a model shares.
type modelFlags struct {
	inputShapes []string
}

func (m *modelFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&m.inputShapes, "input-shape", nil,
		"fix an input's shape, as NAME=D0,D1,... (repeatable); for models with dynamic spatial dimensions")
}

// load reads a model and applies --input-shape.
func (m *modelFlags) load(path string) (*onnxio.Model, error) {
	model, err := onnxio.Load(path)
	if err != nil {
		return nil, err
	}
	for _, spec := range m.inputShapes {
		name, dims, err := parseInputShape(spec)
		if err != nil {
			return nil, usagef("--input-shape %q: %v", spec, err)
		}
		if err := model.Graph.SetInputShape(name, dims); err != nil {
			return nil, usagef("--input-shape %q: %v", spec, err)
		}
	}
	return model, nil
}

func parseInputShape(spec string) (string, []int64, error) {
	name, list, ok := strings.Cut(spec, "=")
	if !ok || name == "" || list == "" {
		return "", nil, fmt.Errorf("want NAME=D0,D1,...")
	}
	var dims []int64
	for _, f := range strings.Split(list, ",") {
		d, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil || d <= 0 {
			return "", nil, fmt.Errorf("dimension %q is not a positive integer", f)
		}
		dims = append(dims, d)
	}
	return name, dims, nil
}

// oneModelArg checks that exactly one positional argument, the model, was
// given.
func oneModelArg(args []string) (string, error) {
	switch len(args) {
	case 0:
		return "", usagef("missing MODEL")
	case 1:
		return args[0], nil
	}
	return "", usagef("expected one MODEL, got %d arguments: %s", len(args), strings.Join(args, " "))
}

// checkRuns is the Check of every save: onnxruntime loads and runs the exact
// bytes before they are put in place.
var checkRuns = ort.Check
