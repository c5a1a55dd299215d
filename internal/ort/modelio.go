package ort

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of onnx.proto used by declaredIO.
const (
	modelGraph = 7 // ModelProto.graph

	graphInitializer       = 5  // GraphProto.initializer
	graphInput             = 11 // GraphProto.input
	graphOutput            = 12 // GraphProto.output
	graphSparseInitializer = 15 // GraphProto.sparse_initializer

	tensorName      = 8 // TensorProto.name
	sparseValues    = 1 // SparseTensorProto.values
	valueInfoName   = 1 // ValueInfoProto.name
	valueInfoType   = 2 // ValueInfoProto.type
	typeTensor      = 1 // TypeProto.tensor_type
	typeDenotation  = 6 // TypeProto.denotation
	tensorTypeElem  = 1 // TypeProto.Tensor.elem_type
	tensorTypeShape = 2 // TypeProto.Tensor.shape
	shapeDim        = 1 // TensorShapeProto.dim
	dimValue        = 1 // TensorShapeProto.Dimension.dim_value
)

// declaredIO reads a model's inputs and outputs as onnxruntime reports them,
// straight from the serialized model, without building a throwaway session
// (which costs as much as the real one). It returns ok = false whenever its
// answer could differ from onnxruntime's, and NewSession then asks
// onnxruntime:
//   - the bytes do not parse;
//   - an input or output is not a tensor, or has no element type;
//   - an output declares no shape, which onnxruntime infers;
//   - an output of an element type without a Go counterpart has a symbolic
//     dimension (outputValues needs a static shape).
//
// Inputs are the graph inputs that no initializer feeds, in order, as
// onnxruntime's SessionGetInputName lists them. Shapes are the declared ones,
// with -1 for a symbolic or missing dimension (nil when an input declares
// no shape), as onnxruntime reports them.
func declaredIO(model []byte) (ins, outs []IOInfo, ok bool) {
	graph, ok := field(model, modelGraph)
	if !ok || graph == nil {
		return nil, nil, false
	}
	inits := map[string]bool{}
	var inVals, outVals [][]byte
	ok = fields(graph, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) bool {
		if typ != protowire.BytesType {
			return true
		}
		switch num {
		case graphSparseInitializer:
			if v, ok = field(v, sparseValues); !ok {
				return false
			}
			fallthrough
		case graphInitializer:
			name, ok := field(v, tensorName)
			inits[string(name)] = true
			return ok
		case graphInput:
			inVals = append(inVals, v)
		case graphOutput:
			outVals = append(outVals, v)
		}
		return true
	})
	if !ok {
		return nil, nil, false
	}
	for _, v := range inVals {
		info, ok := valueInfo(v)
		if !ok {
			return nil, nil, false
		}
		if !inits[info.Name] {
			ins = append(ins, info)
		}
	}
	for _, v := range outVals {
		info, ok := valueInfo(v)
		if !ok || info.Shape == nil || (!native(info.DataType) && !info.static()) {
			return nil, nil, false
		}
		outs = append(outs, info)
	}
	return ins, outs, true
}

// valueInfo decodes a ValueInfoProto of tensor type.
func valueInfo(b []byte) (IOInfo, bool) {
	var info IOInfo
	name, ok := field(b, valueInfoName)
	if !ok {
		return info, false
	}
	info.Name = string(name)
	typ, ok := field(b, valueInfoType)
	if !ok || typ == nil {
		return info, false
	}
	// Only a tensor type, and nothing else in the TypeProto's oneof but a
	// denotation, which does not change the type.
	onlyTensor := fields(typ, func(num protowire.Number, _ protowire.Type, _ []byte, _ uint64) bool {
		return num == typeTensor || num == typeDenotation
	})
	tensor, ok := field(typ, typeTensor)
	if !ok || tensor == nil || !onlyTensor {
		return info, false
	}
	elem, _, ok := varintField(tensor, tensorTypeElem)
	if !ok || elem <= 0 || elem > 1<<31-1 {
		return info, false
	}
	info.DataType = int32(elem)
	shape, ok := field(tensor, tensorTypeShape)
	if !ok {
		return info, false
	}
	if shape == nil {
		return info, true
	}
	info.Shape = []int64{}
	ok = fields(shape, func(num protowire.Number, typ protowire.Type, dim []byte, _ uint64) bool {
		if num != shapeDim || typ != protowire.BytesType {
			return true
		}
		v, present, ok := varintField(dim, dimValue)
		d := int64(-1)
		if present && v >= 0 {
			d = v
		}
		info.Shape = append(info.Shape, d)
		return ok
	})
	return info, ok
}

// fields calls fn for each field of the message b in order, with the bytes
// of a length-delimited field (non-nil, possibly empty) or the value of a
// varint field; other wire types are skipped. It returns false when b is
// malformed or fn returns false.
func fields(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) bool) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.BytesType:
			if v, n = protowire.ConsumeBytes(b); v == nil {
				v = []byte{}
			}
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 || !fn(num, typ, v, x) {
			return false
		}
		b = b[n:]
	}
	return true
}

// field returns the last occurrence of a length-delimited field (nil when
// absent; protobuf merges repeated messages, but onnx.proto's singular
// message fields are written once). ok is false on malformed bytes.
func field(b []byte, want protowire.Number) (v []byte, ok bool) {
	ok = fields(b, func(num protowire.Number, typ protowire.Type, x []byte, _ uint64) bool {
		if num == want && typ == protowire.BytesType {
			v = x
		}
		return true
	})
	return v, ok
}

// varintField returns the last value of a varint field (0 when absent) and
// whether it is present. ok is false on malformed bytes.
func varintField(b []byte, want protowire.Number) (v int64, present, ok bool) {
	ok = fields(b, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) bool {
		if num == want && typ == protowire.VarintType {
			v, present = int64(x), true
		}
		return true
	})
	return v, present, ok
}
