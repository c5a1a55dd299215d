package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/onnx-adapt/onnx-adapt/report"
)

// reportCmd renders an adapt run's report again from its history.json.
type reportCmd struct{}

func (*reportCmd) name() string  { return "report" }
func (*reportCmd) usage() string { return "report OUTDIR" }
func (*reportCmd) summary() string {
	return "write an adapt run's report.md and tradeoff.png again from its history.json"
}

func (*reportCmd) flags(*pflag.FlagSet) {}

func (*reportCmd) run(e *env, args []string) error {
	if len(args) != 1 {
		return usagef("give one OUTDIR (an adapt output folder)")
	}
	dir := args[0]
	res, err := report.Load(dir)
	if err != nil {
		return err
	}
	if err := report.Write(dir, res); err != nil {
		return err
	}
	md, png := filepath.Join(dir, report.MarkdownFile), filepath.Join(dir, report.PlotFile)
	if e.json {
		return e.writeJSON(map[string]string{"report": md, "plot": png})
	}
	fmt.Fprintf(e.stdout, "wrote %s and %s (%d iterations)\n", md, png, len(res.Iterations))
	return nil
}
