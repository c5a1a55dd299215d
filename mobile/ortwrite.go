package mobile

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/onnx-adapt/onnx-adapt/internal/atomicfile"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// nchwcTransformer is onnxruntime's NCHWc layout transformer: it rewrites
// convolutions into x86-specific blocked layouts (com.microsoft.nchwc
// operators) that ARM builds, the phones' builds, do not have.
const nchwcTransformer = "NchwcTransformer"

// DefaultTolerance is how far a .ort file's outputs may be from its .onnx
// source's: |ort − onnx| ≤ 1e-5·max(1, |onnx|).
const DefaultTolerance = 1e-5

// ORTOptions configure WriteORT.
type ORTOptions struct {
	// Level is the graph optimisation level baked into the file. Its zero
	// value, ort.OptAll, is the right one for phones, and the default of
	// onnxruntime's convert_onnx_models_to_ort: a minimal or mobile
	// onnxruntime build loads an ORT-format model without running the
	// level-based graph optimisers (a minimal build does not even contain
	// them; basic optimisations are never applied to an ORT-format model at
	// load time, and an extended minimal build replays at most the runtime
	// optimisations saved for compiling execution providers, which this file
	// has none of). What the phone runs is therefore exactly the graph
	// written here, so it is written fully optimised, fusions included
	// (Conv+BatchNormalization folding, Conv+activation and Conv+Add+
	// activation into com.microsoft's FusedConv). As that tool does for
	// any target other than amd64, the NCHWc layout transformer is always
	// disabled: its blocked layouts are specific to x86 and to the machine
	// that writes the file, and would not load on ARM.
	Level ort.OptLevel
	// Inputs returns the inputs the .ort file is compared with its source
	// on, for a model with the given inputs; nil draws seeded random inputs
	// at batch 1 and 2.
	Inputs func(infos []ort.IOInfo) ([][]ort.Tensor, error)
	// Tolerance bounds the difference of every output value, relative to
	// max(1, |source value|) (0: DefaultTolerance).
	Tolerance float64
}

// ORTFile is a written .ort file and the evidence that it is faithful.
type ORTFile struct {
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
	// Level is the optimisation level baked into the file.
	Level string `json:"opt_level"`
	// Batches is the number of input batches compared; MaxDiff the largest
	// difference seen between an output value of the .ort file and of its
	// source, relative to max(1, |source value|).
	Batches int     `json:"batches"`
	MaxDiff float64 `json:"max_diff"`
}

// ORTPath returns the path of the .ort file written for an ONNX file:
// its .onnx extension replaced by .ort.
func ORTPath(onnxPath string) string {
	ext := filepath.Ext(onnxPath)
	if strings.EqualFold(ext, ".onnx") {
		return onnxPath[:len(onnxPath)-len(ext)] + ".ort"
	}
	return onnxPath + ".ort"
}

// WriteORT writes, next to the ONNX file onnxPath, the ORT-format file that
// onnxruntime itself makes of it (ort.SaveOptimized), at opts.Level. Before
// the file is put in place it is loaded back in onnxruntime, with graph
// optimisation off as a minimal build loads it, and its outputs are compared
// on opts.Inputs with those of the ONNX file as a full onnxruntime build
// runs it with the same optimisation: what the file itself changes must be
// nothing. (Against the unoptimised graph the outputs differ by the
// rounding of the optimisations themselves, BatchNormalization folded into
// convolution weights above all: up to a few 1e-6 of the logits' scale on
// the embedded default model, the same difference onnxruntime's own
// default session shows.) A file that does not match is not written.
func WriteORT(onnxPath string, opts ORTOptions) (ORTFile, error) {
	out := ORTFile{Path: ORTPath(onnxPath), Level: opts.Level.String()}
	// Through onnxio, so that tensors in external data files come inline:
	// onnxruntime gets the model as bytes.
	m, err := onnxio.Load(onnxPath)
	if err != nil {
		return out, err
	}
	src, err := onnxio.Encode(m)
	if err != nil {
		return out, err
	}
	tol := opts.Tolerance
	if tol == 0 {
		tol = DefaultTolerance
	}
	// onnxruntime writes the file itself, at the temporary path, which is
	// renamed into place once the file is checked.
	tmp, err := atomicfile.Create(out.Path)
	if err != nil {
		return out, fmt.Errorf("mobile: %w", err)
	}
	defer tmp.Discard() // a no-op once committed
	level := ort.Options{OptLevel: opts.Level, DisabledOptimizers: []string{nchwcTransformer}, IntraOpThreads: 1}
	if err := ort.SaveOptimized(src, tmp.TempName(), ort.ORTFormat, level); err != nil {
		return out, fmt.Errorf("mobile: writing %s: %w", out.Path, err)
	}
	data, err := os.ReadFile(tmp.TempName())
	if err != nil {
		return out, fmt.Errorf("mobile: %w", err)
	}
	if !ort.IsORTFormat(data) {
		return out, fmt.Errorf("mobile: onnxruntime did not write an ORT-format model to %s", out.Path)
	}
	if out.Batches, out.MaxDiff, err = compare(src, data, level, opts.Inputs); err != nil {
		return out, fmt.Errorf("mobile: checking %s against %s: %w", out.Path, onnxPath, err)
	}
	if !(out.MaxDiff <= tol) {
		return out, fmt.Errorf("mobile: %s differs from %s by %.3g (relative), more than %.3g", out.Path, onnxPath, out.MaxDiff, tol)
	}
	if err := tmp.Commit(); err != nil {
		return out, fmt.Errorf("mobile: %w", err)
	}
	out.Bytes = int64(len(data))
	return out, nil
}

