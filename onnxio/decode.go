package onnxio

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxpb"
)

// ErrExternalData is returned by Decode for a model whose tensors live in
// external files: only Load, which knows the model's folder, resolves them.
var ErrExternalData = errors.New("onnxio: model has external data; load it from its file")

// Decode parses an ONNX model from protobuf bytes into the IR. Every tensor's
// declared size is checked against the data it carries before anything is
// allocated for it. Models with external data must be read with Load.
func Decode(data []byte) (*Model, error) {
	return decode(data, nil)
}

func decode(data []byte, ext *externalResolver) (*Model, error) {
	mp := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(data, mp); err != nil {
		return nil, fmt.Errorf("onnxio: not an ONNX model: %w", err)
	}
	if mp.Graph == nil {
		return nil, errors.New("onnxio: model has no graph")
	}
	g, err := decodeGraph(mp.Graph, ext)
	if err != nil {
		return nil, fmt.Errorf("onnxio: %w", err)
	}
	return &Model{Graph: g, rest: shallowWithout(mp, "graph")}, nil
}

// shallowWithout returns a copy of m that shares its field values but lacks
// the named fields. Unknown fields are kept.
func shallowWithout[M proto.Message](m M, drop ...protoreflect.Name) M {
	src := m.ProtoReflect()
	dst := src.New()
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		for _, d := range drop {
			if fd.Name() == d {
				return true
			}
		}
		dst.Set(fd, v)
		return true
	})
	if u := src.GetUnknown(); len(u) > 0 {
		dst.SetUnknown(u)
	}
	return dst.Interface().(M)
}

func decodeGraph(gp *onnxpb.GraphProto, ext *externalResolver) (*Graph, error) {
	g := NewGraph(gp.GetName())
	g.rest = shallowWithout(gp, "node", "input", "output", "initializer", "value_info")
	g.valueInfo = gp.ValueInfo

	value := func(name string) *Value {
		if v := g.values[name]; v != nil {
			return v
		}
		v := &Value{Name: name}
		g.values[name] = v
		return v
	}

	for _, vi := range gp.Input {
		if vi.GetName() == "" {
			return nil, errors.New("graph input without a name")
		}
		v := value(vi.GetName())
		if v.info != nil {
			return nil, fmt.Errorf("graph input %q is listed twice", vi.GetName())
		}
		v.info = vi
		v.Type = typeFromProto(vi.GetType())
		g.Inputs = append(g.Inputs, v)
	}
	for _, tp := range gp.Initializer {
		name := tp.GetName()
		if name == "" {
			return nil, errors.New("initializer without a name")
		}
		t, err := tensorFromProto(tp)
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", name, err)
		}
		if t.DataType == Undefined {
			return nil, fmt.Errorf("initializer %q has no data type", name)
		}
		if tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
			if ext == nil {
				return nil, ErrExternalData
			}
			if err := ext.resolve(t); err != nil {
				return nil, fmt.Errorf("initializer %q: %w", name, err)
			}
		}
		v := value(name)
		if v.Const != nil {
			return nil, fmt.Errorf("initializer %q is listed twice", name)
		}
		v.Const = t
		if v.info == nil {
			v.Type = Type{Elem: t.DataType, Shape: ShapeOf(t.Dims...), HasShape: true}
		}
		g.inits = append(g.inits, v)
	}

	// Outputs first, so that files whose nodes are not in topological order
	// still link up.
	for _, np := range gp.Node {
		n := &Node{
			Name: np.GetName(), Op: np.GetOpType(), Domain: np.GetDomain(),
			Attrs: np.Attribute, graph: g,
			rest: shallowWithout(np, "input", "output", "attribute"),
		}
		if n.Op == "" {
			return nil, errors.New("node without op_type")
		}
		for _, o := range np.Output {
			if o == "" {
				n.outputs = append(n.outputs, nil)
				continue
			}
			v := value(o)
			if v.producer != nil || v.Const != nil || v.info != nil && isInput(g, v) {
				return nil, fmt.Errorf("value %q is produced more than once", o)
			}
			v.producer = n
			n.outputs = append(n.outputs, v)
		}
		g.Nodes = append(g.Nodes, n)
	}
	for i, np := range gp.Node {
		n := g.Nodes[i]
		for _, in := range np.Input {
			if in == "" {
				n.inputs = append(n.inputs, nil)
				continue
			}
			v := g.values[in]
			if v == nil {
				return nil, fmt.Errorf("%v reads %q, which no node, input or initializer defines", n, in)
			}
			n.inputs = append(n.inputs, v)
			v.consumers = append(v.consumers, n)
		}
		if n.HasSubgraph() {
			for _, name := range outerNames(n.Attrs) {
				v := g.values[name]
				if v == nil {
					continue // defined by an enclosing scope of this graph
				}
				n.implicit = append(n.implicit, v)
				v.consumers = append(v.consumers, n)
			}
		}
	}
	for _, vi := range gp.ValueInfo {
		if v := g.values[vi.GetName()]; v != nil && v.info == nil && !v.Type.HasShape && v.Type.Elem == Undefined {
			v.Type = typeFromProto(vi.GetType())
		}
	}
	for _, vi := range gp.Output {
		v := g.values[vi.GetName()]
		if v == nil {
			return nil, fmt.Errorf("graph output %q is not defined", vi.GetName())
		}
		if v.info == nil {
			v.info = vi
			if t := typeFromProto(vi.GetType()); t.Elem != Undefined || t.HasShape {
				v.Type = t
			}
		}
		g.Outputs = append(g.Outputs, v)
	}
	return g, nil
}

