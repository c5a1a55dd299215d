package lut

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	ortgo "github.com/yalue/onnxruntime_go"

	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// probeLayout asks onnxruntime how it rewrites a single-unit model: it
// creates a session that saves its optimised graph and reads which graph
// inputs feed a ReorderInput (the unit computes in the blocked NCHWc layout
// and would read an NCHWc producer's output directly inside a model) and
// whether the output comes out of a ReorderOutput (the unit produces NCHWc).
//
// internal/ort has no call that returns the optimised graph, so this one
// function uses onnxruntime_go directly, on the environment ort.Init made.
// It is the only place outside internal/ort that does.
func probeLayout(model []byte, level ort.OptLevel) (in []bool, out bool, err error) {
	if err := ort.Init(); err != nil {
		return nil, false, err
	}
	ins, outs, err := ortgo.GetInputOutputInfoWithONNXData(model)
	if err != nil {
		return nil, false, fmt.Errorf("ort: %v", err)
	}
	dir, err := os.MkdirTemp("", "onnx-adapt-lut-*")
	if err != nil {
		return nil, false, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "optimized.onnx")
	so, err := ortgo.NewSessionOptions()
	if err != nil {
		return nil, false, fmt.Errorf("ort: %v", err)
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
			return nil, false, fmt.Errorf("ort: %v", err)
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
		return nil, false, fmt.Errorf("ort: %v", err)
	}
	s.Destroy()
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false, err
	}
	m, err := onnxio.Decode(data)
	if err != nil {
		return nil, false, err
	}
	return layoutOf(m.Graph, inNames, outNames)
}

// layoutOf reads the NCHWc flags off an optimised graph.
func layoutOf(g *onnxio.Graph, inNames, outNames []string) (in []bool, out bool, err error) {
	isReorder := func(n *onnxio.Node, op string) bool { return n != nil && n.Op == op && n.Domain == nchwcDomain }
	for _, name := range inNames {
		v := g.Value(name)
		if v == nil {
			return nil, false, fmt.Errorf("optimised graph lost input %q", name)
		}
		in = append(in, slices.ContainsFunc(v.Consumers(), func(n *onnxio.Node) bool { return isReorder(n, "ReorderInput") }))
	}
	if len(outNames) > 0 {
		if v := g.Value(outNames[0]); v != nil {
			out = isReorder(v.Producer(), "ReorderOutput")
		}
	}
	return in, out, nil
}
