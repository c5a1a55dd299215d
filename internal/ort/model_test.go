package ort

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxpb"
)

// A small DSL to build ONNX models in tests, in the spirit of the Go
// compiler's ssa test helpers: tensorVI("x", Float, 1, "N", 3) declares an
// input or output, node("Add", ins("a", "b"), outs("c")) an operation.

// tensorVI declares a tensor value; each dim is an int (fixed) or a string
// (symbolic). noShape() instead leaves the shape out entirely.
func tensorVI(name string, elem int32, dims ...any) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		switch d := d.(type) {
		case int:
			shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{
				Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
		case string:
			shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{
				Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d}})
		default:
			panic("tensorVI: dims are int or string")
		}
	}
	return &onnxpb.ValueInfoProto{
		Name: proto.String(name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(elem), Shape: shape}}},
	}
}

// noShapeVI declares a tensor value of unknown rank.
func noShapeVI(name string, elem int32) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{
		Name: proto.String(name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(elem)}}},
	}
}

func ins(n ...string) []string  { return n }
func outs(n ...string) []string { return n }

func node(op string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: proto.String(op), Input: in, Output: out, Attribute: attrs}
}

func attrInts(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name),
		Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

func attrInt(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name),
		Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

// initializer makes a constant tensor stored as raw little-endian bytes.
func initializer(t testing.TB, name string, v Tensor) *onnxpb.TensorProto {
	t.Helper()
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(v.DataType),
		Dims: v.Shape, RawData: v.Data}
}

type graph struct {
	nodes   []*onnxpb.NodeProto
	inputs  []*onnxpb.ValueInfoProto
	outputs []*onnxpb.ValueInfoProto
	inits   []*onnxpb.TensorProto
}

// encode serializes the graph as an opset-17 model.
func (g graph) encode(t testing.TB) []byte {
	t.Helper()
	m := &onnxpb.ModelProto{
		IrVersion:    proto.Int64(8),
		ProducerName: proto.String("onnx-adapt ort test"),
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph: &onnxpb.GraphProto{
			Name: proto.String("test"), Node: g.nodes, Input: g.inputs, Output: g.outputs, Initializer: g.inits},
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustF32 is NewFloat32 for tests.
func mustF32(t testing.TB, shape []int64, data []float32) Tensor {
	t.Helper()
	v, err := NewFloat32(shape, data)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustSession(t testing.TB, model []byte, opts Options) *Session {
	t.Helper()
	s, err := NewSession(model, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}
