package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/pflag"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

type evalCmd struct {
	model   modelFlags
	data    dataFlags
	split   string
	batch   int
	threads int
	engine  bool
}

func (*evalCmd) name() string { return "eval" }
func (*evalCmd) usage() string {
	return "eval MODEL --data D [--split auto|test|train] [--preset P] [--batch N] [--json]"
}
func (*evalCmd) summary() string {
	return "top-1 and top-5 accuracy of a model over a data set, in onnxruntime"
}

func (c *evalCmd) flags(fs *pflag.FlagSet) {
	c.model.register(fs)
	c.data.register(fs)
	fs.StringVar(&c.split, "split", "auto", "which split to evaluate: test (val/ or test/ for class folders, t10k for IDX), train, or auto (test when there is one, else the data set's only split)")
	fs.IntVar(&c.batch, "batch", 100, "batch size (a model with a fixed batch runs at its own)")
	fs.IntVar(&c.threads, "threads", 0, "onnxruntime intra-op threads (0: one per CPU)")
	fs.BoolVar(&c.engine, "engine", false, "also evaluate with the Go training engine and report both")
}

type evalJSON struct {
	Model    string   `json:"model"`
	Data     string   `json:"data"`
	Split    string   `json:"split"`
	Preset   string   `json:"preset"`
	Top1     float64  `json:"top1"`
	Top5     float64  `json:"top5"`
	Correct  int      `json:"correct1"`
	Correct5 int      `json:"correct5"`
	N        int      `json:"n"`
	Engine   *accJSON `json:"engine,omitempty"`
}

func (c *evalCmd) run(e *env, args []string) error {
	path, err := oneModelArg(args)
	if err != nil {
		return err
	}
	if c.split != "test" && c.split != "train" && c.split != "auto" {
		return usagef("--split must be test, train or auto")
	}
	if c.batch < 1 || c.threads < 0 {
		return usagef("--batch must be at least 1 and --threads at least 0")
	}
	m, err := c.model.load(path)
	if err != nil {
		return err
	}
	sp, pre, err := c.data.openFor(m)
	if err != nil {
		return err
	}
	ds := sp.Train
	if c.split == "auto" {
		c.split = "train"
		if sp.Test != nil {
			c.split = "test"
		}
	}
	if c.split == "test" {
		if sp.Test == nil {
			return usagef("%s has no test split; use --split train", c.data.data)
		}
		ds = sp.Test
	}
	data, err := onnxio.Encode(m)
	if err != nil {
		return err
	}
	threads := c.threads
	if threads == 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	acc, err := finetune.Evaluate(e.ctx, data, ds, finetune.EvalOptions{Batch: c.batch, Threads: threads, Preprocess: &pre, Workers: c.data.workers})
	if err != nil {
		return err
	}
	out := evalJSON{Model: path, Data: c.data.data, Split: c.split, Preset: c.data.preset,
		Top1: acc.Top1, Top5: acc.Top5, Correct: acc.Correct1, Correct5: acc.Correct5, N: acc.N}
	if c.engine {
		eng, err := engineAccuracy(e.ctx, m, ds, pre, c.batch, c.data.workers)
		if err != nil {
			return err
		}
		out.Engine = accOf(&eng)
	}
	if e.json {
		return e.writeJSON(out)
	}
	fmt.Fprintf(e.stdout, "%s on %s (%s, %d images): top-1 %.2f%%, top-5 %.2f%%\n", path, c.data.data, c.split, acc.N, 100*acc.Top1, 100*acc.Top5)
	if out.Engine != nil {
		fmt.Fprintf(e.stdout, "Go engine: top-1 %.2f%%, top-5 %.2f%%\n", 100*out.Engine.Top1, 100*out.Engine.Top5)
	}
	return nil
}
