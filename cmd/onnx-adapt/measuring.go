package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/onnx-adapt/onnx-adapt/internal/measure"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/lut"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

// measureFlags set the measurement protocol (package measure) of every
// command that times whole models: measure, estimate --measure and adapt.
type measureFlags struct {
	blocks  int
	blockMS float64
}

func (f *measureFlags) register(fs *pflag.FlagSet) {
	fs.IntVar(&f.blocks, "blocks", measure.DefaultBlocks,
		"timing: rounds of blocks; a latency is the median of its block medians, its noise their standard error")
	fs.Float64Var(&f.blockMS, "block-ms", float64(measure.DefaultBlockTime)/float64(time.Millisecond),
		"timing: milliseconds each block runs (at least 5 runs)")
}

func (f *measureFlags) check() error {
	if f.blocks < 1 || !(f.blockMS > 0) {
		return usagef("--blocks must be at least 1 and --block-ms positive")
	}
	return nil
}

// protocol is the measurement protocol with session options rt.
func (f *measureFlags) protocol(rt ort.Options) measure.Protocol {
	return measure.Protocol{Runtime: rt, Blocks: f.blocks,
		BlockTime: time.Duration(f.blockMS * float64(time.Millisecond))}.WithDefaults()
}

// loadWithLineage loads the model at path (as modelFlags.load does) and
// returns its lineage: the one it records when onnx-adapt wrote it, else a
// lineage that starts at this file, with the fingerprint under which a
// lookup table keeps its calibration.
func (m *modelFlags) loadWithLineage(path string) (*onnxio.Model, surgery.Lineage, error) {
	model, err := m.load(path)
	if err != nil {
		return nil, surgery.Lineage{}, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, surgery.Lineage{}, err
	}
	l, err := sourceLineage(model, data, path)
	return model, l, err
}

// sourceLineage is surgery.SourceLineage with the source's fingerprint.
func sourceLineage(m *onnxio.Model, data []byte, name string) (surgery.Lineage, error) {
	l, err := surgery.SourceLineage(m, data, name)
	if err != nil {
		return l, err
	}
	if l.Fingerprint == "" && len(l.Plan.Groups) == 0 {
		g := m.Graph.Clone()
		if err := g.InferShapes(); err != nil {
			return l, err
		}
		if l.Fingerprint, err = lut.ModelFingerprint(g); err != nil {
			return l, err
		}
	}
	return l, nil
}

// lineageString describes a lineage in one line.
func lineageString(l surgery.Lineage) string {
	name := l.SourceName
	if name == "" {
		name = "a model"
	}
	return fmt.Sprintf("derived from %s (sha256 %.12s…) by a plan over %d group(s)", name, l.SourceSHA256, len(l.Plan.Groups))
}

// measureChild is the hidden command that times models for a search's
// checks in a fresh process (measure.Serve).
const measureChild = "__measure-child"

// searchTimer returns the timer of a search's measurements after the
// source's (search.Options.Timer): this executable, started fresh for each
// (measure.Child), so that every figure is what `onnx-adapt measure` would
// read rather than what a process that has trained for minutes reads
// (BENCHMARKS.md, "One figure, three ways"). Without a path to this
// executable they stay in this process.
func searchTimer() measure.Timer {
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	return measure.Child(exe, measureChild)
}
