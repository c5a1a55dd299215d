package lut

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	ortgo "github.com/yalue/onnxruntime_go"

	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// optimizedModel asks onnxruntime to optimise a model at the given level
// and returns the optimised graph it saves (with its NCHWc operators,
// reordered weights and fusions).
//
// internal/ort has no call that returns the optimised graph, so this one
// function uses onnxruntime_go directly, on the environment ort.Init made.
// It is the only place outside internal/ort that does.
func optimizedModel(model []byte, level ort.OptLevel) (*onnxio.Model, error) {
	if err := ort.Init(); err != nil {
		return nil, err
	}
	ins, outs, err := ortgo.GetInputOutputInfoWithONNXData(model)
	if err != nil {
		return nil, fmt.Errorf("ort: %v", err)
	}
	dir, err := os.MkdirTemp("", "onnx-adapt-lut-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "optimized.onnx")
	so, err := ortgo.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("ort: %v", err)
	}
	defer so.Destroy()
	levels := map[ort.OptLevel]ortgo.GraphOptimizationLevel{
		ort.OptAll:      ortgo.GraphOptimizationLevelEnableAll,
		ort.OptExtended: ortgo.GraphOptimizationLevelEnableExtended,
		ort.OptBasic:    ortgo.GraphOptimizationLevelEnableBasic,
		ort.OptDisable:  ortgo.GraphOptimizationLevelDisableAll,
	}
	for _, step := range []func() error{
		func() error { return so.SetGraphOptimizationLevel(levels[level]) },
		func() error { return so.SetIntraOpNumThreads(1) },
		func() error { return so.SetOptimizedModelFilePath(path) },
	} {
		if err := step(); err != nil {
			return nil, fmt.Errorf("ort: %v", err)
		}
	}
	var inNames, outNames []string
	for _, i := range ins {
		inNames = append(inNames, i.Name)
	}
	for _, o := range outs {
		outNames = append(outNames, o.Name)
	}
	s, err := ortgo.NewDynamicAdvancedSessionWithONNXData(model, inNames, outNames, so)
	if err != nil {
		return nil, fmt.Errorf("ort: %v", err)
	}
	s.Destroy()
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return onnxio.Decode(data)
}

var (
	blockOnce sync.Once
	blockSize int
	blockErr  error
)

// nchwcBlock returns onnxruntime's NCHWc channel block on this host (16
// with AVX-512, 8 with AVX2), found once by running a ReorderInput on four
// channels and reading how many it pads them to.
func nchwcBlock() (int, error) {
	blockOnce.Do(func() {
		data, err := UnitModel(reorderKey(OpReorderIn, 1, 4, 1, 1), nil)
		if err != nil {
			blockErr = err
			return
		}
		s, err := ort.NewSession(data, ort.Options{IntraOpThreads: 1})
		if err != nil {
			blockErr = err
			return
		}
		defer s.Close()
		in, err := ort.RandomInputs(s.Inputs(), 1, 1)
		if err != nil {
			blockErr = err
			return
		}
		out, err := s.Run(in)
		if err != nil {
			blockErr = err
			return
		}
		if len(out) != 1 || len(out[0].Shape) != 4 || out[0].Shape[1] < 4 {
			blockErr = fmt.Errorf("ort: ReorderInput of 4 channels gave shape %v", out[0].Shape)
			return
		}
		blockSize = int(out[0].Shape[1])
	})
	return blockSize, blockErr
}

// feedName is the output of the node UnitModel puts before a fused Add's
// residual input so that onnxruntime produces the residual in NCHWc, as a
// convolution does inside a model.
const feedName = "lut_feed"

// strip turns the optimised single-unit model into the unit's kernel alone,
// as it runs inside a model: it removes the ReorderInput nodes that read
// graph inputs and the ReorderOutput that writes the graph output (their
// NCHWc tensors become the graph's inputs and output), and the nodes that
// only prepare the residual input (the feeder and its reorders). It
// returns, per original graph input in order, whether the kernel reads it
// in NCHWc, and whether it writes its output in NCHWc.
func strip(m *onnxio.Model) (in []bool, out bool, err error) {
	g := m.Graph
	order, err := g.Topo()
	if err != nil {
		return nil, false, err
	}
	isNCHWc := func(n *onnxio.Node) bool { return n != nil && n.Domain == nchwcDomain }
	origInputs := slices.Clone(g.Inputs)
	// The feeder chain: nodes that depend only on the residual input.
	residual := g.Value("r")
	feed := map[*onnxio.Node]bool{}
	if residual != nil {
		for _, n := range order {
			fed, other := false, false
			for _, v := range n.Inputs() {
				switch {
				case v == nil || v.IsConst():
				case v == residual || feed[v.Producer()]:
					fed = true
				default:
					other = true
				}
			}
			feed[n] = fed && !other
		}
	}
	logical := map[string][]int64{}
	for _, v := range origInputs {
		logical[v.Name] = v.Type.Shape.Ints()
	}
	padded := func(shape []int64) ([]int64, error) {
		b, err := nchwcBlock()
		if err != nil {
			return nil, err
		}
		s := slices.Clone(shape)
		s[1] = (s[1] + int64(b) - 1) / int64(b) * int64(b)
		return s, nil
	}
	// cut makes v a graph input of the given shape in place of what
	// produced it.
	var newInputs []*onnxio.Value
	cut := func(v *onnxio.Value, shape []int64) {
		nv := g.NewValue(v.Name + "_in")
		nv.Type = onnxio.Type{Elem: onnxio.Float, Shape: onnxio.ShapeOf(shape...), HasShape: true}
		g.ReplaceUses(v, nv)
		newInputs = append(newInputs, nv)
	}
	for _, x := range origInputs {
		nchwc := false
		if x == residual && len(feed) > 0 {
			for _, n := range order {
				if !feed[n] {
					continue
				}
				for _, o := range n.Outputs() {
					if o == nil || !slices.ContainsFunc(o.Consumers(), func(c *onnxio.Node) bool { return !feed[c] }) {
						continue
					}
					shape := logical[x.Name]
					if isNCHWc(n) && n.Op != "ReorderOutput" {
						if shape, err = padded(shape); err != nil {
							return nil, false, err
						}
						nchwc = true
					}
					cut(o, shape)
				}
			}
		} else {
			for _, c := range slices.Clone(x.Consumers()) {
				if isNCHWc(c) && c.Op == "ReorderInput" && !feed[c] {
					shape, err := padded(logical[x.Name])
					if err != nil {
						return nil, false, err
					}
					cut(c.Output(0), shape)
					nchwc = true
				}
			}
		}
		in = append(in, nchwc)
	}
	for i, o := range g.Outputs {
		if p := o.Producer(); isNCHWc(p) && p.Op == "ReorderOutput" {
			v := p.Input(0)
			v.Type = onnxio.Type{Elem: onnxio.Float}
			g.Outputs[i] = v
			out = out || i == 0
		}
	}
	g.RemoveUnused()
	var inputs []*onnxio.Value
	for _, v := range append(slices.Clone(g.Inputs), newInputs...) {
		if len(v.Consumers()) > 0 || slices.Contains(g.Outputs, v) {
			inputs = append(inputs, v)
		}
	}
	g.Inputs = inputs
	if len(g.Nodes) == 0 {
		return nil, false, fmt.Errorf("nothing left after removing the reorders")
	}
	return in, out, nil
}
