package models

import (
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// The package's counting conventions (see doc.go), written out for the
// tests. Parameters are counted per use by Conv, Gemm, MatMul (+ its bias
// Add) and BatchNormalization (scale and bias only), looking through
// Identity nodes (torch.onnx deduplicates equal initializers behind them),
// so the count matches torch's sum(p.numel() for p in model.parameters()).

// constInput returns v's initializer, looking through Identity nodes, or nil.
func constInput(v *onnxio.Value) *onnxio.Value {
	for v != nil {
		if v.IsConst() {
			return v
		}
		p := v.Producer()
		if p == nil || p.Op != "Identity" {
			return nil
		}
		v = p.Input(0)
	}
	return nil
}

func countParams(g *onnxio.Graph) int64 {
	var n int64
	use := func(node *onnxio.Node, i int) {
		if c := constInput(node.Input(i)); c != nil {
			n += c.Const.NumElements()
		}
	}
	for _, node := range g.Nodes {
		switch node.Op {
		case "Conv", "Gemm":
			use(node, 1)
			use(node, 2)
		case "BatchNormalization":
			use(node, 1)
			use(node, 2)
		case "MatMul":
			use(node, 0)
			use(node, 1)
		case "Add":
			// A bias added to a MatMul's output.
			for i := range 2 {
				if p := node.Input(1 - i).Producer(); p != nil && p.Op == "MatMul" {
					use(node, i)
				}
			}
		}
	}
	return n
}

// countMACs counts multiply-accumulates of Conv (Cout·Hout·Wout·Cin/group·
// kh·kw) and Gemm/MatMul (N·K per row) for one sample, from inferred shapes.
func countMACs(g *onnxio.Graph) int64 {
	var n int64
	for _, node := range g.Nodes {
		switch node.Op {
		case "Conv":
			w := node.Input(1).Type.Shape.Ints()
			o := node.Output(0).Type.Shape.Ints()
			n += o[1] * o[2] * o[3] * w[1] * w[2] * w[3]
		case "Gemm", "MatMul":
			a := node.Input(0).Type.Shape.Ints()
			o := node.Output(0).Type.Shape.Ints()
			k := a[len(a)-1]
			if node.Op == "Gemm" && node.AttrInt("transA", 0) == 1 {
				k = a[0]
			}
			n += o[len(o)-1] * k
		}
	}
	return n
}
