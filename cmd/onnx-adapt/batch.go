package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/pflag"

	"github.com/onnx-adapt/onnx-adapt/batch"
	"github.com/onnx-adapt/onnx-adapt/search"
)

// batchCmd runs a manifest of adaptations (package batch); each job is
// the adapt command, run in this process.
type batchCmd struct {
	out       string
	table     string
	shard     string
	shards    int
	summarize bool
	list      bool
	force     bool
}

func (*batchCmd) name() string { return "batch" }
func (*batchCmd) usage() string {
	return "batch MANIFEST [-o OUTDIR] [--lut FILE] [--shard I/N | --shards N] [--summarize] [--list] [--force]"
}
func (*batchCmd) summary() string {
	return "adapt every model of a manifest to every constraint set (resumable, shardable)"
}

func (c *batchCmd) flags(fs *pflag.FlagSet) {
	fs.StringVarP(&c.out, "output", "o", "", "folder of the job folders and the summary (default: the manifest's output:)")
	fs.StringVar(&c.table, "lut", "", "the latency table every job uses and extends (default: the manifest's lut:, else this device's in the user cache folder)")
	fs.StringVar(&c.shard, "shard", "", "run shard I of N (from 0): every job whose index modulo N is I")
	fs.IntVar(&c.shards, "shards", 0, "run one of N shards, its index from JOB_COMPLETION_INDEX (Kubernetes) or SLURM_ARRAY_TASK_ID (Slurm)")
	fs.BoolVar(&c.summarize, "summarize", false, "run nothing: merge what the jobs (and shards) wrote into summary.csv, summary.md and tradeoff.png")
	fs.BoolVar(&c.list, "list", false, "run nothing: list the jobs (of the shard) with their folders")
	fs.BoolVar(&c.force, "force", false, "start jobs over in folders that hold another run")
}

type batchJobJSON struct {
	Index  int    `json:"index"`
	Job    string `json:"job"`
	Shard  int    `json:"shard"`
	Folder string `json:"folder"`
	Line   int    `json:"line"`
}

func (c *batchCmd) run(e *env, args []string) error {
	if len(args) != 1 {
		return usagef("expected one MANIFEST, got %d arguments", len(args))
	}
	shard := batch.All
	var err error
	switch {
	case c.shard != "" && c.shards != 0:
		return usagef("give --shard I/N or --shards N, not both")
	case c.shard != "":
		if shard, err = batch.ParseShard(c.shard); err != nil {
			return usagef("--shard: %v", err)
		}
	case c.shards != 0:
		if shard, err = batch.ShardFromEnv(c.shards, nil); err != nil {
			return err
		}
	}
	m, err := batch.Load(args[0], checkAdaptFlag)
	if err != nil {
		return err
	}
	if c.out != "" {
		m.Output = c.out
		for i := range m.Jobs {
			j := &m.Jobs[i]
			j.Dir = filepath.Join(c.out, j.Model, j.Constraints)
		}
	}
	if c.table != "" {
		m.Table = c.table
	}
	switch {
	case c.list:
		return c.printJobs(e, m, shard)
	case c.summarize:
		return c.writeSummary(e, m, true)
	}
	p := e.progress()
	r := &adaptRunner{e: e, table: m.Table, force: c.force}
	out, err := batch.Run(e.ctx, m, shard, r, func(s string) { p.Line("batch: %s", s) })
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return &resumeHint{err, "every finished job and iteration is kept; run the same command again to resume"}
		}
		return err
	}
	if shard.Count == 1 {
		if err := c.writeSummary(e, m, false); err != nil {
			return err
		}
	} else {
		p.Line("batch: shard %s done (%d run, %d finished before); once every shard is done: onnx-adapt batch %s --summarize",
			shard, out.Ran, out.Skipped, args[0])
	}
	if n := len(out.Failed); n > 0 {
		return fmt.Errorf("%d of %d jobs failed (the others are done; run the batch again to retry them): %s",
			n, out.Ran, strings.Join(out.Failed, "; "))
	}
	return nil
}