// compare runs the ONNX model src, optimised with opts, and the ORT-format
// model ortData, loaded with graph optimisation off as a minimal build
// loads it, on the same inputs, and returns the number of batches and the
// largest relative difference of their outputs.
func compare(src, ortData []byte, opts ort.Options, inputs func([]ort.IOInfo) ([][]ort.Tensor, error)) (int, float64, error) {
	a, err := ort.NewSession(src, opts)
	if err != nil {
		return 0, 0, err
	}
	defer a.Close()
	b, err := ort.NewSession(ortData, ort.Options{OptLevel: ort.OptDisable, IntraOpThreads: 1})
	if err != nil {
		return 0, 0, fmt.Errorf("onnxruntime cannot load the ORT-format file: %w", err)
	}
	defer b.Close()
	if err := sameIO(a, b); err != nil {
		return 0, 0, err
	}
	if inputs == nil {
		inputs = RandomBatches
	}
	batches, err := inputs(a.Inputs())
	if err != nil {
		return 0, 0, err
	}
	if len(batches) == 0 {
		return 0, 0, errors.New("no inputs to compare on")
	}
	worst := 0.0
	for _, in := range batches {
		want, err := a.Run(in)
		if err != nil {
			return 0, 0, err
		}
		got, err := b.Run(in)
		if err != nil {
			return 0, 0, fmt.Errorf("onnxruntime cannot run the ORT-format file: %w", err)
		}
		for i := range want {
			d, err := relDiff(got[i], want[i])
			if err != nil {
				return 0, 0, fmt.Errorf("output %q: %w", a.Outputs()[i].Name, err)
			}
			worst = max(worst, d)
		}
	}
	return len(batches), worst, nil
}

// sameIO checks that two sessions take and give the same named tensors.
func sameIO(a, b *ort.Session) error {
	for _, side := range []struct {
		what string
		x, y []ort.IOInfo
	}{{"inputs", a.Inputs(), b.Inputs()}, {"outputs", a.Outputs(), b.Outputs()}} {
		if len(side.x) != len(side.y) {
			return fmt.Errorf("the ORT-format file has %d %s, its source %d", len(side.y), side.what, len(side.x))
		}
		for i := range side.x {
			if side.x[i].String() != side.y[i].String() {
				return fmt.Errorf("the ORT-format file's %s differ: %v, source %v", side.what, side.y[i], side.x[i])
			}
		}
	}
	return nil
}

// relDiff returns the largest |got − want| / max(1, |want|) over two float
// tensors of the same shape; other element types must be equal.
func relDiff(got, want ort.Tensor) (float64, error) {
	if got.DataType != want.DataType || fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) {
		return 0, fmt.Errorf("got %s%v, want %s%v", ort.DataTypeName(got.DataType), got.Shape, ort.DataTypeName(want.DataType), want.Shape)
	}
	if want.DataType != ort.Float {
		if string(got.Data) != string(want.Data) {
			return math.Inf(1), nil
		}
		return 0, nil
	}
	g, err := got.Float32()
	if err != nil {
		return 0, err
	}
	w, err := want.Float32()
	if err != nil {
		return 0, err
	}
	worst := 0.0
	for i := range w {
		d := math.Abs(float64(g[i])-float64(w[i])) / max(1, math.Abs(float64(w[i])))
		if math.IsNaN(d) {
			if math.IsNaN(float64(g[i])) != math.IsNaN(float64(w[i])) {
				return math.Inf(1), nil
			}
			continue
		}
		worst = max(worst, d)
	}
	return worst, nil
}

// RandomBatches returns seeded random inputs at batch 1 and, for a model
// with a dynamic batch dimension, batch 2.
func RandomBatches(infos []ort.IOInfo) ([][]ort.Tensor, error) {
	var out [][]ort.Tensor
	for i, batch := range []int64{1, 2} {
		in, err := ort.RandomInputs(infos, batch, int64(i+1))
		if err != nil {
			return nil, err
		}
		out = append(out, in)
		if !dynamicBatch(infos) {
			break
		}
	}
	return out, nil
}

func dynamicBatch(infos []ort.IOInfo) bool {
	for _, in := range infos {
		if len(in.Shape) > 0 && in.Shape[0] < 0 {
			return true
		}
	}
	return false
}
