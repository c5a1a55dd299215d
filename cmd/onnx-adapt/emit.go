package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/mobile"
)

// ortFlags are the flags of the commands that can write, next to each
// .onnx file, the .ort file ONNX Runtime Mobile loads.
type ortFlags struct {
	emit  bool
	level ort.OptLevel
}

func (o *ortFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&o.emit, "emit-ort", false, "also write each model in ORT format (X.ort next to X.onnx) for ONNX Runtime Mobile, "+
		"as onnxruntime converts it; each .ort is loaded back and must match its .onnx first")
	fs.Var(&o.level, "ort-opt-level", "graph optimisation baked into the .ort files: all (default: what a phone should run, since a mobile "+
		"build does not optimise ORT files when it loads them; the x86-only NCHWc layout is always left out), extended, basic or disable")
}

// write writes the .ort file of onnxPath when --emit-ort is given,
// comparing it with its source on inputs (nil: random ones), and returns it
// (nil without --emit-ort).
func (o *ortFlags) write(e *env, onnxPath string, inputs func([]ort.IOInfo) ([][]ort.Tensor, error)) (*mobile.ORTFile, error) {
	if !o.emit {
		return nil, nil
	}
	f, err := mobile.WriteORT(onnxPath, mobile.ORTOptions{Level: o.level, Inputs: inputs})
	if err != nil {
		return nil, err
	}
	e.log.Info("wrote ORT format", "path", f.Path, "bytes", f.Bytes, "opt_level", f.Level, "batches", f.Batches, "max_diff", f.MaxDiff)
	return &f, nil
}

// ortLine is how a command reports a .ort file it wrote.
func ortLine(f *mobile.ORTFile) string {
	return fmt.Sprintf("wrote %s (ORT format, %s, optimisation %s; outputs match the .onnx within %.1e on %d batches)",
		f.Path, bytesString(f.Bytes), f.Level, f.MaxDiff, f.Batches)
}

// sampleInputs returns the inputs a .ort file is compared with its .onnx
// on: the first 8 samples of ds and the first one alone (for a dynamic
// batch), preprocessed as the model takes them. A model with more than
// one input gets random inputs.
func sampleInputs(ctx context.Context, ds dataset.Dataset, pre *dataset.Preprocess) func([]ort.IOInfo) ([][]ort.Tensor, error) {
	if ds == nil {
		return nil
	}
	return func(infos []ort.IOInfo) ([][]ort.Tensor, error) {
		if len(infos) != 1 {
			return mobile.RandomBatches(infos)
		}
		var out [][]ort.Tensor
		for _, n := range []int{8, 1} {
			x, err := finetune.SampleBatch(ctx, ds, infos[0], pre, n)
			if err != nil {
				return nil, err
			}
			out = append(out, []ort.Tensor{x})
			if s := infos[0].Shape; len(s) > 0 && s[0] > 0 {
				break // a fixed batch: one is enough
			}
		}
		return out, nil
	}
}