// checkAdaptFlag checks a manifest's flag with adapt's own parser.
func checkAdaptFlag(name, value string) error {
	fs := newFlagSet(&adaptCmd{}, &env{})
	if fs.Lookup(name) == nil {
		return fmt.Errorf("not a flag of onnx-adapt adapt (see onnx-adapt adapt --help)")
	}
	if err := fs.Set(name, value); err != nil {
		return fmt.Errorf("invalid value %q: %v", value, err)
	}
	return nil
}

func (c *batchCmd) printJobs(e *env, m *batch.Manifest, s batch.Shard) error {
	var out []batchJobJSON
	for _, j := range s.Select(m.Jobs) {
		out = append(out, batchJobJSON{Index: j.Index, Job: j.Name, Shard: j.Index % s.Count, Folder: j.Dir, Line: j.Line})
	}
	if e.json {
		return e.writeJSON(out)
	}
	for _, j := range out {
		fmt.Fprintf(e.stdout, "%3d  %-40s shard %d  %s  (%s:%d)\n", j.Index, j.Job, j.Shard, j.Folder, m.Path, j.Line)
	}
	return nil
}

// writeSummary merges the job folders into the summary files and prints
// the markdown (or, with --json, the rows). With strict, pending or
// failed jobs make it an error.
func (c *batchCmd) writeSummary(e *env, m *batch.Manifest, strict bool) error {
	s, err := batch.Summarize(m)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(m.Output, 0o755); err != nil {
		return err
	}
	if err := s.Write(m.Output); err != nil {
		return err
	}
	if e.json {
		if err := e.writeJSON(s.Rows); err != nil {
			return err
		}
	} else if err := s.WriteMarkdown(e.stdout); err != nil {
		return err
	}
	e.progress().Line("batch: summary of %d jobs in %s (%s, %s, %s)", len(s.Rows), m.Output,
		batch.SummaryCSV, batch.SummaryMarkdown, batch.TradeoffPlot)
	if cnt := s.Counts(); strict && cnt[batch.Pending]+cnt[batch.Failed] > 0 {
		return fmt.Errorf("%d jobs pending and %d failed of %d; run the batch (or its missing shards) again", cnt[batch.Pending], cnt[batch.Failed], len(s.Rows))
	}
	return nil
}

// adaptRunner runs a batch job as the adapt command, in this process.
type adaptRunner struct {
	e     *env
	table string
	force bool
}

// prepare parses job j's flags as adapt's and has adapt prepare it.
func (r *adaptRunner) prepare(ctx context.Context, j batch.Job) (*adaptJob, *env, error) {
	c := &adaptCmd{inBatch: true}
	e := *r.e
	e.ctx = ctx
	fs := newFlagSet(c, &env{})
	args := append(j.Args(), "-o", j.Dir)
	if r.table != "" {
		args = append(args, "--lut", r.table)
	}
	if r.force {
		args = append(args, "--force")
	}
	if j.Path != "" {
		args = append([]string{j.Path}, args...)
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	job, err := c.prepare(&e, fs.Args())
	return job, &e, err
}

// Check refuses job j's bad input. A usage mistake of adapt is a mistake
// in the manifest here: an error (exit code 1) that batch places at the
// job's line.
func (r *adaptRunner) Check(ctx context.Context, j batch.Job) error {
	_, _, err := r.prepare(ctx, j)
	var ue *usageError
	if errors.As(err, &ue) {
		if m := flagName.FindStringSubmatch(ue.msg); m != nil {
			for _, f := range j.Flags {
				if f.Name == m[1] {
					return fmt.Errorf("%s (manifest line %d)", ue.msg, f.Line)
				}
			}
		}
		return errors.New(ue.msg)
	}
	return err
}

// flagName finds the flag a usage mistake starts with ("--decay 2: ...").
var flagName = regexp.MustCompile(`^--([a-z0-9-]+)`)

func (r *adaptRunner) Run(ctx context.Context, j batch.Job) (*search.Result, error) {
	job, e, err := r.prepare(ctx, j)
	if err != nil {
		return nil, err
	}
	return job.search(e)
}
