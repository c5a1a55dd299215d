package search

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/internal/measure"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

// Resuming. A run writes history.json after every finished iteration,
// after that iteration's iter_NNN.onnx; each file is written whole
// (internal/atomicfile). A run that stops part-way (Ctrl-C, a pre-empted
// node, kill -9) therefore leaves a folder whose history.json describes
// finished iterations whose models are all in place; at most it also
// leaves the next iteration's model (written, not yet recorded) and a
// temporary file of the write that was cut short. Run on such a folder,
// with the same source and Settings, continues after the last recorded
// iteration: it removes the leftovers, restores the source's figures, the
// calibration points and checks from history.json, and loads the last
// iter_NNN.onnx as the current model. Nothing a later iteration computes
// depends on more than that: each iteration's fine-tuning is seeded by the
// seed and the iteration's index, and the current model is taken, in an
// uninterrupted run too, from the exact bytes written to iter_NNN.onnx
// (see reload). For MACs and parameter targets a resumed run therefore
// writes the same bytes as an uninterrupted one; for a latency target the
// choices also depend on measurements (see Settings).

// HistoryFile is the name of the history in the output folder.
const HistoryFile = "history.json"

// Settings are what a run's result depends on besides its source model
// and data, as history.json records them. A folder is resumed only with
// equal Settings (and the same source): a run continued with another seed
// or target would be neither run.
type Settings struct {
	// Constraints are the targets as given (a fractional latency target
	// without its resolved LatencyMS).
	Constraints   Constraints      `json:"constraints"`
	Schedule      Schedule         `json:"schedule"`
	MaxIterations int              `json:"max_iterations"`
	RoundTo       int              `json:"round_to"`
	Rank          surgery.Rank     `json:"rank"`
	TuneTop       int              `json:"tune_top,omitempty"`
	Spread        int              `json:"spread,omitempty"`
	MaxDrop       float64          `json:"max_drop,omitempty"`
	Margin        float64          `json:"margin"`
	Variants      int              `json:"calibration_variants"`
	Measure       measure.Protocol `json:"measure"`
	ShortTerm     TrainSettings    `json:"short_term"`
	LongTerm      TrainSettings    `json:"long_term"`
	// Train, HeldOut and Test are the sizes of the data sets.
	Train   int `json:"train"`
	HeldOut int `json:"held_out"`
	Test    int `json:"test,omitempty"`
	// DataMode is the data mode without labels (ModeUnlabelled,
	// ModeDataFree: what fine-tuning learns and held-out figures
	// measure); empty for labelled data, as in records that predate the
	// modes.
	DataMode string `json:"data_mode,omitempty"`
	// Recon is the reconstruction after removal, when it is on.
	Recon *ReconSettings `json:"recon,omitempty"`
}

// ReconSettings are the settings of Options.Recon that change a run's
// result.
type ReconSettings struct {
	Refit          bool   `json:"refit"`
	Rank           bool   `json:"rank"`
	Anchor         bool   `json:"anchor,omitempty"`
	AnchorEvery    int    `json:"anchor_every,omitempty"`
	Images         int    `json:"images,omitempty"`
	RowsPerFeature int    `json:"rows_per_feature,omitempty"`
	Seed           uint64 `json:"seed,omitempty"`
}

// TrainSettings are the settings of a finetune.Config that change its
// result (not its worker counts, which do not: see finetune).
type TrainSettings struct {
	Epochs         float64             `json:"epochs,omitempty"`
	Steps          int                 `json:"steps,omitempty"`
	Batch          int                 `json:"batch"`
	LR             float64             `json:"lr"`
	Momentum       float64             `json:"momentum"`
	WeightDecay    float64             `json:"weight_decay"`
	Nesterov       bool                `json:"nesterov,omitempty"`
	Schedule       finetune.Schedule   `json:"schedule"`
	LabelSmoothing float64             `json:"label_smoothing,omitempty"`
	Distill        bool                `json:"distill,omitempty"`
	DistillWeight  float64             `json:"distill_weight,omitempty"`
	Temperature    float64             `json:"temperature,omitempty"`
	FreezeBN       bool                `json:"freeze_bn,omitempty"`
	Seed           uint64              `json:"seed"`
	Augment        *dataset.Augment    `json:"augment,omitempty"`
	Preprocess     *dataset.Preprocess `json:"preprocess,omitempty"`
}

