package report

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/cost"
	"github.com/onnx-adapt/onnx-adapt/search"
)

// Markdown writes the report of res: what the run aimed at, where it
// stands, and one table row per model (source, iterations, adapted).
func Markdown(w io.Writer, res *search.Result) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# onnx-adapt run\n\n")
	fmt.Fprintf(bw, "Target: %s.\n\n", targetText(res))
	if d := dataText(res); d != "" {
		fmt.Fprintf(bw, "Data: %s.\n\n", d)
	}
	if r := res.Recon; r.Refit || r.Rank {
		fmt.Fprintf(bw, "Reconstruction: %s.\n\n", reconText(r))
	}
	switch {
	case !done(res) && res.Blocked != "":
		fmt.Fprintf(bw, "Status: **stopped** after %s, before every constraint held: %s.\n\n", iterations(len(res.Iterations)), res.Blocked)
	case !done(res):
		fmt.Fprintf(bw, "Status: **in progress**, %s so far.\n\n", iterations(len(res.Iterations)))
	case res.Met:
		fmt.Fprintf(bw, "Status: **met** after %s (%.0f s).\n\n", iterations(len(res.Iterations)), res.Seconds)
	default:
		fmt.Fprintf(bw, "Status: **not met** after %s (%.0f s).\n\n", iterations(len(res.Iterations)), res.Seconds)
	}
	if a := res.Anchor; a != nil {
		fmt.Fprintf(bw, "Anchoring (every layer refitted towards the source before the long-term fine-tune): %d of %d layers, held-out %s %.2f%% → %.2f%% (%s).\n\n",
			a.Refitted, a.Layers, measure(res.Data.HeldOutMeasure), 100*a.Before.Top1, 100*a.After.Top1, a.Outcome())
	}
	if res.LongTermRejected != "" {
		fmt.Fprintf(bw, "Long-term fine-tune: %s.\n\n", res.LongTermRejected)
	}
	fmt.Fprintf(bw, "| model | latency ms (median) | noise ms | MACs | params | file | held-out %s | test %s | pruned group |\n",
		measure(res.Data.HeldOutMeasure), measure(res.Data.TestMeasure))
	fmt.Fprintln(bw, "|---|--:|--:|--:|--:|--:|--:|--:|---|")
	row(bw, "source", res.Source, "")
	for _, it := range res.Iterations {
		group := ""
		if it.Chosen >= 0 && it.Chosen < len(it.Candidates) {
			c := it.Candidates[it.Chosen]
			group = cut(c)
			for p := c.Pair; p != nil; p = p.Pair {
				group += " and " + cut(*p)
			}
		}
		row(bw, filepath.Base(it.File), it.Figures, group)
	}
	if done(res) {
		row(bw, filepath.Base(res.File)+" (final)", res.Final, "")
	}
	fmt.Fprintf(bw, "\nLatency is onnxruntime's, measured on the whole model at batch 1; the noise column is %s. "+
		"Test top-1 is evaluated for the source and the final model only: it decides nothing.\n", noiseText)
	if n := len(res.Checks); n > 0 {
		fmt.Fprintf(bw, "\nConfirmation measurements (interleaved with the source, with more rounds than an iteration's):\n\n| after iteration | timed in | measured ms | noise ms | limit ms | passed |\n|--:|---|--:|--:|--:|---|\n")
		for _, c := range res.Checks {
			after := fmt.Sprint(c.After)
			if c.Final {
				after += " (final)"
			}
			if c.Own != nil {
				after += ", verdict pooled with the check before it (the same architecture)"
			}
			fmt.Fprintf(bw, "| %s | %s | %.3f | ±%.3f | %.3f | %v |\n", after, timedIn(c), c.MeasuredMS, c.NoiseMS, c.LimitMS, c.Passed)
		}
	}
	fmt.Fprintf(bw, "\n![held-out top-1 against measured latency](%s)\n", PlotFile)
	return bw.Flush()
}

