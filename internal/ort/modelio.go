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
	tensorTypeElem  = 1 // TypeProto.Tensor.elem_type
	tensorTypeShape = 2 // TypeProto.Tensor.shape
	shapeDim        = 1 // TensorShapeProto.dim
	dimValue        = 1 // TensorShapeProto.Dimension.dim_value
	dimParam        = 2 // TensorShapeProto.Dimension.dim_param
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
	for b := graph; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, nil, false
		}
		b = b[n:]
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return nil, nil, false
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, nil, false
		}
		b = b[n:]
		switch num {
		case graphInitializer:
			name, ok := stringField(v, tensorName)
			if !ok {
				return nil, nil, false
			}
			inits[name] = true
		case graphSparseInitializer:
			values, ok := field(v, sparseValues)
			if !ok {
				return nil, nil, false
			}
			name, ok := stringField(values, tensorName)
			if !ok {
				return nil, nil, false
			}
			inits[name] = true
		case graphInput:
			inVals = append(inVals, v)
		case graphOutput:
			outVals = append(outVals, v)
		}
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
	name, ok := stringField(b, valueInfoName)
	if !ok {
		return info, false
	}
	info.Name = name
	typ, ok := field(b, valueInfoType)
	if !ok || typ == nil {
		return info, false
	}
	// Only a tensor type, and nothing else in the TypeProto's oneof.
	tensor, ok := field(typ, typeTensor)
	if !ok || tensor == nil || !onlyField(typ, typeTensor) {
		return info, false
	}
	elem, ok := varintField(tensor, tensorTypeElem)
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
	for b := shape; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return info, false
		}
		b = b[n:]
		if num != shapeDim || typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return info, false
			}
			b = b[n:]
			continue
		}
		dim, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return info, false
		}
		b = b[n:]
		d := int64(-1)
		if v, ok := varintField(dim, dimValue); !ok {
			return info, false
		} else if v >= 0 && hasField(dim, dimValue) {
			d = v
		}
		info.Shape = append(info.Shape, d)
	}
	return info, true
}

// field returns the last occurrence of a length-delimited field (nil when
// absent; protobuf merges repeated messages, but onnx.proto's singular
// message fields are written once). ok is false on malformed bytes.
func field(b []byte, want protowire.Number) (v []byte, ok bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		if num == want && typ == protowire.BytesType {
			x, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, false
			}
			v = x
			if v == nil {
				v = []byte{}
			}
			b = b[n:]
			continue
		}
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return nil, false
		}
		b = b[n:]
	}
	return v, true
}

func stringField(b []byte, want protowire.Number) (string, bool) {
	v, ok := field(b, want)
	return string(v), ok
}

// varintField returns the last value of a varint field, 0 when absent.
func varintField(b []byte, want protowire.Number) (v int64, ok bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, false
		}
		b = b[n:]
		if num == want && typ == protowire.VarintType {
			x, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return 0, false
			}
			v = int64(x)
			b = b[n:]
			continue
		}
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return 0, false
		}
		b = b[n:]
	}
	return v, true
}

// hasField reports whether field want occurs in well-formed bytes b.
func hasField(b []byte, want protowire.Number) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		if num == want {
			return true
		}
		b = b[n:]
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return false
		}
		b = b[n:]
	}
	return false
}

// onlyField reports whether every field in b has number want, or is a
// TypeProto.denotation (6), which does not change the type.
func onlyField(b []byte, want protowire.Number) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || (num != want && num != 6) {
			return false
		}
		b = b[n:]
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return false
		}
		b = b[n:]
	}
	return true
}
