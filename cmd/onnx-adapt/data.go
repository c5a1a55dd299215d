package main

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// dataFlags are the data flags finetune and eval share.
type dataFlags struct {
	data    string
	preset  string
	workers int
}

func (d *dataFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&d.data, "data", "", "data set: an IDX folder (e.g. /usr/share/datasets/fashion-mnist), class folders (with train/ and val/ or test/), or a list file of \"PATH LABEL\" lines")
	fs.StringVar(&d.preset, "preset", "auto", "preprocessing: "+strings.Join(dataset.PresetNames(), ", ")+
		fmt.Sprintf(", with :KEY=VALUE overrides (resize, mean, std, norm, interp); auto is imagenet for 3-channel inputs of %d pixels or more, else none", dataset.AutoMinSide))
	fs.IntVar(&d.workers, "loader-workers", 0, "image decoding goroutines (0: one per CPU)")
}

// open opens the data set and returns its splits.
func (d *dataFlags) open() (*dataset.Splits, error) {
	if d.data == "" {
		return nil, usagef("--data is required")
	}
	return dataset.Open(d.data)
}

// openFor opens the data set and resolves --preset for the model's image
// input.
func (d *dataFlags) openFor(m *onnxio.Model) (*dataset.Splits, dataset.Preprocess, error) {
	sp, err := d.open()
	if err != nil {
		return nil, dataset.Preprocess{}, err
	}
	shape, err := imageInputShape(m)
	if err != nil {
		return nil, dataset.Preprocess{}, err
	}
	in, err := dataset.InputOf(shape)
	if err != nil {
		return nil, dataset.Preprocess{}, err
	}
	pre, err := in.Preprocess(d.preset)
	if err != nil {
		return nil, dataset.Preprocess{}, usagef("--preset: %v", err)
	}
	return sp, pre, nil
}

// imageInputShape returns the shape of the model's first data input, with
// the batch dimension (symbolic or not) reported as 1.
func imageInputShape(m *onnxio.Model) ([]int64, error) {
	for _, in := range m.Graph.Inputs {
		if in.Const != nil {
			continue
		}
		if !in.Type.HasShape {
			return nil, fmt.Errorf("input %q has no shape; give it one with --input-shape", in.Name)
		}
		s := in.Type.Shape.Ints()
		if len(s) > 0 {
			s[0] = 1
		}
		for i, d := range s {
			if d <= 0 {
				return nil, fmt.Errorf("input %q has shape %v: dimension %d is unknown; fix it with --input-shape", in.Name, in.Type.Shape, i)
			}
		}
		return s, nil
	}
	return nil, fmt.Errorf("the model has no data input")
}
