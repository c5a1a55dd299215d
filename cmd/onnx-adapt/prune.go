package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/onnx-adapt/onnx-adapt/internal/atomicfile"
	"github.com/onnx-adapt/onnx-adapt/internal/cost"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/mobile"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

type pruneCmd struct {
	model    modelFlags
	out      string
	planPath string
	group    int
	keep     int
	drop     int
	fraction float64
	roundTo  int
	rank     rankFlag
	savePlan string
	ort      ortFlags
}

func (*pruneCmd) name() string { return "prune" }
func (*pruneCmd) usage() string {
	return "prune MODEL -o OUT.onnx (--plan PLAN.json | --group ID (--keep N | --drop N) | --fraction F) [--round-to N] [--rank l2|l1] [--save-plan FILE] [--json]"
}
func (*pruneCmd) summary() string {
	return "remove channels from a model by a plan, and check the result in onnxruntime"
}

func (c *pruneCmd) flags(fs *pflag.FlagSet) {
	c.model.register(fs)
	c.rank = rankFlag{surgery.RankL2}
	fs.StringVarP(&c.out, "output", "o", "", "where to write the pruned model (required)")
	fs.StringVar(&c.planPath, "plan", "", "a JSON plan (see surgery.Plan)")
	fs.IntVar(&c.group, "group", -1, "the group to prune (see onnx-adapt groups)")
	fs.IntVar(&c.keep, "keep", 0, "with --group: how many channels the group keeps")
	fs.IntVar(&c.drop, "drop", 0, "with --group: how many channels the group loses")
	fs.Float64Var(&c.fraction, "fraction", 0, "drop this fraction (0..1) of every prunable group")
	fs.IntVar(&c.roundTo, "round-to", 0, "round every kept channel count to a multiple of N (never to 0)")
	fs.Var(&c.rank, "rank", "how channels are ranked when dropping by count")
	fs.StringVar(&c.savePlan, "save-plan", "", "write the resolved plan (kept indices of every group) to this JSON file")
	c.ort.register(fs)
}

// rankFlag is a pflag.Value that accepts only known rankings.
type rankFlag struct{ r surgery.Rank }

func (f *rankFlag) String() string { return string(f.r) }
func (f *rankFlag) Type() string   { return "l2|l1" }
func (f *rankFlag) Set(s string) error {
	r, err := surgery.ParseRank(s)
	if err != nil {
		return fmt.Errorf("want l2 or l1")
	}
	f.r = r
	return nil
}

type pruneGroupJSON struct {
	Group  int    `json:"group"`
	Root   string `json:"root"`
	Before int    `json:"channels_before"`
	After  int    `json:"channels_after"`
}

type pruneJSON struct {
	Model       string           `json:"model"`
	Output      string           `json:"output"`
	Groups      []pruneGroupJSON `json:"groups"`
	ParamsIn    int64            `json:"params_before"`
	ParamsOut   int64            `json:"params_after"`
	MACsIn      int64            `json:"macs_before"`
	MACsOut     int64            `json:"macs_after"`
	BytesIn     int64            `json:"file_bytes_before"`
	BytesOut    int64            `json:"file_bytes_after"`
	WeightsIn   int64            `json:"weight_bytes_before"`
	WeightsOut  int64            `json:"weight_bytes_after"`
	Plan        surgery.Plan     `json:"plan"`
	Onnxruntime string           `json:"onnxruntime"`
	// ORT is the ORT-format file written with --emit-ort.
	ORT *mobile.ORTFile `json:"ort,omitempty"`
}

