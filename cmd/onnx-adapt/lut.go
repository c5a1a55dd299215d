package main

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/lut"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// lutFlags are the latency-table flags that lut build and estimate share.
type lutFlags struct {
	threads int
	opt     ort.OptLevel
	step    int
	foreign bool
}

func (l *lutFlags) register(fs *pflag.FlagSet) {
	fs.IntVar(&l.threads, "threads", 1, "onnxruntime intra-op threads (as deployed)")
	fs.Var(&l.opt, "opt-level", "onnxruntime graph optimisation level (as deployed)")
	fs.IntVar(&l.step, "step", lut.DefaultStep, "channel grid step of the table")
	fs.BoolVar(&l.foreign, "lut-foreign", false,
		"the table comes from another device (the deployment target): use it as it is, never measure on this host")
}

func (l *lutFlags) check() error {
	if l.threads < 1 {
		return usagef("--threads must be at least 1")
	}
	if l.step < 1 {
		return usagef("--step must be at least 1")
	}
	return nil
}

func (l *lutFlags) options() ort.Options {
	return ort.Options{IntraOpThreads: l.threads, OptLevel: l.opt}
}

// open opens (or, when path is empty or absent, creates) the table for
// this host's set-up, with a Measurer unless the table is foreign.
func (l *lutFlags) open(path string) (*lut.Table, *lut.Measurer, error) {
	h, err := lut.HostHeader(l.options(), l.step)
	if err != nil {
		return nil, nil, err
	}
	var m *lut.Measurer
	if !l.foreign {
		m = &lut.Measurer{Options: l.options()}
	}
	if path == "" {
		if l.foreign {
			return nil, nil, usagef("--lut-foreign needs a table file")
		}
		return lut.New(h, m), m, nil
	}
	t, err := lut.Open(path, h, m, l.foreign)
	if err != nil {
		return nil, nil, err
	}
	return t, m, nil
}

type lutCmd struct {
	model modelFlags
	lut   lutFlags
	out   string
}

func (*lutCmd) name() string { return "lut" }
func (*lutCmd) usage() string {
	return "lut build MODEL [-o table.json] [--threads N] [--step 8] [--opt-level LEVEL] [--lut-foreign] [--json]"
}
func (*lutCmd) summary() string {
	return "measure a latency lookup table for a model on this device"
}

func (c *lutCmd) flags(fs *pflag.FlagSet) {
	c.model.register(fs)
	c.lut.register(fs)
	fs.StringVarP(&c.out, "output", "o", "lut.json", "table file to create or extend (entries are merged)")
}

type lutBuildJSON struct {
	Model   string         `json:"model"`
	Table   string         `json:"table"`
	Header  lut.Header     `json:"header"`
	Stats   lut.BuildStats `json:"stats"`
	Missing []string       `json:"missing,omitempty"`
}

func (c *lutCmd) run(e *env, args []string) error {
	if len(args) == 0 || args[0] != "build" {
		if len(args) == 0 {
			return usagef("missing subcommand: lut build MODEL")
		}
		return usagef("unknown subcommand %q: lut build MODEL", args[0])
	}
	path, err := oneModelArg(args[1:])
	if err != nil {
		return err
	}
	if err := c.lut.check(); err != nil {
		return err
	}
	m, err := c.model.load(path)
	if err != nil {
		return err
	}
	t, _, err := c.lut.open(c.out)
	if err != nil {
		return err
	}
	if t.Foreign() {
		return c.coverage(e, path, t, m.Graph)
	}
	p := e.progress()
	progress := func(done, total int) { p.Step(done, total, "measuring") }
	e.log.Info("building latency table", "model", path, "table", c.out, "threads", c.lut.threads, "step", c.lut.step)
	st, buildErr := t.Build(e.ctx, m.Graph, progress)
	p.Finish()
	// Keep whatever was measured, even when interrupted.
	if st.Measured > 0 || buildErr == nil {
		if err := t.Save(c.out); err != nil {
			return errors.Join(buildErr, err)
		}
	}
	if buildErr != nil {
		return buildErr
	}
	if e.json {
		return e.writeJSON(lutBuildJSON{Model: path, Table: c.out, Header: t.Header, Stats: st})
	}
	fmt.Fprintf(e.stdout, "%s: %d units, %d keys on their lines: %d already in %s, %d measured in %.1f s (%.1f s in sessions, %d timed runs, %d–%d per entry)\n",
		path, st.Units, st.Keys, st.Cached, c.out, st.Measured, st.Elapsed.Seconds(), st.Measure.Sessions.Seconds(),
		st.Measure.Runs, st.Measure.MinRunsIn, st.Measure.MaxRunsIn)
	fmt.Fprintf(e.stdout, "table %s: %d entries; %s, %d cores, onnxruntime %s, %d thread(s), optimisation %s, step %d\n",
		c.out, st.Entries, t.Header.CPU, t.Header.Cores, t.Header.Runtime, t.Header.Threads, t.Header.OptLevel, t.Header.Step)
	return nil
}

// coverage reports, without measuring, which keys of the model's lines a
// foreign table lacks (lut build --lut-foreign: "would this table from the
// device serve this model?"). Missing keys are an error naming them.
func (c *lutCmd) coverage(e *env, path string, t *lut.Table, g *onnxio.Graph) error {
	cov, err := t.Coverage(g)
	if err != nil {
		return err
	}
	st := lut.BuildStats{Units: cov.Units, Keys: cov.Keys, Cached: cov.Keys - len(cov.Missing), Entries: t.Len()}
	if e.json {
		out := lutBuildJSON{Model: path, Table: c.out, Header: t.Header, Stats: st}
		for _, k := range cov.Missing {
			out.Missing = append(out.Missing, k.String())
		}
		if err := e.writeJSON(out); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "%s: foreign table %s (%s, onnxruntime %s, %d thread(s)) has %d of the %d keys on the model's lines\n",
			path, c.out, t.Header.CPU, t.Header.Runtime, t.Header.Threads, st.Cached, st.Keys)
	}
	if err := cov.Err(); err != nil {
		return fmt.Errorf("%w; run \"onnx-adapt lut build\" for this model on the device", err)
	}
	return nil
}
