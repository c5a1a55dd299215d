package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/onnx-adapt/onnx-adapt/internal/cost"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

type inspectCmd struct {
	model modelFlags
	all   bool
}

func (*inspectCmd) name() string  { return "inspect" }
func (*inspectCmd) usage() string { return "inspect MODEL [--all] [--json]" }
func (*inspectCmd) summary() string {
	return "list a model's layers with output shapes, MACs and parameters"
}

func (c *inspectCmd) flags(fs *pflag.FlagSet) {
	c.model.register(fs)
	fs.BoolVar(&c.all, "all", false, "list every node, not only those with MACs or parameters")
}

type inspectJSON struct {
	Model    string       `json:"model"`
	Opset    int64        `json:"opset"`
	Inputs   []valueJSON  `json:"inputs"`
	Outputs  []valueJSON  `json:"outputs"`
	Nodes    int          `json:"nodes"`
	FileSize int64        `json:"file_bytes"`
	Report   *cost.Report `json:"cost"`
	// Lineage is where the model comes from, when onnx-adapt wrote it.
	Lineage *surgery.Lineage `json:"lineage,omitempty"`
}

type valueJSON struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Shape string `json:"shape"`
}

func values(vs []*onnxio.Value) []valueJSON {
	var out []valueJSON
	for _, v := range vs {
		out = append(out, valueJSON{v.Name, v.Type.Elem.String(), v.Type.Shape.String()})
	}
	return out
}

func (c *inspectCmd) run(e *env, args []string) error {
	path, err := oneModelArg(args)
	if err != nil {
		return err
	}
	m, err := c.model.load(path)
	if err != nil {
		return err
	}
	r, err := cost.Analyze(m.Graph)
	if err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	out := inspectJSON{
		Model: path, Opset: m.Opset(""), Inputs: values(m.Graph.Inputs), Outputs: values(m.Graph.Outputs),
		Nodes: len(m.Graph.Nodes), FileSize: st.Size(), Report: r,
	}
	if l, ok, err := surgery.ReadLineage(m); err != nil {
		return err
	} else if ok {
		out.Lineage = &l
	}
	if e.json {
		return e.writeJSON(out)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "#\tlayer\top\toutput\tMACs\tparams\t\n")
	for i, l := range r.Layers {
		if !c.all && l.MACs == 0 && l.Params == 0 {
			continue
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%v\t%s\t%s\t\n", i, trim(l.Name, 40), l.Op, l.Output, cost.String(l.MACs), cost.String(l.Params))
	}
	w.Flush()
	fmt.Fprintf(e.stdout, "\nmodel      %s (opset %d, %d nodes)\n", path, out.Opset, out.Nodes)
	for _, in := range out.Inputs {
		fmt.Fprintf(e.stdout, "input      %s %s %s\n", in.Name, in.Type, in.Shape)
	}
	for _, o := range out.Outputs {
		fmt.Fprintf(e.stdout, "output     %s %s %s\n", o.Name, o.Type, o.Shape)
	}
	fmt.Fprintf(e.stdout, "MACs       %s (%d)\n", cost.String(r.MACs), r.MACs)
	fmt.Fprintf(e.stdout, "params     %s (%d) in Conv/Gemm/MatMul weights and biases\n", cost.String(r.Params), r.Params)
	fmt.Fprintf(e.stdout, "BN params  %s (%d)\n", cost.String(r.BNParams), r.BNParams)
	fmt.Fprintf(e.stdout, "all params %s (%d), %s of weights\n", cost.String(r.AllParams), r.AllParams, bytesString(r.WeightBytes))
	fmt.Fprintf(e.stdout, "peak act.  %s at batch 1\n", bytesString(r.PeakActivationBytes))
	fmt.Fprintf(e.stdout, "file       %s\n", bytesString(out.FileSize))
	if l := out.Lineage; l != nil {
		fmt.Fprintf(e.stdout, "lineage    %s\n", lineageString(*l))
		if l.Fingerprint != "" {
			fmt.Fprintf(e.stdout, "           its latency estimate uses the calibration of fingerprint %s (onnx-adapt estimate finds it)\n", l.Fingerprint)
		}
	}
	return nil
}

func trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n+1:]
}

func bytesString(b int64) string { return cost.Bytes(b) }