func trainSettings(c finetune.Config) TrainSettings {
	return TrainSettings{Epochs: c.Epochs, Steps: c.Steps, Batch: c.Batch, LR: c.LR, Momentum: c.Momentum,
		WeightDecay: c.WeightDecay, Nesterov: c.Nesterov, Schedule: c.Schedule, LabelSmoothing: c.LabelSmoothing,
		Distill: c.Teacher != nil, DistillWeight: c.DistillWeight, Temperature: c.Temperature, FreezeBN: c.FreezeBN,
		Seed: c.Seed, Augment: c.Augment, Preprocess: c.Preprocess}
}

// spreadSetting is Options.Spread as Settings record it: 0 for single
// cuts (0 or 1), so that records from before the option resume.
func spreadSetting(k int) int {
	if k <= 1 {
		return 0
	}
	return k
}

// settings returns the Settings of filled options.
func (o *Options) settings() Settings {
	s := Settings{Constraints: o.Constraints, Schedule: o.Schedule, MaxIterations: o.MaxIterations, RoundTo: o.RoundTo,
		Rank: o.Rank, TuneTop: o.TuneTop, Spread: spreadSetting(o.Spread), MaxDrop: o.MaxDrop, Margin: o.Margin, Variants: o.CalibrationVariants,
		Measure: o.Measure, ShortTerm: trainSettings(o.ShortTerm), LongTerm: trainSettings(o.LongTerm)}
	s.Measure.Runtime = o.Runtime
	if m := o.Data.Mode; m != ModeLabelled {
		s.DataMode = m
	}
	if r := o.Recon; r.on() {
		s.Recon = &ReconSettings{Refit: r.Refit, Rank: r.Rank, Anchor: r.Anchor, AnchorEvery: r.AnchorEvery, Images: r.Options.Images,
			RowsPerFeature: r.Options.RowsPerFeature, Seed: r.Options.Seed}
	}
	for _, d := range []struct {
		ds dataset.Dataset
		n  *int
	}{{o.Train, &s.Train}, {o.HeldOut, &s.HeldOut}, {o.Test, &s.Test}} {
		if d.ds != nil {
			*d.n = d.ds.Len()
		}
	}
	return s
}

// Finished reports whether the run r records is over: it wrote its
// adapted model, or it stopped blocked.
func (r *Result) Finished() bool { return r.File != "" || r.Blocked != "" }

// OutDirError is an output folder Run will not use: it holds another run
// (another source model, other settings) or files Run did not write.
type OutDirError struct {
	Dir    string
	Reason string
}

func (e *OutDirError) Error() string {
	return fmt.Sprintf("search: output folder %s %s; give another output folder, or force to start over there", e.Dir, e.Reason)
}