func (c *pruneCmd) run(e *env, args []string) error {
	path, err := oneModelArg(args)
	if err != nil {
		return err
	}
	if c.out == "" {
		return usagef("missing -o OUT.onnx")
	}
	modes := 0
	for _, set := range []bool{c.planPath != "", c.group >= 0, c.fraction != 0} {
		if set {
			modes++
		}
	}
	if modes != 1 {
		return usagef("give exactly one of --plan, --group or --fraction")
	}
	if c.group >= 0 && (c.keep == 0) == (c.drop == 0) {
		return usagef("--group needs exactly one of --keep N or --drop N")
	}
	if c.group < 0 && (c.keep != 0 || c.drop != 0) {
		return usagef("--keep and --drop go with --group")
	}
	if c.keep < 0 || c.drop < 0 || c.roundTo < 0 || c.fraction < 0 || c.fraction >= 1 || math.IsNaN(c.fraction) {
		return usagef("--keep, --drop and --round-to must not be negative; --fraction is in [0, 1)")
	}
	m, lin, err := c.model.loadWithLineage(path)
	if err != nil {
		return err
	}
	a, err := surgery.Analyze(m.Graph)
	if err != nil {
		return err
	}
	plan, err := c.plan(a)
	if err != nil {
		return err
	}
	resolved, err := a.Resolve(plan)
	if err != nil {
		return err
	}
	before, err := cost.Analyze(m.Graph)
	if err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if err := surgery.Apply(m.Graph, resolved); err != nil {
		return err
	}
	after, err := cost.Analyze(m.Graph)
	if err != nil {
		return err
	}
	if lin, err = lin.Derive(resolved); err != nil {
		return err
	}
	if err := lin.Stamp(m); err != nil {
		return err
	}
	e.log.Info("writing", "path", c.out)
	if err := onnxio.Save(c.out, m, onnxio.SaveOptions{Check: runsInORT}); err != nil {
		return err
	}
	ortFile, err := c.ort.write(e, c.out, nil)
	if err != nil {
		return err
	}
	ost, err := os.Stat(c.out)
	if err != nil {
		return err
	}
	if c.savePlan != "" {
		data, err := json.MarshalIndent(resolved, "", "  ")
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(c.savePlan, append(data, '\n')); err != nil {
			return err
		}
	}
	out := pruneJSON{
		Model: path, Output: c.out, Groups: []pruneGroupJSON{},
		ParamsIn: before.AllParams, ParamsOut: after.AllParams, MACsIn: before.MACs, MACsOut: after.MACs,
		BytesIn: st.Size(), BytesOut: ost.Size(), WeightsIn: before.WeightBytes, WeightsOut: after.WeightBytes,
		Plan: resolved, Onnxruntime: ort.Version(), ORT: ortFile,
	}
	for _, gp := range resolved.Groups {
		root := "-"
		if len(gp.Roots) > 0 {
			root = gp.Roots[0]
		}
		out.Groups = append(out.Groups, pruneGroupJSON{Group: gp.Group, Root: root, Before: gp.Size, After: len(gp.Keep)})
	}
	if e.json {
		return e.writeJSON(out)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "group\tchannels\troot\n")
	for _, g := range out.Groups {
		fmt.Fprintf(w, "%d\t%d → %d\t%s\n", g.Group, g.Before, g.After, trim(g.Root, 60))
	}
	w.Flush()
	fmt.Fprintf(e.stdout, "\n%d groups pruned\n", len(out.Groups))
	fmt.Fprintf(e.stdout, "params   %s → %s (%s)\n", cost.String(out.ParamsIn), cost.String(out.ParamsOut), pct(out.ParamsIn, out.ParamsOut))
	fmt.Fprintf(e.stdout, "MACs     %s → %s (%s)\n", cost.String(out.MACsIn), cost.String(out.MACsOut), pct(out.MACsIn, out.MACsOut))
	fmt.Fprintf(e.stdout, "weights  %s → %s\n", bytesString(out.WeightsIn), bytesString(out.WeightsOut))
	fmt.Fprintf(e.stdout, "file     %s → %s (%s)\n", bytesString(out.BytesIn), bytesString(out.BytesOut), pct(out.BytesIn, out.BytesOut))
	fmt.Fprintf(e.stdout, "wrote %s (loaded and run in onnxruntime %s)\n", c.out, out.Onnxruntime)
	if ortFile != nil {
		fmt.Fprintln(e.stdout, ortLine(ortFile))
	}
	return nil
}

// plan builds the plan the flags ask for.
func (c *pruneCmd) plan(a *surgery.Analysis) (surgery.Plan, error) {
	var p surgery.Plan
	switch {
	case c.planPath != "":
		data, err := os.ReadFile(c.planPath)
		if err != nil {
			return p, err
		}
		if p, err = surgery.ParsePlan(data); err != nil {
			return p, fmt.Errorf("%s: %w", c.planPath, err)
		}
	case c.group >= 0:
		g := a.Group(c.group)
		if g == nil {
			return p, usagef("the model has no group %d (it has %d; see onnx-adapt groups)", c.group, len(a.Groups))
		}
		drop := c.drop
		if c.keep != 0 {
			if c.keep >= g.Size {
				return p, usagef("group %d has %d channels; --keep %d removes nothing", g.ID, g.Size, c.keep)
			}
			drop = g.Size - c.keep
		}
		p.Groups = []surgery.GroupPlan{{Group: g.ID, Drop: drop}}
	default:
		p = a.UniformPlan(c.fraction, c.roundTo)
	}
	if c.roundTo != 0 {
		p.RoundTo = c.roundTo
	}
	if c.planPath == "" || c.rank.r != surgery.RankL2 {
		p.Rank = c.rank.r
	}
	return p, nil
}

// runsInORT is the Save check: the bytes load into onnxruntime and run
// once on random inputs.
func runsInORT(model []byte) error {
	s, err := ort.NewSession(model, ort.Options{IntraOpThreads: 1})
	if err != nil {
		return err
	}
	defer s.Close()
	in, err := ort.RandomInputs(s.Inputs(), 1, 1)
	if err != nil {
		return err
	}
	_, err = s.Run(in)
	return err
}

func pct(before, after int64) string {
	if before == 0 {
		return "-"
	}
	return fmt.Sprintf("%+.1f%%", 100*(float64(after)-float64(before))/float64(before))
}
