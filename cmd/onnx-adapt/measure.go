package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

type measureCmd struct {
	model   modelFlags
	threads int
	runs    int
	warmup  int
	batch   int64
	opt     ort.OptLevel
	seed    int64
}

func (*measureCmd) name() string { return "measure" }
func (*measureCmd) usage() string {
	return "measure MODEL [--threads N] [--runs N] [--warmup N] [--batch N] [--json]"
}
func (*measureCmd) summary() string {
	return "time a model in onnxruntime on random inputs (median, p10, p90)"
}

func (c *measureCmd) flags(fs *pflag.FlagSet) {
	c.model.register(fs)
	fs.IntVar(&c.threads, "threads", 1, "onnxruntime intra-op threads (as deployed)")
	fs.IntVar(&c.runs, "runs", 100, "timed runs")
	fs.IntVar(&c.warmup, "warmup", 10, "untimed warm-up runs")
	fs.Int64Var(&c.batch, "batch", 1, "batch size for a dynamic batch dimension")
	fs.Var(&c.opt, "opt-level", "onnxruntime graph optimisation level")
	fs.Int64Var(&c.seed, "seed", 1, "seed of the random inputs")
}

type measureJSON struct {
	Model     string    `json:"model"`
	Runtime   string    `json:"onnxruntime"`
	Threads   int       `json:"threads"`
	OptLevel  string    `json:"opt_level"`
	Batch     int64     `json:"batch"`
	Runs      int       `json:"runs"`
	Warmup    int       `json:"warmup"`
	MedianMS  float64   `json:"median_ms"`
	P10MS     float64   `json:"p10_ms"`
	P90MS     float64   `json:"p90_ms"`
	MeanMS    float64   `json:"mean_ms"`
	StdDevMS  float64   `json:"stddev_ms"`
	SamplesMS []float64 `json:"samples_ms"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (c *measureCmd) run(e *env, args []string) error {
	path, err := oneModelArg(args)
	if err != nil {
		return err
	}
	if c.threads < 1 || c.runs < 1 || c.warmup < 0 || c.batch < 1 {
		return usagef("--threads, --runs and --batch must be at least 1, --warmup at least 0")
	}
	m, err := c.model.load(path)
	if err != nil {
		return err
	}
	if err := m.Graph.InferShapes(); err != nil {
		return err
	}
	data, err := onnxio.Encode(m)
	if err != nil {
		return err
	}
	if err := ort.Init(); err != nil {
		return err
	}
	sess, err := ort.NewSession(data, ort.Options{IntraOpThreads: c.threads, OptLevel: c.opt})
	if err != nil {
		return err
	}
	defer sess.Close()
	inputs, err := ort.RandomInputs(sess.Inputs(), c.batch, c.seed)
	if err != nil {
		return err
	}
	e.log.Info("measuring", "model", path, "threads", c.threads, "runs", c.runs)
	t, err := sess.Time(inputs, c.warmup, c.runs)
	if err != nil {
		return err
	}
	out := measureJSON{
		Model: path, Runtime: ort.Version(), Threads: c.threads, OptLevel: c.opt.String(), Batch: c.batch,
		Runs: c.runs, Warmup: c.warmup, MedianMS: ms(t.Median()), P10MS: ms(t.P10()), P90MS: ms(t.P90()),
		MeanMS: ms(t.Mean()), StdDevMS: ms(t.StdDev()),
	}
	for _, s := range t.Samples {
		out.SamplesMS = append(out.SamplesMS, ms(s))
	}
	if e.json {
		return e.writeJSON(out)
	}
	fmt.Fprintf(e.stdout, "%s: median %.3f ms (p10 %.3f, p90 %.3f; mean %.3f ± %.3f) over %d runs\n",
		path, out.MedianMS, out.P10MS, out.P90MS, out.MeanMS, out.StdDevMS, out.Runs)
	fmt.Fprintf(e.stdout, "onnxruntime %s, %d intra-op thread(s), optimisation %s, batch %d\n",
		out.Runtime, c.threads, c.opt, c.batch)
	return nil
}