// ReadHistory reads dir's history.json; it returns nil and no error when
// there is none.
func ReadHistory(dir string) (*Result, error) {
	data, err := os.ReadFile(filepath.Join(dir, HistoryFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("search: %s: %w", filepath.Join(dir, HistoryFile), err)
	}
	return &r, nil
}

// CheckOutDir reports what Run would do with opts.OutDir, without writing
// anything: start afresh (nil, nil: the folder is absent, holds no model
// or history of a run, or opts.Force is set), continue the run it holds
// (that run's history), or refuse (*OutDirError): the folder holds another
// model's run (the source SHA-256 or the plan in the lineage differs), a
// run with other Settings, or models without a history. A finished run is returned as it is
// (Result.Finished); Run returns it without doing anything.
func CheckOutDir(opts Options) (*Result, error) {
	opts.fill()
	if opts.Force {
		return nil, nil
	}
	dir := opts.OutDir
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("search: %w", err)
	case len(entries) == 0:
		return nil, nil
	}
	prev, err := ReadHistory(dir)
	if err != nil {
		return nil, &OutDirError{dir, fmt.Sprintf("has an unreadable %s (%v)", HistoryFile, err)}
	}
	if prev == nil {
		// Files a run does not write (a batch's job record, a report) are
		// left alone. Models without a history are another model's, unless
		// their lineage says they come from this source (a run stopped
		// before its first history).
		for _, e := range entries {
			name := e.Name()
			if !iterFile.MatchString(name) && name != "adapted.onnx" {
				continue
			}
			m, err := onnxio.Load(filepath.Join(dir, name))
			if err == nil {
				l, ok, lerr := surgery.ReadLineage(m)
				if lerr == nil && ok && l.SourceSHA256 == opts.Lineage.SourceSHA256 {
					continue
				}
			}
			return nil, &OutDirError{dir, fmt.Sprintf("holds %s, a model of another run, and no %s", name, HistoryFile)}
		}
		return nil, nil
	}
	if a, b := prev.Lineage.SourceSHA256, opts.Lineage.SourceSHA256; a != b {
		return nil, &OutDirError{dir, fmt.Sprintf("holds a run of another model (source SHA-256 %.12s…, this one %.12s…)", a, b)}
	}
	if a, b := planJSON(prev.Lineage.Plan), planJSON(opts.Lineage.Plan); a != b {
		return nil, &OutDirError{dir, fmt.Sprintf("holds a run of another model (derived from the same source by the plan %s, this one by %s)", a, b)}
	}
	if prev.Settings == nil {
		return nil, &OutDirError{dir, "holds a run without recorded settings"}
	}
	if d := diffSettings(*prev.Settings, opts.settings()); d != "" {
		return nil, &OutDirError{dir, "holds a run with other settings (" + d + ")"}
	}
	return prev, nil
}

