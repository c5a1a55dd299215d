package onnxio

import (
	"google.golang.org/protobuf/proto"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxpb"
)

// Attribute protos may be shared between a graph and its clones, so they are
// never edited in place: the setters below replace them.

// Attr returns the attribute named name, or nil.
func (n *Node) Attr(name string) *onnxpb.AttributeProto {
	for _, a := range n.Attrs {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

// AttrInt returns an INT attribute, or def when it is absent.
func (n *Node) AttrInt(name string, def int64) int64 {
	if a := n.Attr(name); a != nil && a.I != nil {
		return a.GetI()
	}
	return def
}

// AttrFloat returns a FLOAT attribute, or def when it is absent.
func (n *Node) AttrFloat(name string, def float32) float32 {
	if a := n.Attr(name); a != nil && a.F != nil {
		return a.GetF()
	}
	return def
}

// AttrString returns a STRING attribute, or def when it is absent.
func (n *Node) AttrString(name string, def string) string {
	if a := n.Attr(name); a != nil && a.S != nil {
		return string(a.GetS())
	}
	return def
}

// AttrInts returns an INTS attribute, or nil when it is absent.
func (n *Node) AttrInts(name string) []int64 {
	if a := n.Attr(name); a != nil {
		return a.GetInts()
	}
	return nil
}

// AttrFloats returns a FLOATS attribute, or nil when it is absent.
func (n *Node) AttrFloats(name string) []float32 {
	if a := n.Attr(name); a != nil {
		return a.GetFloats()
	}
	return nil
}

// AttrTensor returns a TENSOR attribute, or nil when it is absent or
// malformed.
func (n *Node) AttrTensor(name string) *Tensor {
	a := n.Attr(name)
	if a == nil || a.T == nil {
		return nil
	}
	t, err := tensorFromProto(a.T)
	if err != nil || t.ext != nil {
		return nil
	}
	return t
}

// SetAttr replaces or appends the attribute a (matched by name).
func (n *Node) SetAttr(a *onnxpb.AttributeProto) {
	for i, old := range n.Attrs {
		if old.GetName() == a.GetName() {
			n.Attrs[i] = a
			return
		}
	}
	n.Attrs = append(n.Attrs, a)
}

// SetAttrInt sets an INT attribute.
func (n *Node) SetAttrInt(name string, v int64) { n.SetAttr(AttrInt(name, v)) }

// SetAttrInts sets an INTS attribute.
func (n *Node) SetAttrInts(name string, v []int64) { n.SetAttr(AttrInts(name, v)) }

// AttrInt builds an INT attribute.
func AttrInt(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

// AttrInts builds an INTS attribute.
func AttrInts(name string, v []int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: append([]int64{}, v...)}
}

// AttrFloat builds a FLOAT attribute.
func AttrFloat(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

// AttrFloats builds a FLOATS attribute.
func AttrFloats(name string, v []float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOATS.Enum(), Floats: append([]float32{}, v...)}
}

// AttrString builds a STRING attribute.
func AttrString(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte(v)}
}

// AttrTensor builds a TENSOR attribute holding t.
func AttrTensor(name string, t *Tensor) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: t.toProto("")}
}
