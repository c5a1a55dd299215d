package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/onnx-adapt/onnx-adapt/internal/cost"
	"github.com/onnx-adapt/onnx-adapt/internal/measure"
	"github.com/onnx-adapt/onnx-adapt/lut"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

type estimateCmd struct {
	model     modelFlags
	lut       lutFlags
	timing    measureFlags
	against   againstFlag
	table     string
	measure   bool
	calibrate bool
	variants  int
}

func (*estimateCmd) name() string { return "estimate" }
func (*estimateCmd) usage() string {
	return "estimate MODEL [--lut FILE [--lut-foreign]] [--measure [--against auto|none|FILE]] [--calibrate [--calibrate-variants N]] [--threads N] [--blocks N] [--json]"
}
func (*estimateCmd) summary() string {
	return "estimate a model's latency from a lookup table, with MACs, parameters, size and peak memory"
}

func (c *estimateCmd) flags(fs *pflag.FlagSet) {
	c.model.register(fs)
	c.lut.register(fs)
	fs.StringVar(&c.table, "lut", "", "latency table (from onnx-adapt lut build); missing entries are measured and added unless --lut-foreign (default: the one adapt uses, in the user cache folder)")
	fs.BoolVar(&c.measure, "measure", false, "also time the whole model in onnxruntime and show the estimate's error")
	fs.BoolVar(&c.calibrate, "calibrate", false, "time the whole model and random pruned variants of it (implies --measure), fit the calibration and store it in the table for this model")
	fs.IntVar(&c.variants, "calibrate-variants", 5, "random pruned variants (10–70% of channels removed) to calibrate on besides the model; 0 fits a ratio on the model alone")
	c.timing.register(fs)
	c.against.register(fs)
}

type estimateJSON struct {
	Model     string         `json:"model"`
	Table     string         `json:"table,omitempty"`
	Foreign   bool           `json:"foreign,omitempty"`
	Header    lut.Header     `json:"header"`
	Resources *lut.Resources `json:"resources"`
	// Lineage is the model's, when onnx-adapt wrote it; Calibration says
	// which calibration line the estimate uses: "model" (its own),
	// "source" (its source's, found through its lineage) or "none".
	Lineage     *surgery.Lineage `json:"lineage,omitempty"`
	Calibration string           `json:"calibration"`
	Measured    *measure.Latency `json:"measured,omitempty"`
	// Against is the model timed alongside the measured one (measureJSON).
	Against     *alongside `json:"against,omitempty"`
	AgainstNote string     `json:"against_note,omitempty"`
	ErrorPct    *float64   `json:"error_pct,omitempty"`
	NewEntries  int        `json:"new_entries"`
}

func (c *estimateCmd) run(e *env, args []string) error {
	path, err := oneModelArg(args)
	if err != nil {
		return err
	}
	if err := c.lut.check(); err != nil {
		return err
	}
	if c.variants < 0 {
		return usagef("--calibrate-variants must be at least 0")
	}
	if err := c.timing.check(); err != nil {
		return err
	}
	if c.calibrate {
		c.measure = true
		if c.lut.foreign {
			return usagef("--calibrate stores the calibration in the table: not with --lut-foreign")
		}
	}
	m, err := c.model.load(path)
	if err != nil {
		return err
	}
	if c.table == "" {
		// The table adapt uses: its calibrations are found here.
		if c.table, err = lut.CachePath(c.lut.options(), c.lut.step); err != nil {
			return err
		}
	}
	t, _, err := c.lut.open(c.table)
	if err != nil {
		return err
	}
	units, err := lut.Units(m.Graph)
	if err != nil {
		return err
	}
	lin, derived, err := surgery.ReadLineage(m)
	if err != nil {
		return err
	}
	cal, calFrom := calibrationFor(t, lut.Fingerprint(m.Graph, units), lin, derived)
	res, err := lut.ModelResources(m, nil, nil)
	if err != nil {
		return err
	}
	est, err := t.EstimateUnits(m.Graph, units, cal)
	if err != nil {
		return err
	}
	res.Latency, res.LatencyMS = est, est.MS
	out := estimateJSON{Model: path, Table: c.table, Foreign: t.Foreign(), Header: t.Header, Resources: res,
		Calibration: calFrom, NewEntries: t.Measured()}
	if derived {
		out.Lineage = &lin
	}
	p := c.timing.protocol(c.lut.options())
	if c.calibrate {
		e.log.Info("calibrating", "model", path, "variants", c.variants)
		cc, lat, err := t.CalibrateSource(m, path, c.variants, 1, p)
		if err != nil {
			return err
		}
		t.SetCalibration(cc)
		est.Calibration = &cc
		est.MS = cc.Apply(est.RawMS)
		res.LatencyMS = est.MS
		out.Calibration = "model"
		out.Measured = &lat
	} else if c.measure {
		data, err := onnxio.Encode(m)
		if err != nil {
			return err
		}
		ref, why, err := c.against.reference(&c.model, m)
		if err != nil {
			return err
		}
		lat, with, err := timeWith(data, ref, p)
		if err != nil {
			return err
		}
		out.Measured, out.Against, out.AgainstNote = &lat, with, why
	}
	if out.Measured != nil {
		pct := 100 * (est.MS - out.Measured.MS) / out.Measured.MS
		out.ErrorPct = &pct
	}
	out.NewEntries = t.Measured()
	if c.table != "" && !t.Foreign() && (t.Measured() > 0 || c.calibrate) {
		if err := t.Save(c.table); err != nil {
			return err
		}
	}
	if e.json {
		return e.writeJSON(out)
	}
	return c.print(e, out, est)
}

