package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/pflag"

	"github.com/onnx-adapt/onnx-adapt/internal/measure"
	"github.com/onnx-adapt/onnx-adapt/models/pretrained"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

// A latency in milliseconds moves between processes on a shared machine by
// far more than the noise one measurement can see (BENCHMARKS.md, "One
// figure, three ways": 24% across processes against 1–2% reported, with
// two training threads on the machine's two cores), while the ratio to the
// source timed in the same rounds does not. So measure and estimate
// --measure time a model that onnx-adapt derived alongside its source, as
// every check of the search does, and report that ratio next to the
// milliseconds: the figure to compare across commands and with the
// search's.

// againstFlag chooses the model measure and estimate --measure time
// alongside: auto (the lineage's source, when its file is there), none,
// or a file.
type againstFlag struct{ value string }

const (
	againstAuto = "auto"
	againstNone = "none"
)

func (f *againstFlag) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.value, "against", againstAuto,
		"time the model alongside this one and report the ratio (auto: its source, found through its lineage when the file is still there with the recorded SHA-256; none: no comparison)")
}

// alongside is a model timed with the measured one, and the ratio.
type alongside struct {
	Model string `json:"model"`
	// How it was chosen: "lineage" or "--against".
	How     string          `json:"how"`
	Latency measure.Latency `json:"latency"`
	// Ratio is the measured model's latency over this one's, from the
	// round-by-round ratios of their block figures.
	Ratio measure.Ratio `json:"ratio"`
}

// reference is a serialized model to time another alongside: its name
// and how it was found ("lineage" or "--against").
type reference struct {
	data      []byte
	name, how string
}

// String is the reference's name, "" for none.
func (r *reference) String() string {
	if r == nil {
		return ""
	}
	return r.name
}

// reference returns the model to time m alongside; nil when there is none,
// with the reason (empty when there is nothing to say: --against none, or
// a model that is its own source).
func (f *againstFlag) reference(mf *modelFlags, m *onnxio.Model) (*reference, string, error) {
	switch f.value {
	case againstNone:
		return nil, "", nil
	case againstAuto, "":
	default:
		return loadReference(mf, f.value, "--against")
	}
	lin, derived, err := surgery.ReadLineage(m)
	if err != nil || !derived {
		return nil, "", err
	}
	if emb := pretrained.Bytes(); surgery.SHA256(emb) == lin.SourceSHA256 {
		ref, err := onnxio.Decode(emb)
		if err != nil {
			return nil, "", err
		}
		data, err := encodeWithShapes(ref)
		return &reference{data, pretrained.Name + " (embedded)", "lineage"}, "", err
	}
	name := lin.SourceName
	raw, err := os.ReadFile(name)
	switch {
	case errors.Is(err, fs.ErrNotExist) || name == "":
		return nil, fmt.Sprintf("its source %q (lineage) is not there: give it with --against to compare", name), nil
	case err != nil:
		return nil, "", err
	case surgery.SHA256(raw) != lin.SourceSHA256:
		return nil, fmt.Sprintf("%s is not its source any more (SHA-256 differs from the lineage's): give the source with --against to compare", name), nil
	}
	return loadReference(mf, name, "lineage")
}

// loadReference loads the model at path as a reference named by its path.
func loadReference(mf *modelFlags, path, how string) (*reference, string, error) {
	m, err := mf.load(path)
	if err != nil {
		return nil, "", err
	}
	data, err := encodeWithShapes(m)
	if err != nil {
		return nil, "", err
	}
	return &reference{data, path, how}, "", nil
}

// encodeWithShapes infers m's shapes and serializes it.
func encodeWithShapes(m *onnxio.Model) ([]byte, error) {
	if err := m.Graph.InferShapes(); err != nil {
		return nil, err
	}
	return onnxio.Encode(m)
}

// timeWith times the serialized model data with protocol p, alongside ref
// when there is one.
func timeWith(data []byte, ref *reference, p measure.Protocol) (measure.Latency, *alongside, error) {
	if ref == nil {
		l, err := measure.Model(data, p)
		return l, nil, err
	}
	ls, err := measure.Models([][]byte{data, ref.data}, p)
	if err != nil {
		return measure.Latency{}, nil, err
	}
	r, err := measure.RatioOf(ls[0], ls[1])
	if err != nil {
		return measure.Latency{}, nil, err
	}
	return ls[0], &alongside{Model: ref.name, How: ref.how, Latency: ls[1], Ratio: r}, nil
}

// printAlongside writes, after indent, the comparison with the model timed
// alongside, or why there is none.
func printAlongside(w io.Writer, indent string, a *alongside, why string) {
	switch {
	case a != nil:
		fmt.Fprintf(w, "%s%s\n", indent, a)
	case why != "":
		fmt.Fprintf(w, "%snot compared: %s\n", indent, why)
	}
}

// String describes a in one line.
func (a *alongside) String() string {
	whose := "its source"
	if a.How != "lineage" {
		whose = "the model given with --against"
	}
	return fmt.Sprintf("%.3f ± %.3f× %s, %s, timed alongside (%s)", a.Ratio.Value, a.Ratio.Noise, whose, a.Model, a.Latency)
}
