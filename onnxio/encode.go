package onnxio

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxpb"
)

// maxModelBytes is protobuf's hard limit on one message.
const maxModelBytes = 1<<31 - 1

// Encode serialises m into self-contained ONNX bytes: tensors that were read
// from external files are written inline. Unchanged parts of a decoded model
// are written exactly as they were read.
func Encode(m *Model) ([]byte, error) {
	mp, err := m.encode(inlineAll)
	if err != nil {
		return nil, err
	}
	return marshal(mp)
}

// EncodedSize returns len(Encode(m)) without building the bytes.
func EncodedSize(m *Model) (int64, error) {
	mp, err := m.encode(inlineAll)
	if err != nil {
		return 0, err
	}
	return int64(proto.Size(mp)), nil
}

func marshal(mp *onnxpb.ModelProto) ([]byte, error) {
	if size := proto.Size(mp); size > maxModelBytes {
		return nil, fmt.Errorf("onnxio: model is %d bytes, over protobuf's 2 GiB limit; save it with external data", size)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(mp)
	if err != nil {
		return nil, fmt.Errorf("onnxio: encode: %w", err)
	}
	return b, nil
}

// tensorWriter decides how each initializer is written.
type tensorWriter func(name string, t *Tensor) (*onnxpb.TensorProto, error)

// inlineAll writes every tensor's data into the model.
func inlineAll(name string, t *Tensor) (*onnxpb.TensorProto, error) {
	if t.ext == nil || t.dirty {
		return t.toProto(name), nil
	}
	raw, err := t.rawView()
	if err != nil {
		return nil, err
	}
	p := proto.Clone(t.proto).(*onnxpb.TensorProto)
	clearTensorData(p)
	p.Name = proto.String(name)
	p.RawData = raw
	return p, nil
}

func (m *Model) encode(w tensorWriter) (*onnxpb.ModelProto, error) {
	mp := shallowWithout(m.rest)
	gp, err := m.Graph.encode(w)
	if err != nil {
		return nil, err
	}
	mp.Graph = gp
	return mp, nil
}

func (g *Graph) encode(w tensorWriter) (*onnxpb.GraphProto, error) {
	gp := shallowWithout(g.rest)
	if g.Name != gp.GetName() {
		gp.Name = proto.String(g.Name)
	}
	for _, n := range g.Nodes {
		gp.Node = append(gp.Node, n.encode())
	}
	for _, v := range g.inits {
		tp, err := w(v.Name, v.Const)
		if err != nil {
			return nil, fmt.Errorf("onnxio: initializer %q: %w", v.Name, err)
		}
		gp.Initializer = append(gp.Initializer, tp)
	}
	for _, v := range g.Inputs {
		gp.Input = append(gp.Input, valueInfo(v, v.info))
	}
	for _, v := range g.Outputs {
		gp.Output = append(gp.Output, valueInfo(v, v.info))
	}
	for _, vi := range g.valueInfo {
		if v := g.values[vi.GetName()]; v != nil {
			gp.ValueInfo = append(gp.ValueInfo, valueInfo(v, vi))
		}
	}
	return gp, nil
}

func (n *Node) encode() *onnxpb.NodeProto {
	np := shallowWithout(n.rest)
	if n.Name != np.GetName() {
		np.Name = proto.String(n.Name)
	}
	if n.Op != np.GetOpType() {
		np.OpType = proto.String(n.Op)
	}
	if n.Domain != np.GetDomain() {
		np.Domain = proto.String(n.Domain)
	}
	np.Input = valueNames(n.inputs)
	np.Output = valueNames(n.outputs)
	np.Attribute = n.Attrs
	return np
}

func valueNames(vs []*Value) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		if v != nil {
			out[i] = v.Name
		}
	}
	return out
}

// valueInfo returns the ValueInfoProto to write for v: the declared one,
// unless the IR's type contradicts it (a fixed size changed by surgery, or a
// different rank or element type), in which case a corrected copy. Declared
// symbolic or unknown dimensions are kept.
func valueInfo(v *Value, declared *onnxpb.ValueInfoProto) *onnxpb.ValueInfoProto {
	if declared == nil {
		return &onnxpb.ValueInfoProto{Name: proto.String(v.Name), Type: typeToProto(v.Type)}
	}
	if declared.GetName() == v.Name && !contradicts(declared.GetType(), v.Type) {
		return declared
	}
	vi := proto.Clone(declared).(*onnxpb.ValueInfoProto)
	vi.Name = proto.String(v.Name)
	if contradicts(vi.GetType(), v.Type) {
		tt := vi.GetType().GetTensorType()
		if v.Type.Elem != Undefined {
			tt.ElemType = proto.Int32(int32(v.Type.Elem))
		}
		sp := tt.GetShape()
		if sp == nil || len(sp.Dim) != len(v.Type.Shape) {
			tt.Shape = typeToProto(v.Type).GetTensorType().GetShape()
		} else {
			for i, d := range v.Type.Shape {
				if pd := sp.Dim[i]; d.Known() && pd.GetDimParam() == "" {
					pd.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d.Value}
				}
			}
		}
	}
	return vi
}

func contradicts(tp *onnxpb.TypeProto, t Type) bool {
	tt := tp.GetTensorType()
	if tt == nil {
		return false
	}
	if t.Elem != Undefined && tt.ElemType != nil && DataType(tt.GetElemType()) != t.Elem {
		return true
	}
	sp := tt.GetShape()
	if sp == nil || !t.HasShape {
		return false
	}
	if len(sp.Dim) != len(t.Shape) {
		return true
	}
	for i, d := range t.Shape {
		pd := sp.Dim[i]
		if _, ok := pd.Value.(*onnxpb.TensorShapeProto_Dimension_DimValue); ok && d.Known() && pd.GetDimValue() != d.Value {
			return true
		}
	}
	return false
}

func typeToProto(t Type) *onnxpb.TypeProto {
	tt := &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(t.Elem))}
	if t.HasShape {
		tt.Shape = &onnxpb.TensorShapeProto{Dim: make([]*onnxpb.TensorShapeProto_Dimension, len(t.Shape))}
		for i, d := range t.Shape {
			pd := &onnxpb.TensorShapeProto_Dimension{}
			switch {
			case d.Known():
				pd.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d.Value}
			case d.Param != "":
				pd.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d.Param}
			}
			tt.Shape.Dim[i] = pd
		}
	}
	return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: tt}}
}

// Proto returns m as a self-contained ModelProto (external data inlined).
func (m *Model) Proto() (*onnxpb.ModelProto, error) { return m.encode(inlineAll) }