func (c *estimateCmd) print(e *env, out estimateJSON, est *lut.Estimate) error {
	r := out.Resources
	w := e.stdout
	fmt.Fprintf(w, "model      %s\n", out.Model)
	fmt.Fprintf(w, "MACs       %s (%d)\n", cost.String(r.MACs), r.MACs)
	fmt.Fprintf(w, "params     %s conv/gemm + %s batch-norm (%s in all initializers)\n",
		cost.String(r.Params), cost.String(r.BNParams), cost.String(r.AllParams))
	fmt.Fprintf(w, "bytes      %s (%d, the written model)\n", cost.String(r.Bytes), r.Bytes)
	fmt.Fprintf(w, "peak mem   %s activations (%d bytes, batch 1)\n", cost.String(r.PeakActivationBytes), r.PeakActivationBytes)
	if out.Lineage != nil {
		fmt.Fprintf(w, "lineage    %s\n", lineageString(*out.Lineage))
	}
	calib := "uncalibrated: no calibration for this model or its source in the table (estimate --calibrate, or an adapt run, fits one)"
	if cal := est.Calibration; cal != nil {
		whose := "this model's own line"
		if out.Calibration == "source" {
			whose = "its source's line, found through its lineage"
		}
		calib = fmt.Sprintf("calibrated with %s (%s on %d models): ×%.4f %+.4f ms", whose, cal.Form, len(cal.Points), cal.Scale, cal.OffsetMS)
	}
	fmt.Fprintf(w, "latency    %.3f ms estimated (raw %.3f ms, %.3f ms of it in NCHWc layout reorders)\n", est.MS, est.RawMS, est.ReorderMS)
	fmt.Fprintf(w, "           %s\n", calib)
	if m := out.Measured; m != nil {
		fmt.Fprintf(w, "           %s measured (median of %d block medians ± its standard error; runs p10 %.3f, p90 %.3f): estimate error %+.1f%%\n",
			m, len(m.BlocksMS), m.P10MS, m.P90MS, *out.ErrorPct)
		printAlongside(w, "           ", out.Against, out.AgainstNote)
	}
	h := out.Header
	src := "in memory (no --lut: nothing kept)"
	if out.Table != "" {
		src = out.Table
		if out.Foreign {
			src += " (foreign)"
		}
	}
	fmt.Fprintf(w, "table      %s; %s, onnxruntime %s, %d thread(s), optimisation %s, step %d; %d entries measured now\n",
		src, h.CPU, h.Runtime, h.Threads, h.OptLevel, h.Step, out.NewEntries)
	for _, warn := range est.Warnings {
		fmt.Fprintf(e.stderr, "onnx-adapt estimate: warning: %s\n", warn)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "#\tms\treorders\tnet ms\tshare\tMACs\t\t  unit")
	for i, u := range est.Units {
		if u.How == lut.HowFree {
			continue
		}
		share := 0.0
		if est.RawMS > 0 {
			share = 100 * u.NetMS / est.RawMS
		}
		how := ""
		if u.How != lut.HowExact {
			how = string(u.How)
		}
		fmt.Fprintf(tw, "%d\t%.4f\t%.4f\t%.4f\t%.1f%%\t%s\t%s\t  %s  %s\n", i, u.MS, u.ReorderMS, u.NetMS, share, cost.String(u.MACs), how, truncate(u.Name, 48), u.Key)
	}
	return tw.Flush()
}

// calibrationFor returns the calibration in t for a model of fingerprint
// fp with lineage l (when derived): its own line first, else its source's,
// and says which ("model", "source" or "none").
func calibrationFor(t *lut.Table, fp string, l surgery.Lineage, derived bool) (*lut.Calibration, string) {
	if c, ok := t.Calibration(fp); ok {
		return &c, "model"
	}
	if derived && l.Fingerprint != "" {
		if c, ok := t.Calibration(l.Fingerprint); ok {
			return &c, "source"
		}
	}
	return nil, "none"
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return "…" + string(r[len(r)-n+1:])
}
