package main

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/onnx-adapt/onnx-adapt/internal/cost"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/models"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// zooCmd writes one of the reference networks of package models to a file:
// seeded-random weights, for trying the tool and for benchmarks.
type zooCmd struct {
	cfg    models.Config
	folded bool
	tf     bool
	out    string
}

func (*zooCmd) name() string { return "zoo" }
func (*zooCmd) usage() string {
	return "zoo NAME -o OUT.onnx [--width A] [--resolution R] [--classes K] [--bn-folded]\n  NAME: " + strings.Join(models.Names(), ", ")
}
func (*zooCmd) summary() string {
	return "write a reference CNN (MobileNet V1/V2/V3, ResNet, ConcatNet) with seeded weights"
}

func (c *zooCmd) flags(fs *pflag.FlagSet) {
	fs.StringVarP(&c.out, "output", "o", "", "output ONNX file")
	fs.Float64Var(&c.cfg.Width, "width", 1, "width multiplier α")
	fs.IntVar(&c.cfg.Resolution, "resolution", 224, "input height and width")
	fs.IntVar(&c.cfg.Classes, "classes", 1000, "number of classes")
	fs.IntVar(&c.cfg.InChannels, "in-channels", 3, "input channels")
	fs.BoolVar(&c.folded, "bn-folded", false, "fold BatchNormalization into the convolutions")
	fs.BoolVar(&c.tf, "tf2onnx-style", false, "imitate tf2onnx's layout (NHWC input, MatMul+Add)")
	fs.Int64Var(&c.cfg.Seed, "seed", 1, "weight seed")
	fs.Int64Var(&c.cfg.Opset, "opset", models.DefaultOpset, "ONNX opset")
	fs.Int64Var(&c.cfg.Batch, "batch", 0, "fixed batch size (0: symbolic)")
}

func (c *zooCmd) run(e *env, args []string) error {
	if len(args) != 1 {
		return usagef("expected one NAME (%s)", strings.Join(models.Names(), ", "))
	}
	if c.out == "" {
		return usagef("missing -o OUT.onnx")
	}
	if c.folded {
		c.cfg.BN = models.BNFolded
	}
	if c.tf {
		c.cfg.Style = models.StyleTF2ONNX
	}
	m, err := models.Build(args[0], c.cfg)
	if err != nil {
		return err
	}
	if err := saveChecked(c.out, m); err != nil {
		return err
	}
	r, err := cost.Analyze(m.Graph)
	if err != nil {
		return err
	}
	if e.json {
		return e.writeJSON(map[string]any{"model": args[0], "output": c.out, "macs": r.MACs, "params": r.Params})
	}
	fmt.Fprintf(e.stdout, "%s: %s (%s MACs, %s params)\n", c.out, args[0], cost.String(r.MACs), cost.String(r.Params))
	return nil
}

// saveChecked writes m atomically, after onnxruntime has loaded and run the
// exact bytes: a model that does not run never appears at path.
func saveChecked(path string, m *onnxio.Model) error {
	return onnxio.Save(path, m, onnxio.SaveOptions{External: onnxio.InlineExternal, Check: ort.Check})
}