// diffSettings names the settings in which a and b differ, as history.json
// spells them ("" when equal).
func diffSettings(a, b Settings) string {
	flat := func(s Settings) map[string]string {
		data, _ := json.Marshal(s)
		var m map[string]json.RawMessage
		_ = json.Unmarshal(data, &m)
		out := map[string]string{}
		for k, v := range m {
			var sub map[string]json.RawMessage
			if json.Unmarshal(v, &sub) == nil && k != "augment" && k != "preprocess" {
				for k2, v2 := range sub {
					out[k+"."+k2] = string(v2)
				}
				continue
			}
			out[k] = string(v)
		}
		return out
	}
	fa, fb := flat(a), flat(b)
	var keys []string
	for k := range fa {
		keys = append(keys, k)
	}
	for k := range fb {
		if _, ok := fa[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var diffs []string
	for _, k := range keys {
		if fa[k] != fb[k] {
			diffs = append(diffs, fmt.Sprintf("%s: %s there, %s now", k, orNone(fa[k]), orNone(fb[k])))
		}
	}
	return strings.Join(diffs, "; ")
}

func planJSON(p surgery.Plan) string {
	if len(p.Groups) == 0 {
		return "[]"
	}
	data, _ := json.Marshal(p.Groups)
	return string(data)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// leftover matches what an interrupted run may leave besides its recorded
// files: internal/atomicfile's temporary files (".NAME" and digits) of the
// files a run writes, its hooks' included (.ort files, the report).
var leftover = regexp.MustCompile(`^\.(iter_\d{3,}\.(onnx|ort)|adapted\.(onnx|ort)|history\.json|plan\.json|report\.md|tradeoff\.png)\d+$`)

// iterFile matches an iteration's model, and its .ort file (Options.Saved
// writes one beside it).
var iterFile = regexp.MustCompile(`^iter_(\d{3,})\.onnx$`)
var iterOrt = regexp.MustCompile(`^iter_(\d{3,})\.ort$`)

// prepareOutDir makes the output folder ready for a run that has recorded
// done iterations (0 for a fresh run): it creates it, and removes what an
// earlier, interrupted run left beyond them, and with Force every file a
// run writes.
func (s *searcher) prepareOutDir(done int) error {
	dir := s.opts.OutDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("search: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		stale := leftover.MatchString(name) || name == "adapted.onnx" || name == "adapted.ort"
		for _, re := range []*regexp.Regexp{iterFile, iterOrt} {
			if m := re.FindStringSubmatch(name); m != nil {
				n, _ := strconv.Atoi(m[1])
				stale = n > done
			}
		}
		if s.opts.Force && (name == HistoryFile || name == "plan.json") {
			stale = true
		}
		if stale {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("search: %w", err)
			}
		}
	}
	return nil
}

// resume restores the state of the run prev recorded for source m: the
// source (figures from prev, not measured again), the calibration, the
// result so far, and the current model, loaded from the last iteration's
// file and checked against the history.
func (s *searcher) resume(m *onnxio.Model, prev *Result) (*state, error) {
	src := &state{model: m.Clone(), plan: surgery.Plan{Groups: []surgery.GroupPlan{}}, fig: prev.Source}
	if err := src.model.Graph.InferShapes(); err != nil {
		return nil, err
	}
	var err error
	if src.data, err = onnxio.Encode(src.model); err != nil {
		return nil, err
	}
	s.src = src
	if s.opts.Table != nil {
		if len(prev.Cal) == 0 {
			return nil, &OutDirError{s.opts.OutDir, fmt.Sprintf("has a %s without the calibration a latency run needs", HistoryFile)}
		}
		s.cal = &calibrator{srcMS: prev.Source.MeasuredMS, cal: prev.Cal[0]}
	}
	if prev.NoiseFloor != nil {
		s.floor = *prev.NoiseFloor
	}
	res := prev
	res.Settings = s.res.Settings
	res.Protocol, res.Lineage = s.res.Protocol, s.res.Lineage
	res.Data, res.Recon = s.res.Data, s.res.Recon
	s.res = res
	s.started = time.Now().Add(-time.Duration(prev.Seconds * float64(time.Second)))
	n := len(res.Iterations)
	if n == 0 {
		return src, nil
	}
	last := res.Iterations[n-1]
	path := filepath.Join(s.opts.OutDir, fmt.Sprintf("iter_%03d.onnx", last.Index))
	cur := &state{fig: last.Figures, plan: res.Plan}
	if cur.data, err = os.ReadFile(path); err != nil {
		return nil, &OutDirError{s.opts.OutDir, fmt.Sprintf("lacks %s, which %s records (%v)", filepath.Base(path), HistoryFile, err)}
	}
	if err := reload(cur); err != nil {
		return nil, err
	}
	l, ok, err := surgery.ReadLineage(cur.model)
	if err != nil || !ok || l.SourceSHA256 != s.opts.Lineage.SourceSHA256 {
		return nil, &OutDirError{s.opts.OutDir, fmt.Sprintf("holds a %s that is not the model %s records", filepath.Base(path), HistoryFile)}
	}
	s.opts.Log.Info("resuming", "dir", s.opts.OutDir, "after_iteration", last.Index)
	return cur, nil
}

// reload replaces st's model with the one decoded from st.data, the bytes
// written to its file, with its shapes inferred: the model a resumed run
// continues from, so that an uninterrupted run continues from exactly the
// same one.
func reload(st *state) error {
	m, err := onnxio.Decode(st.data)
	if err != nil {
		return err
	}
	if err := m.Graph.InferShapes(); err != nil {
		return err
	}
	st.model = m
	return nil
}