// cut describes the channels a candidate removes from its group.
func cut(c search.Candidate) string {
	s := fmt.Sprintf("%d: %d → %d channels", c.Group, c.Size, c.Keep)
	if len(c.Roots) > 0 {
		s += " (" + c.Roots[0] + ")"
	}
	return s
}

func iterations(n int) string {
	if n == 1 {
		return "1 iteration"
	}
	return fmt.Sprintf("%d iterations", n)
}

// done reports whether res is the record of a finished run.
func done(res *search.Result) bool { return res.File != "" }

func row(w io.Writer, name string, f search.Figures, group string) {
	fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", escape(name), ms(f.MeasuredMS), noise(f),
		cost.String(f.MACs), cost.String(f.Params), cost.Bytes(f.Bytes), top1(f.HeldOut), top1(f.Test), escape(group))
}

func ms(v float64) string {
	if v <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.3f", v)
}

func top1(a *finetune.Accuracy) string {
	if a == nil {
		return "–"
	}
	return fmt.Sprintf("%.2f%%", 100*a.Top1)
}

// escape keeps a cell's text from breaking the table.
func escape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// measure names what a held-out or test figure is: top-1 against labels
// (also in records that predate the data modes), or agreement with the
// source model's top-1.
func measure(m string) string {
	if m == "" {
		return "top-1"
	}
	return m
}

// dataText says what the run learnt from (search.DataInfo): the mode,
// its source and the sizes of its parts; "" in a record that predates
// the data modes.
func dataText(res *search.Result) string {
	d := res.Data
	if d.Mode == "" {
		return ""
	}
	s := "**" + d.Mode + "**"
	if d.Source != "" {
		s += ", " + d.Source
	}
	s += fmt.Sprintf(": %d training, %d held-out", d.Train, d.HeldOut)
	if d.Test > 0 {
		s += fmt.Sprintf(", %d test", d.Test)
	}
	s += " images"
	if d.HeldOutMeasure == "agreement" {
		s += "; held-out figures are agreement with the source model's top-1, not accuracy"
	}
	if d.Test > 0 && d.TestMeasure == "agreement" {
		s += ", and so are the test figures"
	}
	return s
}

// reconText says how cuts were repaired (search.Recon).
func reconText(r search.Recon) string {
	var parts []string
	if r.Refit {
		parts = append(parts, "the layers that read each cut's removed channels refitted by least squares")
	}
	if r.Rank {
		parts = append(parts, "kept channels chosen by the error the refit leaves")
	}
	return strings.Join(parts, "; ")
}

// targetText says what the run aimed at.
func targetText(res *search.Result) string {
	c := res.Constraints
	var parts []string
	switch {
	case c.LatencyFraction > 0:
		parts = append(parts, fmt.Sprintf("latency ≤ %.0f%% of the source's (%.3f ms at the latest measurement of the source)", 100*c.LatencyFraction, c.LatencyMS))
	case c.LatencyMS > 0:
		parts = append(parts, fmt.Sprintf("latency ≤ %.3f ms", c.LatencyMS))
	}
	if c.MACs > 0 {
		parts = append(parts, fmt.Sprintf("MACs ≤ %s", cost.String(c.MACs)))
	}
	if c.Params > 0 {
		parts = append(parts, fmt.Sprintf("params ≤ %s", cost.String(c.Params)))
	}
	if len(parts) == 0 {
		return "none recorded"
	}
	return strings.Join(parts, ", ")
}

// timedIn says where a check was timed: in fresh processes, pooled, or in
// the adapting one (at five times an iteration's rounds).
func timedIn(c search.Check) string {
	switch {
	case !c.FreshProcess:
		return "the adapting process"
	case c.Processes > 1:
		return fmt.Sprintf("%d fresh processes, pooled", c.Processes)
	}
	return "a fresh process"
}
