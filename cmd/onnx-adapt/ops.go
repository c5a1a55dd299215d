package main

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/onnx-adapt/onnx-adapt/internal/atomicfile"
	"github.com/onnx-adapt/onnx-adapt/mobile"
)

// opsCmd lists the operators models use, as onnxruntime's reduced-operator
// build takes them.
type opsCmd struct {
	out    string
	format formatFlag
}

func (*opsCmd) name() string { return "ops" }
func (*opsCmd) usage() string {
	return "ops MODEL|DIR... [--format any|onnx|ort] [-o required_operators.config] [--json]"
}
func (*opsCmd) summary() string {
	return "the operators models use, as a reduced-operator onnxruntime build config"
}

func (c *opsCmd) flags(fs *pflag.FlagSet) {
	fs.StringVarP(&c.out, "output", "o", "", "write the configuration to this file (default: stdout)")
	fs.Var(&c.format, "format", "which files of a folder to read: any (.onnx and .ort), onnx, or ort (what a mobile build runs: the optimised graphs, with their fused operators)")
}

// formatFlag is a pflag.Value for mobile.Format.
type formatFlag struct{ f mobile.Format }

func (f *formatFlag) String() string { return [...]string{"any", "onnx", "ort"}[f.f] }
func (f *formatFlag) Type() string   { return "any|onnx|ort" }
func (f *formatFlag) Set(s string) error {
	switch strings.ToLower(s) {
	case "any":
		f.f = mobile.AnyFormat
	case "onnx":
		f.f = mobile.ONNXOnly
	case "ort":
		f.f = mobile.ORTOnly
	default:
		return fmt.Errorf("want any, onnx or ort")
	}
	return nil
}

type opsJSON struct {
	Models    []string      `json:"models"`
	Operators []mobile.Line `json:"operators"`
	Output    string        `json:"output,omitempty"`
}

func (c *opsCmd) run(e *env, args []string) error {
	if len(args) == 0 {
		return usagef("give at least one MODEL or DIR")
	}
	ops, err := mobile.CollectOperators(args, c.format.f)
	if err != nil {
		return err
	}
	var cfg bytes.Buffer
	if err := ops.WriteConfig(&cfg); err != nil {
		return err
	}
	if c.out != "" {
		if err := atomicfile.WriteFile(c.out, cfg.Bytes()); err != nil {
			return err
		}
	}
	switch {
	case e.json:
		return e.writeJSON(opsJSON{Models: ops.Models, Operators: ops.Lines(), Output: c.out})
	case c.out == "":
		_, err := e.stdout.Write(cfg.Bytes())
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s: %d operator lines from %d models\n", c.out, len(ops.Lines()), len(ops.Models))
	return nil
}
