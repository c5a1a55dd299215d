package search

import (
	"errors"
	"fmt"
	"log/slog"
	"math"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/internal/measure"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/lut"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

// Constraints are the targets the adapted model must meet. Zero fields are
// not constrained; at least one must be set.
type Constraints struct {
	// LatencyMS is the onnxruntime latency (median, batch 1) to reach,
	// checked by measuring the whole model.
	LatencyMS float64 `json:"latency_ms,omitempty"`
	// LatencyFraction, instead of LatencyMS, sets the latency target as a
	// fraction of the source model's measured latency. The source is timed
	// again, interleaved with the current model, at every Check, and the
	// target follows it: a machine whose speed drifts during a run slows
	// both models alike, so the verdict compares like with like. LatencyMS
	// then holds the target of the latest source measurement.
	LatencyFraction float64 `json:"latency_fraction,omitempty"`
	// MACs and Params bound the multiply-accumulates and the Conv/Gemm
	// parameters (internal/cost conventions).
	MACs   int64 `json:"macs,omitempty"`
	Params int64 `json:"params,omitempty"`
}

// Resource is one of the resources a constraint can bound.
type Resource int

const (
	Latency Resource = iota
	MACs
	Params
)

func (r Resource) String() string {
	return [...]string{"latency", "MACs", "params"}[r]
}

// target returns the bound on r, or 0.
func (c Constraints) target(r Resource) float64 {
	switch r {
	case Latency:
		return c.LatencyMS
	case MACs:
		return float64(c.MACs)
	}
	return float64(c.Params)
}

// Options configure Run.
type Options struct {
	Constraints Constraints

	// Schedule is the resource-reduction schedule.
	Schedule Schedule
	// MaxIterations stops the search when the constraints still do not
	// hold (default 100).
	MaxIterations int

	// RoundTo keeps channel counts at multiples of it (hardware-friendly
	// widths; default 8; 1 for any count).
	RoundTo int
	// Rank is how filters are chosen for removal (default L2 norm).
	Rank surgery.Rank

	// Train is the training data for fine-tuning; HeldOut, carved from
	// the training data, is what candidates are compared on (NetAdapt must
	// not select on the test set); Test, if set, is evaluated for the
	// report only.
	Train, HeldOut, Test dataset.Dataset
	// ShortTerm fine-tunes every candidate (give Steps); LongTerm
	// fine-tunes the final model (Epochs; zero Epochs and Steps skip it).
	ShortTerm, LongTerm finetune.Config
	// Eval configures accuracy measurement in onnxruntime.
	Eval finetune.EvalOptions
	// Recon configures reconstruction after removal (refit and ranking);
	// Data describes the data for the record (history.json).
	Recon Recon
	Data  DataInfo

	// TuneTop, when positive, short-term fine-tunes only the TuneTop
	// candidates of a step that hold the most held-out accuracy before
	// fine-tuning (the others are recorded as screened out). Zero tunes
	// every candidate, as the paper does.
	TuneTop int
	// Spread, above 1, adds to every step's single-group candidates
	// (after screening, which needs TuneTop) candidates that spread the
	// step over the k groups that lost the least as cut, for k = 2, 4, …,
	// Spread: each group meets an equal share of the reduction (see
	// spread). Zero or 1: single-group cuts only, as the paper.
	Spread int
	// MaxDrop is the most held-out top-1, in points (0–100), that a
	// chosen candidate may lose against the current model; a step whose
	// every candidate loses more is shrunk (see iterate). Zero derives
	// it from the held-out set: three standard errors of the current
	// model's held-out accuracy, within [1, 2] points; a negative value
	// turns the guard off.
	MaxDrop float64

	// Table prices candidates; its measurer (if any) fills missing entries.
	Table *lut.Table
	// Runtime is the deployment's onnxruntime set-up, used to time whole
	// models with the protocol Measure (package measure; its Runtime
	// field is set from Runtime). Every measurement times the model
	// interleaved with the source.
	Runtime ort.Options
	Measure measure.Protocol
	// Timer, when set, times every model the search measures after the
	// source (each iteration's model, the confirmation checks and the
	// final verdict) instead of this process; onnx-adapt gives a
	// measure.Child timer, so that every figure is measured in a fresh
	// process, as `onnx-adapt measure` would. A process that has just
	// trained read the quickstart's models 1–8% faster, relative to their
	// source, than the fresh process of the check that followed (mean
	// 4.5%, 7 pairs): enough to start a check that then fails, an
	// iteration and a check lost. The source and its calibration variants
	// are measured in this process, before any training.
	Timer measure.Timer
	// CalibrationVariants is the number of random pruned variants of the
	// source measured with it at the start to calibrate the table
	// (default 4; negative: calibrate on the source alone).
	CalibrationVariants int
	// Margin is how far below the latency target the search aims, as a
	// fraction, so that the confirmation check (Check) is clear of the
	// measurement noise. Checks and the final verdict use the target
	// itself. 0 (the default) derives it from the noise floor measured at
	// the start (Result.NoiseFloor): 1.95 floors at the target, since a
	// check pooled over three processes is sure at 1.645 of its noise
	// figures (the floor over √3) and the path's figure that starts it is
	// about one floor off. Without a measured floor that is 5.9% (3%,
	// measure.RatioFloor); with the fixed 3% floor the quickstart
	// crawled to a 5% margin, five iterations of 1% steps each followed by
	// a check that failed at 76–90% sure.
	Margin float64

	// Lineage describes the source model (its file's SHA-256 and, when
	// the source was itself written by onnx-adapt, its own lineage). Every
	// model the search writes records its lineage in metadata_props
	// (surgery.Lineage), so that estimate finds the calibration the search
	// fitted.
	Lineage surgery.Lineage

	// OutDir receives iter_NNN.onnx for every iteration, adapted.onnx, and
	// history.json and plan.json. A folder that holds a run of the same
	// source with the same Settings is resumed; Force starts over in a
	// folder that holds anything else (see CheckOutDir).
	OutDir string
	Force  bool
	// Saved, when set, is called with the path of every model file once it
	// is in place (iter_NNN.onnx, adapted.onnx), before the run reports it;
	// History, after every write of history.json, with the result so far.
	// An error from either stops the run. The command line writes .ort
	// files and the run's report there.
	Saved   func(path string) error
	History func(*Result) error

	// Log receives structured progress; Event, when set, gets every event.
	Log   *slog.Logger
	Event func(Event)
}

// Schedule is NetAdapt's resource-reduction schedule: iteration i (from 1)
// asks for a reduction of ΔRᵢ = First·Decayⁱ⁻¹ of the original resource.
// First = 0 derives it from Iterations: the reductions then add up to the
// gap between the original resource and the target over that many
// iterations.
type Schedule struct {
	First      float64 `json:"first"`
	Decay      float64 `json:"decay"`
	Iterations int     `json:"iterations"`
}

// reduction returns ΔRᵢ in resource units, for an original resource r0 and
// a target.
func (s Schedule) reduction(i int, r0, target float64) float64 {
	d := s.Decay
	first := s.First * r0
	if s.First == 0 {
		n := float64(s.Iterations)
		sum := n // Σ dᵏ for d = 1
		if d != 1 {
			sum = (1 - math.Pow(d, n)) / (1 - d)
		}
		first = (r0 - target) / sum
	}
	return first * math.Pow(d, float64(i-1))
}

// Defaults for options left zero.
const (
	DefaultIterations = 10
	DefaultDecay      = 0.9
	DefaultRoundTo    = 8
	DefaultVariants   = 4
	defaultMaxIter    = 100
)

// OptionError is a setting of Options that Run refuses. Field names the
// Options field (dotted for nested ones: "Constraints.LatencyFraction",
// "Schedule.Decay"; "Constraints" alone for the set of targets), so that a
// caller can point at its own name for the setting, such as a flag.
type OptionError struct {
	Field  string
	Value  any    // the refused value; nil for a missing one and for "Constraints"
	Reason string // e.g. "must be at least 1"
}

func (e *OptionError) Error() string {
	if e.Value == nil {
		return "search: " + e.Reason
	}
	return fmt.Sprintf("search: %s %v %s", e.Field, e.Value, e.Reason)
}

// Validate reports, as an *OptionError, the first setting of o that Run
// would refuse; zero fields stand for their defaults, as in Run. It checks
// the settings only: Run also needs the data (Train, HeldOut) and, for a
// latency target, a Table.
func (o Options) Validate() error {
	o.fill()
	return o.validate()
}

// fill gives zero fields their defaults.
func (o *Options) fill() {
	if o.Schedule.Decay == 0 {
		o.Schedule.Decay = DefaultDecay
	}
	if o.Schedule.Iterations == 0 {
		o.Schedule.Iterations = DefaultIterations
	}
	if o.MaxIterations == 0 {
		o.MaxIterations = defaultMaxIter
	}
	if o.RoundTo == 0 {
		o.RoundTo = DefaultRoundTo
	}
	o.Measure.Runtime = o.Runtime
	o.Measure = o.Measure.WithDefaults()
	if o.CalibrationVariants == 0 {
		o.CalibrationVariants = DefaultVariants
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// validate checks the settings of filled options.
func (o *Options) validate() error {
	bad := func(field string, v any, reason string) error { return &OptionError{field, v, reason} }
	c := o.Constraints
	switch {
	case c.LatencyMS < 0 || math.IsNaN(c.LatencyMS):
		return bad("Constraints.LatencyMS", c.LatencyMS, "must be positive")
	case c.MACs < 0:
		return bad("Constraints.MACs", c.MACs, "must be positive")
	case c.Params < 0:
		return bad("Constraints.Params", c.Params, "must be positive")
	case c.LatencyFraction < 0 || c.LatencyFraction >= 1 || math.IsNaN(c.LatencyFraction):
		return bad("Constraints.LatencyFraction", c.LatencyFraction, "must be in (0, 1)")
	case c.LatencyFraction > 0 && c.LatencyMS > 0:
		return bad("Constraints", nil, "give a latency target in ms or as a fraction, not both")
	case c.LatencyMS == 0 && c.LatencyFraction == 0 && c.MACs == 0 && c.Params == 0:
		return bad("Constraints", nil, "no constraint: give a latency, MACs or parameter target")
	case !(o.Schedule.Decay > 0 && o.Schedule.Decay <= 1):
		return bad("Schedule.Decay", o.Schedule.Decay, "must be in (0, 1]")
	case !(o.Schedule.First >= 0 && o.Schedule.First < 1):
		return bad("Schedule.First", o.Schedule.First, "must be in [0, 1)")
	case o.Schedule.Iterations < 1:
		return bad("Schedule.Iterations", o.Schedule.Iterations, "must be at least 1")
	case o.MaxIterations < 1:
		return bad("MaxIterations", o.MaxIterations, "must be at least 1")
	case o.RoundTo < 1:
		return bad("RoundTo", o.RoundTo, "must be at least 1")
	case !(o.Margin >= 0 && o.Margin < 0.5):
		return bad("Margin", o.Margin, "must be in [0, 0.5)")
	case o.Measure.Blocks < 1 || o.Measure.MinBlockRuns < 1 || o.Measure.BlockTime < 0:
		return bad("Measure", o.Measure, "needs at least one block of one run")
	case o.TuneTop < 0:
		return bad("TuneTop", o.TuneTop, "must not be negative")
	case o.Spread < 0:
		return bad("Spread", o.Spread, "must not be negative")
	case o.Recon.AnchorEvery < 0:
		return bad("Recon.AnchorEvery", o.Recon.AnchorEvery, "must not be negative")
	case math.IsNaN(o.MaxDrop) || o.MaxDrop > 100:
		return bad("MaxDrop", o.MaxDrop, "must be at most 100 points")
	case o.ShortTerm.Steps <= 0 && !(o.ShortTerm.Epochs > 0) && !o.Recon.Refit:
		return bad("ShortTerm.Steps", o.ShortTerm.Steps, "must be positive (or the candidates refitted)") // or Epochs
	case o.LongTerm.Steps < 0 || !(o.LongTerm.Epochs >= 0):
		return bad("LongTerm.Epochs", o.LongTerm.Epochs, "must not be negative")
	case o.OutDir == "":
		return bad("OutDir", nil, "no output folder")
	}
	if _, err := surgery.ParseRank(string(o.Rank)); err != nil {
		return bad("Rank", o.Rank, "is not l2 or l1")
	}
	return nil
}

// defaults fills and validates o, and checks what Run needs besides the
// settings.
func (o *Options) defaults() error {
	o.fill()
	if err := o.validate(); err != nil {
		return err
	}
	c := o.Constraints
	if (c.LatencyMS > 0 || c.LatencyFraction > 0) && o.Table == nil {
		return errors.New("search: a latency target needs a lookup table")
	}
	if o.Train == nil || o.HeldOut == nil {
		return errors.New("search: training and held-out data are required")
	}
	return nil
}
