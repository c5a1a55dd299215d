package search

import (
	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/measure"
	"github.com/onnx-adapt/onnx-adapt/lut"
	"github.com/onnx-adapt/onnx-adapt/recon"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

// Figures are a model's resources and accuracy.
type Figures struct {
	// MeasuredMS is the whole-model onnxruntime latency (package measure:
	// the median of block medians) and NoiseMS its standard error; P10MS
	// and P90MS are percentiles of every timed run. EstimatedMS is the
	// calibrated table estimate.
	MeasuredMS  float64 `json:"measured_ms"`
	NoiseMS     float64 `json:"noise_ms,omitempty"`
	P10MS       float64 `json:"p10_ms"`
	P90MS       float64 `json:"p90_ms"`
	EstimatedMS float64 `json:"estimated_ms,omitempty"`
	// SourceMS is the source's latency timed alongside (interleaved),
	// Ratio this model's latency relative to it (round by round) and
	// RatioNoise that ratio's noise (measure.Ratio).
	SourceMS   float64 `json:"source_ms,omitempty"`
	Ratio      float64 `json:"ratio,omitempty"`
	RatioNoise float64 `json:"ratio_noise,omitempty"`
	// PathRatio is the ratio the search decides on (whether to check,
	// how far to step): the table estimate scaled by the median gap
	// between table and measurement over the latest measurements along the
	// search's path, this one included (see calibrator.pathRatio). Ratio
	// and the checks' verdicts stay this model's own measurement.
	PathRatio float64 `json:"path_ratio,omitempty"`
	MACs      int64   `json:"macs"`
	Params    int64   `json:"params"`
	Bytes     int64   `json:"bytes"`
	// HeldOut is the held-out accuracy; Test the test accuracy, when test
	// data was given (reports only).
	HeldOut *finetune.Accuracy `json:"held_out,omitempty"`
	Test    *finetune.Accuracy `json:"test,omitempty"`
}

// setLatency sets f's latency figures from model's measurement l, taken
// together with the source's src; the ratio's noise uses floor.
func (f *Figures) setLatency(l, src measure.Latency, floor measure.Floor) error {
	f.MeasuredMS, f.NoiseMS, f.P10MS, f.P90MS = l.MS, l.NoiseMS, l.P10MS, l.P90MS
	r, err := measure.RatioWithin(l, src, floor)
	if err != nil {
		return err
	}
	f.SourceMS, f.Ratio, f.RatioNoise, f.PathRatio = src.MS, r.Value, r.Noise, 0
	return nil
}

// Candidate is one proposal in an iteration: one group cut (Group, Keep),
// or several groups cut together (Pair, and its Pair): two when single
// cuts fail (see pairs), or a step spread over groups (Options.Spread).
type Candidate struct {
	Group int      `json:"group"`
	Roots []string `json:"roots"`
	Size  int      `json:"size"`
	// Keep is the largest channel count meeting the budget; 0 when none
	// does (Skipped says why).
	Keep int `json:"keep,omitempty"`
	// Pair is the next group of a candidate that cuts several; the first
	// carries the whole candidate's figures.
	Pair        *Candidate `json:"pair,omitempty"`
	EstimatedMS float64    `json:"estimated_ms,omitempty"`
	MACs        int64      `json:"macs,omitempty"`
	Params      int64      `json:"params,omitempty"`
	// ScreenTop1 and ScreenLoss are the held-out top-1 and loss
	// (finetune.Accuracy.Loss) before fine-tuning, on the ScreenImages
	// held-out images screening evaluated it on (Options.TuneTop);
	// HeldOutTop1 and HeldOutLoss the held-out top-1 and loss after
	// short-term fine-tuning.
	ScreenTop1   float64 `json:"screen_top1,omitempty"`
	ScreenLoss   float64 `json:"screen_loss,omitempty"`
	ScreenImages int     `json:"screen_images,omitempty"`
	HeldOutTop1  float64 `json:"held_out_top1,omitempty"`
	HeldOutLoss  float64 `json:"held_out_loss,omitempty"`
	Skipped      string  `json:"skipped,omitempty"`
	// Channels are the kept channels when the search chose them itself
	// (Recon.Rank); Recon reports the refit of the layers that read the
	// removed channels (Recon.Refit).
	Channels []int `json:"-"`
	// screened is the accuracy as cut when one screening stage evaluated
	// the candidate on every held-out image: without fine-tuning, tune
	// need not evaluate it again.
	screened *finetune.Accuracy
	Recon    []recon.Fit `json:"recon,omitempty"`
	// Rejected says why a tuned candidate may not be chosen (it loses more
	// than the allowed held-out accuracy).
	Rejected string `json:"rejected,omitempty"`
}

func (c *Candidate) feasible() bool { return c.Keep > 0 }

// Step is one attempt of an iteration at a budget. An iteration shrinks
// its step (halves the reduction) when fewer than two groups can meet the
// budget or when every candidate loses more than Options.MaxDrop; the
// rejected attempts are kept with the reason.
type Step struct {
	Reduction  float64     `json:"reduction"`
	Budget     float64     `json:"budget"`
	Candidates []Candidate `json:"candidates,omitempty"`
	Rejected   string      `json:"rejected"`
}

// Iteration records one NetAdapt iteration.
type Iteration struct {
	Index    int     `json:"index"`
	Resource string  `json:"resource"`
	Budget   float64 `json:"budget"`
	// Reduction is the step that Budget is below the model's resource
	// before the iteration.
	Reduction float64 `json:"reduction,omitempty"`
	// Chosen is the index in Candidates of the kept candidate.
	Chosen     int         `json:"chosen"`
	Candidates []Candidate `json:"candidates"`
	// Shrunk are the attempts at larger steps that were rejected before
	// Budget was tried, and why.
	Shrunk []Step `json:"shrunk,omitempty"`
	// MaxDrop is the held-out top-1 loss (points) a candidate was allowed;
	// 0 (absent) when there was no limit.
	MaxDrop float64 `json:"max_drop,omitempty"`
	// Plan is the chosen pruning, relative to the previous iteration's
	// model.
	Plan    surgery.Plan `json:"plan"`
	File    string       `json:"file"`
	Figures Figures      `json:"figures"`
	Seconds float64      `json:"seconds"`
	// Anchor reports the refit of this iteration's model towards the
	// source before it was written (Recon.AnchorEvery).
	Anchor *AnchorResult `json:"anchor,omitempty"`
}

// Result is the outcome of Run, also written to OutDir/history.json.
type Result struct {
	Constraints Constraints `json:"constraints"`
	Schedule    Schedule    `json:"schedule"`
	// Protocol is how whole models were measured.
	Protocol measure.Protocol `json:"protocol"`
	Lineage  surgery.Lineage  `json:"lineage"`
	// Settings are what the run's result depends on besides the source
	// and its data; a folder is resumed only with equal ones.
	Settings *Settings `json:"settings,omitempty"`
	Source   Figures   `json:"source"`
	// Iterations are the completed iterations.
	Iterations []Iteration `json:"iterations"`
	// Plan composes every iteration's plan: it replays the adapted
	// architecture on the original model (surgery.Apply).
	Plan surgery.Plan `json:"plan"`
	// Final is the adapted model after long-term fine-tuning, written to
	// File. Both are empty when the search was blocked before meeting the
	// constraints (Blocked).
	Final Figures `json:"final"`
	File  string  `json:"file"`
	// LongTermRejected says why File is the last iteration's model without
	// its long-term fine-tune: that fine-tune lost more held-out top-1
	// than a chosen candidate may (see finish).
	LongTermRejected string `json:"long_term_rejected,omitempty"`
	// Anchor reports the refit of the last iteration's model towards the
	// source before the long-term fine-tune (Recon.Anchor).
	Anchor *AnchorResult `json:"anchor,omitempty"`
	// Checks are the confirmation measurements taken whenever the search
	// was about to stop on a latency target (see Check).
	Checks []Check `json:"checks,omitempty"`
	// Blocked says why the search stopped before every constraint held:
	// no step, however small, and no pair of groups gave an acceptable
	// candidate (see iterate). That iteration's rejected attempts are in
	// BlockedAt.
	Blocked   string     `json:"blocked,omitempty"`
	BlockedAt *Iteration `json:"blocked_at,omitempty"`
	// Met reports whether every constraint holds on the final model's
	// measured figures; Verdict is the final latency check's, when there
	// is a latency target.
	Met     bool             `json:"met"`
	Verdict *measure.Verdict `json:"verdict,omitempty"`
	Seconds float64          `json:"seconds"`
	// NoiseFloor is how far ratios to the source moved between the
	// processes that measured the source and its calibration variants
	// (see calibrate); it is the floor of every ratio's noise in the run.
	// Absent when there was no table or no variant: every ratio's noise
	// then has measure.RatioFloor. Margin is how far below a latency
	// target the search aimed (Options.Margin, or the one derived from
	// the floor).
	NoiseFloor *measure.Floor `json:"noise_floor,omitempty"`
	Margin     float64        `json:"margin,omitempty"`
	// Cal is the calibration the search ended with (its points: the
	// source, the calibration variants and every iteration's model).
	Cal []lut.Calibration `json:"calibrations,omitempty"`
	// Data says what the search learnt from (Options.Data); Recon how it
	// repaired cuts.
	Data  DataInfo `json:"data"`
	Recon Recon    `json:"recon"`
}

// Check is a confirmation measurement of the latency, interleaved with the
// source, with more rounds than an iteration's: with Options.Timer, in
// three fresh processes of twice the rounds each, pooled; without it, one
// measurement of five times the rounds in this process (see checkPlan).
// When an iteration's measurement
// meets the latency target with the margin to spare, the search checks
// before it stops: it stops only when the check meets the target with
// confidence (measure.Sure), and otherwise goes on. The final model's
// verdict is one more check. For a fractional target the comparison is
// the model's latency relative to the source's, round by round, against
// the fraction.
type Check struct {
	// After is the number of iterations done when the check was taken;
	// Final marks the final model's check.
	After int  `json:"after"`
	Final bool `json:"final,omitempty"`
	// FreshProcess: the check was timed in a process of its own
	// (Options.Timer), not in the adapting one.
	FreshProcess bool `json:"fresh_process,omitempty"`
	// Processes is how many processes the check's figures are pooled
	// over (each a fresh one with FreshProcess).
	Processes int `json:"processes,omitempty"`
	// SourceMS is the source's latency measured with the model.
	SourceMS   float64 `json:"source_ms,omitempty"`
	MeasuredMS float64 `json:"measured_ms"`
	NoiseMS    float64 `json:"noise_ms"`
	LimitMS    float64 `json:"limit_ms"`
	// Verdict is the comparison, in ms or, for a fractional target, as
	// a fraction of the source's latency.
	Verdict measure.Verdict `json:"verdict"`
	// Passed: the check met the target with confidence (for the final
	// check: the measurement is within the target; Verdict says how
	// sure).
	Passed bool `json:"passed"`
	// Own is the final check's verdict on its own measurement when
	// Verdict pools it with the check taken on the same architecture
	// (after as many iterations) before the long-term fine-tune, which
	// changes weights, not latency; nil otherwise.
	Own *measure.Verdict `json:"own,omitempty"`
}

// EventKind says what an Event reports.
type EventKind int

const (
	SourceMeasured EventKind = iota
	IterationStart
	CandidatePriced
	CandidateTuned
	StepShrunk
	IterationDone
	Checked
	LongTermStart
	Done
	// AnchorStart: the last iteration's model is being refitted towards
	// the source (Recon.Anchor).
	AnchorStart
)

// Event is a progress report of Run.
type Event struct {
	Kind      EventKind
	Iteration int
	Resource  Resource
	Budget    float64
	// Candidate is set for candidate events; Index/Count place it among
	// this iteration's candidates.
	Candidate    *Candidate
	Index, Count int
	// Figures is set for SourceMeasured, IterationDone and Done.
	Figures *Figures
	// Reason is set for StepShrunk: why the step was rejected.
	Reason string
	// Check is set for Checked.
	Check *Check
	// Floor and Margin are set for SourceMeasured (Result.NoiseFloor,
	// Result.Margin; Floor is nil when none was measured).
	Floor  *measure.Floor
	Margin float64
}
