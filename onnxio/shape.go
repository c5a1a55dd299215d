package onnxio

import (
	"errors"
	"fmt"
	"strings"
)

// ShapeError reports values whose shapes could not be inferred or whose
// shapes disagree with what an operator needs.
type ShapeError struct {
	Node   *Node  // the node at fault, if any
	Value  string // the value concerned, if any
	Reason string
}

func (e *ShapeError) Error() string {
	var b strings.Builder
	b.WriteString("onnxio: shape: ")
	if e.Node != nil {
		b.WriteString(e.Node.String())
		b.WriteString(": ")
	}
	if e.Value != "" {
		fmt.Fprintf(&b, "value %q: ", e.Value)
	}
	b.WriteString(e.Reason)
	return b.String()
}

// InferShapes computes the element type and shape of every node output, in
// topological order, from the graph inputs' declared types and the
// initializers. It covers the operators of MobileNet V1/V2/V3, ResNet and
// Inception/DenseNet-style CNNs as PyTorch and tf2onnx export them, including
// the Shape→Gather→Unsqueeze→Concat chains in front of Reshape, whose values
// it evaluates (symbolically for a dynamic batch).
//
// The first dimension of a graph input may be symbolic (a dynamic batch);
// every other dimension must resolve. Outputs of operators the inference
// does not know keep their declared types when the file declares them.
//
// Conflicts (a Conv whose weights do not match its input's channels,
// mismatched Concat or Add operands, ...) are reported as *ShapeError.
func (g *Graph) InferShapes() error {
	order, err := g.Topo()
	if err != nil {
		return err
	}
	inf := &inferer{known: map[*Value]*knownVal{}}
	for _, v := range g.inits {
		inf.learnConst(v, v.Const)
	}
	for _, n := range order {
		if err := inf.node(n); err != nil {
			var se *ShapeError
			if errors.As(err, &se) {
				return err
			}
			return &ShapeError{Node: n, Reason: err.Error()}
		}
	}
	return g.checkResolved(order)
}

// SetInputShape fixes the shape of a graph input (e.g. to give a model with
// dynamic spatial dimensions a concrete resolution).
func (g *Graph) SetInputShape(name string, dims []int64) error {
	for _, in := range g.Inputs {
		if in.Name == name && !in.IsConst() {
			in.Type.Shape = ShapeOf(dims...)
			in.Type.HasShape = true
			return nil
		}
	}
	return fmt.Errorf("onnxio: model has no input named %q", name)
}

// checkResolved reports values of tensor type whose rank, or whose non-batch
// dimensions, stayed unknown.
func (g *Graph) checkResolved(order []*Node) error {
	for _, in := range g.Inputs {
		if in.IsConst() || !in.Type.HasShape {
			continue
		}
		for i, d := range in.Type.Shape {
			if i > 0 && !d.Known() {
				return &ShapeError{Value: in.Name, Reason: fmt.Sprintf(
					"graph input has shape %v; only the first (batch) dimension may be dynamic: give it a fixed shape (--input-shape %s=...)", in.Type.Shape, in.Name)}
			}
		}
	}
	for _, n := range order {
		for _, o := range n.outputs {
			if o == nil {
				continue
			}
			if o.Type.NotTensor {
				continue
			}
			if !o.Type.HasShape {
				return &ShapeError{Node: n, Value: o.Name, Reason: "shape could not be inferred"}
			}
			for i, d := range o.Type.Shape {
				if i > 0 && !d.Known() {
					return &ShapeError{Node: n, Value: o.Name, Reason: fmt.Sprintf("dimension %d of %v did not resolve", i, o.Type.Shape)}
				}
			}
		}
	}
	return nil
}

type inferer struct {
	known map[*Value]*knownVal
}

func set(v *Value, elem DataType, s Shape) {
	if v == nil {
		return
	}
	v.Type = Type{Elem: elem, Shape: s, HasShape: true}
}

func in(n *Node, i int) (*Value, Shape, error) {
	v := n.Input(i)
	if v == nil {
		return nil, nil, fmt.Errorf("input %d is missing", i)
	}
	if !v.Type.HasShape {
		return v, nil, &ShapeError{Node: n, Value: v.Name, Reason: "input shape is not known"}
	}
	return v, v.Type.Shape, nil
}

// shapeFuncs infers the outputs of the operators that need more than their
// class (ClassOf) says.
var shapeFuncs = map[string]func(*inferer, *Node) error{
	"ArgMax":             (*inferer).argMax,
	"ArgMin":             (*inferer).argMax,
	"BatchNormalization": (*inferer).batchNorm,
	"Cast":               (*inferer).cast,
	"Concat":             (*inferer).concat,
	"Constant":           (*inferer).constant,
	"ConstantOfShape":    (*inferer).constantOfShape,
	"Conv":               (*inferer).conv,
	"ConvTranspose":      (*inferer).convTranspose,
	"DepthToSpace":       (*inferer).depthToSpace,
	"Dropout":            (*inferer).dropout,
	"Expand":             (*inferer).expand,
	"Flatten":            (*inferer).flatten,
	"Gather":             (*inferer).gather,
	"Gemm":               (*inferer).gemm,
	"MatMul":             (*inferer).matmul,
	"Pad":                (*inferer).pad,
	"Reshape":            (*inferer).reshape,
	"Resize":             (*inferer).resize,
	"Shape":              (*inferer).shapeOp,
	"Size":               (*inferer).size,
	"Slice":              (*inferer).slice,
	"SpaceToDepth":       (*inferer).depthToSpace,
	"Split":              (*inferer).split,
	"Squeeze":            (*inferer).squeeze,
	"Transpose":          (*inferer).transpose,
	"Unsqueeze":          (*inferer).unsqueeze,
	"Upsample":           (*inferer).resize,
}

// node infers the types of n's outputs: by operator where shapeFuncs has
// it, else by its class.
func (inf *inferer) node(n *Node) error {
	if !n.DefaultDomain() {
		return inf.declaredOnly(n)
	}
	if n.Op == "Identity" && n.Input(0) != nil && !n.Input(0).Type.HasShape {
		n.Output(0).Type = cloneType(n.Input(0).Type) // optional or sequence values
		return nil
	}
	if f := shapeFuncs[n.Op]; f != nil {
		return f(inf, n)
	}
	switch ClassOf(n.Op) {
	case OpUnary, OpNormalize:
		return inf.unary(n)
	case OpBroadcast:
		return inf.broadcast(n)
	case OpPool:
		return inf.pool(n)
	case OpGlobalPool:
		return inf.globalPool(n)
	case OpReduce:
		return inf.reduce(n)
	}
	return inf.declaredOnly(n)
}

// declaredOnly handles an operator the inference does not know: its outputs
// keep the types the file declares, or the inference fails.
func (inf *inferer) declaredOnly(n *Node) error {
	for _, o := range n.outputs {
		if o != nil && !o.Type.HasShape {
			return &ShapeError{Node: n, Reason: fmt.Sprintf("shape inference does not know operator %s (domain %q), and the file declares no shape for its output %q", n.Op, n.Domain, o.Name)}
		}
	}
	return nil
}

// KnowsOp reports whether shape inference handles the default-domain
// operator op.
func KnowsOp(op string) bool { return shapeFuncs[op] != nil || ClassOf(op) != OpOther }
