package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/onnx-adapt/onnx-adapt/internal/measure"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
)

type measureCmd struct {
	model   modelFlags
	timing  measureFlags
	against againstFlag
	threads int
	batch   int64
	opt     ort.OptLevel
	seed    int64
}

func (*measureCmd) name() string { return "measure" }
func (*measureCmd) usage() string {
	return "measure MODEL [--against auto|none|FILE] [--threads N] [--blocks N] [--block-ms MS] [--batch N] [--json]"
}
func (*measureCmd) summary() string {
	return "time a model in onnxruntime on random inputs (median of block medians, with its noise)"
}

func (c *measureCmd) flags(fs *pflag.FlagSet) {
	c.model.register(fs)
	c.timing.register(fs)
	c.against.register(fs)
	fs.IntVar(&c.threads, "threads", 1, "onnxruntime intra-op threads (as deployed)")
	fs.Int64Var(&c.batch, "batch", 1, "batch size for a dynamic batch dimension")
	fs.Var(&c.opt, "opt-level", "onnxruntime graph optimisation level")
	fs.Int64Var(&c.seed, "seed", 1, "seed of the random inputs")
}

type measureJSON struct {
	Model    string           `json:"model"`
	Runtime  string           `json:"onnxruntime"`
	Threads  int              `json:"threads"`
	OptLevel string           `json:"opt_level"`
	Batch    int64            `json:"batch"`
	Protocol measure.Protocol `json:"protocol"`
	Latency  measure.Latency  `json:"latency"`
	// Against is the model timed alongside (--against; by default the
	// source, through the lineage) and the ratio; AgainstNote says why
	// there is none when one was looked for.
	Against     *alongside `json:"against,omitempty"`
	AgainstNote string     `json:"against_note,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (c *measureCmd) run(e *env, args []string) error {
	path, err := oneModelArg(args)
	if err != nil {
		return err
	}
	if c.threads < 1 || c.batch < 1 {
		return usagef("--threads and --batch must be at least 1")
	}
	if err := c.timing.check(); err != nil {
		return err
	}
	m, err := c.model.load(path)
	if err != nil {
		return err
	}
	data, err := encodeWithShapes(m)
	if err != nil {
		return err
	}
	ref, why, err := c.against.reference(&c.model, m)
	if err != nil {
		return err
	}
	if err := ort.Init(); err != nil {
		return err
	}
	p := c.timing.protocol(ort.Options{IntraOpThreads: c.threads, OptLevel: c.opt})
	p.Batch, p.Seed = c.batch, c.seed
	e.log.Info("measuring", "model", path, "threads", c.threads, "blocks", p.Blocks, "against", ref.String())
	l, with, err := timeWith(data, ref, p)
	if err != nil {
		return err
	}
	out := measureJSON{Model: path, Runtime: ort.Version(), Threads: c.threads, OptLevel: c.opt.String(), Batch: c.batch,
		Protocol: p, Latency: l, Against: with, AgainstNote: why}
	if e.json {
		return e.writeJSON(out)
	}
	fmt.Fprintf(e.stdout, "%s: %s (median of %d block medians ± its standard error; runs p10 %.4g, p90 %.4g)\n",
		path, l, len(l.BlocksMS), l.P10MS, l.P90MS)
	printAlongside(e.stdout, "", with, why)
	fmt.Fprintf(e.stdout, "onnxruntime %s, %d intra-op thread(s), optimisation %s, batch %d, %d runs in blocks of %d\n",
		out.Runtime, c.threads, c.opt, c.batch, l.Runs, l.BlockRuns)
	return nil
}