func isInput(g *Graph, v *Value) bool {
	for _, in := range g.Inputs {
		if in == v {
			return true
		}
	}
	return false
}

// outerNames returns the names that subgraphs in attrs read but do not
// define themselves, in first-use order.
func outerNames(attrs []*onnxpb.AttributeProto) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(gp *onnxpb.GraphProto, defined map[string]bool)
	walk = func(gp *onnxpb.GraphProto, outer map[string]bool) {
		defined := map[string]bool{}
		for k := range outer {
			defined[k] = true
		}
		for _, vi := range gp.Input {
			defined[vi.GetName()] = true
		}
		for _, t := range gp.Initializer {
			defined[t.GetName()] = true
		}
		for _, n := range gp.Node {
			for _, o := range n.Output {
				defined[o] = true
			}
		}
		use := func(name string) {
			if name != "" && !defined[name] && !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
		for _, n := range gp.Node {
			for _, in := range n.Input {
				use(in)
			}
			for _, a := range n.Attribute {
				if a.G != nil {
					walk(a.G, defined)
				}
				for _, sg := range a.Graphs {
					walk(sg, defined)
				}
			}
		}
		for _, o := range gp.Output {
			use(o.GetName())
		}
	}
	for _, a := range attrs {
		if a.G != nil {
			walk(a.G, nil)
		}
		for _, sg := range a.Graphs {
			walk(sg, nil)
		}
	}
	return out
}

func typeFromProto(tp *onnxpb.TypeProto) Type {
	tt := tp.GetTensorType()
	if tt == nil {
		return Type{NotTensor: tp != nil && tp.Value != nil}
	}
	t := Type{Elem: DataType(tt.GetElemType())}
	if sp := tt.GetShape(); sp != nil {
		t.HasShape = true
		t.Shape = make(Shape, len(sp.Dim))
		for i, d := range sp.Dim {
			switch {
			case d.GetDimParam() != "":
				t.Shape[i] = Dim{Value: -1, Param: d.GetDimParam()}
			case d.Value != nil:
				if _, ok := d.Value.(*onnxpb.TensorShapeProto_Dimension_DimValue); ok && d.GetDimValue() >= 0 {
					t.Shape[i] = Dim{Value: d.GetDimValue()}
					continue
				}
				t.Shape[i] = Dim{Value: -1}
			default:
				t.Shape[i] = Dim{Value: -1}
			}
		}
	}
	return t
}
