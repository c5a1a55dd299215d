package lut

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// Measurer times single-unit models in onnxruntime with the deployment's
// session options. It is not safe for concurrent use: measurements are
// sequential by design (timing two units at once on a small machine
// measures contention).
type Measurer struct {
	// Options are the session options of the deployment (threads,
	// optimisation level). The execution provider is onnxruntime's CPU one.
	Options ort.Options
	// Warmup is the number of untimed runs before timing (default 2).
	Warmup int
	// Budget is the timed duration aimed at per entry (default 25 ms):
	// after a probe of MinRuns runs, the run count is Budget divided by
	// the probe's median, clamped to [MinRuns, MaxRuns].
	Budget time.Duration
	// MinRuns and MaxRuns bound the timed runs per entry (default 5, 200).
	MinRuns, MaxRuns int
	// Blocks splits the runs after the probe into blocks (default 3); the
	// entry's latency is the lowest block median (see Entry.MS).
	Blocks int
	// NoStrip times the single-unit model as it is, with the layout
	// reorders onnxruntime puts at its boundary, and records no layout
	// flags (for comparison; tables measured so estimate worse).
	NoStrip bool

	stats MeasureStats
}

// MeasureStats counts what a Measurer did.
type MeasureStats struct {
	Entries   int           `json:"entries"`    // entries measured
	Runs      int           `json:"runs"`       // timed runs, all entries
	Elapsed   time.Duration `json:"elapsed_ns"` // wall time spent measuring (sessions included)
	Sessions  time.Duration `json:"session_ns"` // of which creating sessions and probing layouts
	MinRunsIn int           `json:"min_runs"`   // fewest timed runs of one entry
	MaxRunsIn int           `json:"max_runs"`   // most timed runs of one entry
}

// Stats returns the counters since the Measurer was made.
func (m *Measurer) Stats() MeasureStats { return m.stats }

func (m *Measurer) defaults() (warmup int, budget time.Duration, lo, hi int) {
	warmup, budget, lo, hi = m.Warmup, m.Budget, m.MinRuns, m.MaxRuns
	if warmup <= 0 {
		warmup = 2
	}
	if budget <= 0 {
		budget = 25 * time.Millisecond
	}
	if lo <= 0 {
		lo = 5
	}
	if hi < lo {
		hi = max(lo, 200)
	}
	return
}

// Measure builds the single-unit model of k (copying tmpl for OpNode keys)
// and times it as it runs inside a model: it has onnxruntime optimise the
// model at the deployment's level, removes from the optimised graph the
// layout reorders at its boundary and the nodes that only prepare a fused
// Add's residual (see Entry.NCHWcIn), and times what is left (with
// optimisation disabled, since it is optimised already).
func (m *Measurer) Measure(k Key, tmpl *onnxio.Node) (Entry, error) {
	start := time.Now()
	defer func() { m.stats.Elapsed += time.Since(start) }()
	plain := m.NoStrip || k.Op == OpOverhead || k.Op == OpReorderIn || k.Op == OpReorderPair
	data, err := unitModel(k, tmpl, !plain)
	if err != nil {
		return Entry{}, err
	}
	e := Entry{Key: k}
	opts := m.Options
	sessStart := time.Now()
	if !plain {
		opt, err := optimizedModel(data, m.Options.OptLevel)
		if err != nil {
			return Entry{}, fmt.Errorf("lut: %s: %w", k, err)
		}
		in, out, err := strip(opt)
		if err != nil {
			return Entry{}, fmt.Errorf("lut: %s: %w", k, err)
		}
		if slices.Contains(in, true) {
			e.NCHWcIn = in
		}
		e.NCHWcOut = out
		if data, err = onnxio.Encode(opt); err != nil {
			return Entry{}, fmt.Errorf("lut: %s: %w", k, err)
		}
		opts.OptLevel = ort.OptDisable
	}
	sess, err := ort.NewSession(data, opts)
	m.stats.Sessions += time.Since(sessStart)
	if err != nil {
		return Entry{}, fmt.Errorf("lut: %s: %w", k, err)
	}
	defer sess.Close()
	mt := m
	if k.Op == OpOverhead {
		mt = m.forOverhead()
	}
	t, best, err := mt.time(sess)
	if err != nil {
		return Entry{}, fmt.Errorf("lut: %s: %w", k, err)
	}
	e.MS = ms(best)
	e.P10 = ms(t.P10())
	e.P90 = ms(t.P90())
	e.Runs = len(t.Samples)
	m.stats.Entries++
	m.stats.Runs += e.Runs
	if m.stats.MinRunsIn == 0 || e.Runs < m.stats.MinRunsIn {
		m.stats.MinRunsIn = e.Runs
	}
	m.stats.MaxRunsIn = max(m.stats.MaxRunsIn, e.Runs)
	return e, nil
}

// Timing the overhead entry. Every unit's estimate subtracts it (see
// Estimate), so an overhead read a microsecond high prices every unit a
// microsecond low, and those it was measured below at nothing at all. At
// a few microseconds a run, MaxRuns (200) runs last half a millisecond: on
// a quickstart with a busy loop pinned to one core it read 3.9 µs (others
// 2.9–3.3 µs), 252 of the table's 889 convolutions then cost nothing, the
// estimate of heavily pruned models fell to a fifth of what they measured,
// and the search took 22 iterations where 10–14 are usual (BENCHMARKS.md).
// Thirty measurements each, with the busy loop: 2.8–4.0 µs at 200 runs in 3
// blocks, 2.9–3.3 µs (two at 1.7) at 4000 runs in 10 blocks.
const (
	overheadRunsFactor = 20
	overheadBlocks     = 10
)

// forOverhead returns a copy of m that times the overhead entry: with
// overheadRunsFactor times the runs and budget, in overheadBlocks blocks.
func (m *Measurer) forOverhead() *Measurer {
	_, budget, lo, hi := m.defaults()
	o := *m
	o.Budget, o.MinRuns, o.MaxRuns = overheadRunsFactor*budget, lo, overheadRunsFactor*hi
	o.Blocks = max(m.Blocks, overheadBlocks)
	return &o
}

// time runs a probe of MinRuns timed runs, then as many more as the
// budget allows, in Blocks blocks. It returns every sample and the lowest
// of the block medians: interference from other processes only ever adds
// time, so a block it spared gives the undisturbed median.
func (m *Measurer) time(sess *ort.Session) (ort.Timing, time.Duration, error) {
	warmup, budget, lo, hi := m.defaults()
	blocks := m.Blocks
	if blocks < 1 {
		blocks = 3
	}
	inputs, err := ort.RandomInputs(sess.Inputs(), 1, 1)
	if err != nil {
		return ort.Timing{}, 0, err
	}
	t, err := sess.Time(inputs, warmup, lo)
	if err != nil {
		return ort.Timing{}, 0, err
	}
	per := t.Median()
	if per <= 0 {
		per = time.Microsecond
	}
	best := per
	n := min(hi, int(budget/per)) - lo
	for b := 0; b < blocks && n > 0; b++ {
		size := n / (blocks - b)
		n -= size
		if size == 0 {
			continue
		}
		tb, err := sess.Time(inputs, 0, size)
		if err != nil {
			return ort.Timing{}, 0, err
		}
		t.Samples = append(t.Samples, tb.Samples...)
		if size >= lo {
			best = min(best, tb.Median())
		}
	}
	return t, best, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// errNoMeasurer is returned when an entry is missing and the table may not
// measure (a foreign table, or one opened read-only).
var errNoMeasurer = errors.New("no measurer")

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
