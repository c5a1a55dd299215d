package onnxio

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"

	"google.golang.org/protobuf/proto"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxpb"
)

// DataType is an ONNX TensorProto.DataType enum value.
type DataType int32

// The ONNX element types. Values match onnx.proto.
const (
	Undefined  DataType = 0
	Float      DataType = 1
	Uint8      DataType = 2
	Int8       DataType = 3
	Uint16     DataType = 4
	Int16      DataType = 5
	Int32      DataType = 6
	Int64      DataType = 7
	String     DataType = 8
	Bool       DataType = 9
	Float16    DataType = 10
	Double     DataType = 11
	Uint32     DataType = 12
	Uint64     DataType = 13
	Complex64  DataType = 14
	Complex128 DataType = 15
	BFloat16   DataType = 16
)

var dataTypeNames = map[DataType]string{
	Undefined: "undefined", Float: "float32", Uint8: "uint8", Int8: "int8",
	Uint16: "uint16", Int16: "int16", Int32: "int32", Int64: "int64",
	String: "string", Bool: "bool", Float16: "float16", Double: "float64",
	Uint32: "uint32", Uint64: "uint64", Complex64: "complex64",
	Complex128: "complex128", BFloat16: "bfloat16",
	17: "float8e4m3fn", 18: "float8e4m3fnuz", 19: "float8e5m2", 20: "float8e5m2fnuz",
	21: "uint4", 22: "int4", 23: "float4e2m1",
}

func (t DataType) String() string {
	if s, ok := dataTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("dtype(%d)", int32(t))
}

// bitSize returns the storage size of one element in bits, or 0 when the
// type has no fixed size (string, undefined, unknown).
func (t DataType) bitSize() int {
	switch t {
	case Uint8, Int8, Bool, 17, 18, 19, 20:
		return 8
	case Uint16, Int16, Float16, BFloat16:
		return 16
	case Float, Int32, Uint32:
		return 32
	case Int64, Uint64, Double, Complex64:
		return 64
	case Complex128:
		return 128
	case 21, 22, 23:
		return 4
	}
	return 0
}

// ByteSize returns the number of bytes n elements of t occupy in raw_data,
// or -1 when t has no fixed size.
func (t DataType) ByteSize(n int64) int64 {
	b := t.bitSize()
	if b == 0 {
		return -1
	}
	return (n*int64(b) + 7) / 8
}

// maxElements bounds the element count of any tensor the IR accepts. Real
// models are far below it; the bound keeps size arithmetic free of overflow.
const maxElements = 1 << 40

// NumElements returns the product of dims, or an error when a dim is
// negative or the product overflows maxElements.
func NumElements(dims []int64) (int64, error) {
	n := int64(1)
	for _, d := range dims {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d in %v", d, dims)
		}
		hi, lo := bits.Mul64(uint64(n), uint64(d))
		if hi != 0 || lo > maxElements {
			return 0, fmt.Errorf("dimensions %v hold too many elements", dims)
		}
		n = int64(lo)
	}
	return n, nil
}

// Tensor is a constant tensor: an initializer, or a Constant node's value.
//
// A tensor decoded from a file keeps its original TensorProto and is written
// back unchanged (same storage form: raw_data, typed fields or external
// data) until it is replaced with SetFloat32 or SetRaw. Data is immutable:
// accessors return copies, and setters replace the contents wholesale, so
// Clone can share tensors between graphs.
type Tensor struct {
	DataType DataType
	Dims     []int64

	// proto is the tensor as decoded (nil for tensors made in Go). Its data
	// fields are only trusted while dirty is false.
	proto *onnxpb.TensorProto
	// ext is the external data reference of a decoded external tensor.
	ext *externalRef
	// raw is the little-endian contents when known: set by the setters, by
	// resolving external data, or lazily from the proto's fields.
	raw   []byte
	dirty bool
}

// NewFloat32Tensor returns a float32 tensor holding a copy of data.
func NewFloat32Tensor(dims []int64, data []float32) (*Tensor, error) {
	t := &Tensor{DataType: Float}
	return t, t.SetFloat32(dims, data)
}

// NewInt64Tensor returns an int64 tensor holding a copy of data.
func NewInt64Tensor(dims []int64, data []int64) (*Tensor, error) {
	n, err := NumElements(dims)
	if err != nil {
		return nil, fmt.Errorf("onnxio: %w", err)
	}
	if int64(len(data)) != n {
		return nil, fmt.Errorf("onnxio: int64 tensor of shape %v needs %d values, got %d", dims, n, len(data))
	}
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return &Tensor{DataType: Int64, Dims: append([]int64(nil), dims...), raw: raw, dirty: true}, nil
}

// NumElements returns the element count of t.
func (t *Tensor) NumElements() int64 {
	n, _ := NumElements(t.Dims) // validated on construction
	return n
}

// IsExternal reports whether the tensor's data lives in an external file.
func (t *Tensor) IsExternal() bool { return t.ext != nil && !t.dirty }

// Raw returns a copy of the little-endian contents. String tensors have no
// raw form and return an error.
func (t *Tensor) Raw() ([]byte, error) {
	raw, err := t.rawView()
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), raw...), nil
}

// rawView returns the contents without copying; callers must not modify it.
func (t *Tensor) rawView() ([]byte, error) {
	if t.raw != nil || t.NumElements() == 0 {
		return t.raw, nil
	}
	if t.proto == nil {
		return nil, fmt.Errorf("onnxio: tensor has no data")
	}
	raw, err := rawFromTyped(t.proto, DataType(t.proto.GetDataType()), t.NumElements())
	if err != nil {
		return nil, err
	}
	t.raw = raw
	return raw, nil
}

// Float32 returns a copy of a float32 tensor's values.
func (t *Tensor) Float32() ([]float32, error) {
	if t.DataType != Float {
		return nil, fmt.Errorf("onnxio: tensor is %v, not float32", t.DataType)
	}
	raw, err := t.rawView()
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out, nil
}

// Int64s returns a tensor's values converted to int64. It accepts the
// integer types and bool.
func (t *Tensor) Int64s() ([]int64, error) {
	raw, err := t.rawView()
	if err != nil {
		return nil, err
	}
	n := int(t.NumElements())
	out := make([]int64, n)
	switch t.DataType {
	case Int64:
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		}
	case Int32:
		for i := range out {
			out[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
		}
	case Uint32:
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case Int16:
		for i := range out {
			out[i] = int64(int16(binary.LittleEndian.Uint16(raw[2*i:])))
		}
	case Uint16:
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	case Int8:
		for i := range out {
			out[i] = int64(int8(raw[i]))
		}
	case Uint8, Bool:
		for i := range out {
			out[i] = int64(raw[i])
		}
	case Uint64:
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		}
	default:
		return nil, fmt.Errorf("onnxio: tensor is %v, not an integer type", t.DataType)
	}
	return out, nil
}

// Float64s returns a tensor's values converted to float64. It accepts
// float32, float64, float16, bfloat16 and the integer types.
func (t *Tensor) Float64s() ([]float64, error) {
	switch t.DataType {
	case Float16, BFloat16:
		raw, err := t.rawView()
		if err != nil {
			return nil, err
		}
		decode := Float16ToFloat32
		if t.DataType == BFloat16 {
			decode = BFloat16ToFloat32
		}
		out := make([]float64, len(raw)/2)
		for i := range out {
			out[i] = float64(decode(binary.LittleEndian.Uint16(raw[2*i:])))
		}
		return out, nil
	case Float:
		f, err := t.Float32()
		if err != nil {
			return nil, err
		}
		out := make([]float64, len(f))
		for i, v := range f {
			out[i] = float64(v)
		}
		return out, nil
	case Double:
		raw, err := t.rawView()
		if err != nil {
			return nil, err
		}
		out := make([]float64, len(raw)/8)
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
		}
		return out, nil
	}
	ints, err := t.Int64s()
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(ints))
	for i, v := range ints {
		out[i] = float64(v)
	}
	return out, nil
}

// SetFloat32 replaces the tensor's type, shape and contents with a copy of
// data. The tensor is written as raw_data from then on.
func (t *Tensor) SetFloat32(dims []int64, data []float32) error {
	n, err := NumElements(dims)
	if err != nil {
		return fmt.Errorf("onnxio: %w", err)
	}
	if int64(len(data)) != n {
		return fmt.Errorf("onnxio: float32 tensor of shape %v needs %d values, got %d", dims, n, len(data))
	}
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	t.DataType, t.Dims, t.raw, t.dirty = Float, append([]int64(nil), dims...), raw, true
	return nil
}

// SetRaw replaces the tensor's type, shape and contents with a copy of raw,
// little-endian bytes.
func (t *Tensor) SetRaw(dt DataType, dims []int64, raw []byte) error {
	n, err := NumElements(dims)
	if err != nil {
		return fmt.Errorf("onnxio: %w", err)
	}
	if want := dt.ByteSize(n); want < 0 || int64(len(raw)) != want {
		return fmt.Errorf("onnxio: %v tensor of shape %v needs %d bytes, got %d", dt, dims, want, len(raw))
	}
	t.DataType, t.Dims, t.raw, t.dirty = dt, append([]int64(nil), dims...), append([]byte(nil), raw...), true
	return nil
}

// toProto returns the TensorProto to write for t under name. An unchanged
// decoded tensor returns its original proto. Tensors that must be written
// to an external file are handled by the caller (see file.go).
func (t *Tensor) toProto(name string) *onnxpb.TensorProto {
	if !t.dirty && t.proto != nil {
		if t.proto.GetName() == name {
			return t.proto
		}
		p := proto.Clone(t.proto).(*onnxpb.TensorProto)
		p.Name = proto.String(name)
		return p
	}
	var p *onnxpb.TensorProto
	if t.proto != nil {
		// Keep doc_string, segment-free metadata and unknown fields.
		p = proto.Clone(t.proto).(*onnxpb.TensorProto)
		clearTensorData(p)
	} else {
		p = &onnxpb.TensorProto{}
	}
	p.Name = proto.String(name)
	p.DataType = proto.Int32(int32(t.DataType))
	p.Dims = append([]int64(nil), t.Dims...)
	if t.raw != nil {
		p.RawData = t.raw
	} else {
		p.RawData = []byte{}
	}
	return p
}

func clearTensorData(p *onnxpb.TensorProto) {
	p.FloatData, p.Int32Data, p.StringData, p.Int64Data = nil, nil, nil, nil
	p.DoubleData, p.Uint64Data, p.RawData = nil, nil, nil
	p.ExternalData, p.DataLocation = nil, nil
}

// tensorFromProto validates p's declared size against the data it carries,
// before allocating anything for it, and wraps it. External data is resolved
// by the caller.
func tensorFromProto(p *onnxpb.TensorProto) (*Tensor, error) {
	dt := DataType(p.GetDataType())
	n, err := NumElements(p.GetDims())
	if err != nil {
		return nil, err
	}
	if p.Segment != nil {
		return nil, fmt.Errorf("segmented tensors are not supported")
	}
	t := &Tensor{DataType: dt, Dims: p.GetDims(), proto: p}
	if p.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		return t, nil // checked when resolved
	}
	if dt == String {
		if int64(len(p.GetStringData())) != n {
			return nil, fmt.Errorf("string tensor of shape %v holds %d strings", p.GetDims(), len(p.GetStringData()))
		}
		return t, nil
	}
	want := dt.ByteSize(n)
	if want < 0 {
		return nil, fmt.Errorf("unsupported tensor data type %v", dt)
	}
	if p.RawData != nil {
		if int64(len(p.RawData)) != want {
			return nil, fmt.Errorf("tensor of type %v and shape %v needs %d bytes of raw_data, has %d", dt, p.GetDims(), want, len(p.RawData))
		}
		t.raw = p.RawData
		return t, nil
	}
	got, per := typedCount(p, dt)
	if dt.bitSize() == 4 {
		n = (n + 1) / 2 // two 4-bit elements per int32 value
	}
	if got != n*per {
		return nil, fmt.Errorf("tensor of type %v and shape %v needs %d values, has %d", dt, p.GetDims(), n*per, got)
	}
	return t, nil
}

// typedCount returns the number of values in p's typed field for dt, and how
// many values make one element.
func typedCount(p *onnxpb.TensorProto, dt DataType) (got, per int64) {
	switch dt {
	case Float:
		return int64(len(p.FloatData)), 1
	case Complex64:
		return int64(len(p.FloatData)), 2
	case Double:
		return int64(len(p.DoubleData)), 1
	case Complex128:
		return int64(len(p.DoubleData)), 2
	case Int64:
		return int64(len(p.Int64Data)), 1
	case Uint32, Uint64:
		return int64(len(p.Uint64Data)), 1
	default:
		return int64(len(p.Int32Data)), 1
	}
}

// rawFromTyped converts p's typed field into little-endian bytes.
func rawFromTyped(p *onnxpb.TensorProto, dt DataType, n int64) ([]byte, error) {
	size := dt.ByteSize(n)
	if size < 0 {
		return nil, fmt.Errorf("onnxio: %v tensors have no raw form", dt)
	}
	raw := make([]byte, size)
	switch dt {
	case Float, Complex64:
		for i, v := range p.FloatData {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
	case Double, Complex128:
		for i, v := range p.DoubleData {
			binary.LittleEndian.PutUint64(raw[8*i:], math.Float64bits(v))
		}
	case Int64:
		for i, v := range p.Int64Data {
			binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
		}
	case Uint32:
		for i, v := range p.Uint64Data {
			binary.LittleEndian.PutUint32(raw[4*i:], uint32(v))
		}
	case Uint64:
		for i, v := range p.Uint64Data {
			binary.LittleEndian.PutUint64(raw[8*i:], v)
		}
	case Int32:
		for i, v := range p.Int32Data {
			binary.LittleEndian.PutUint32(raw[4*i:], uint32(v))
		}
	case Int16, Uint16, Float16, BFloat16:
		for i, v := range p.Int32Data {
			binary.LittleEndian.PutUint16(raw[2*i:], uint16(v))
		}
	case 21, 22, 23:
		copy(raw, packNibbles(p.Int32Data))
	default: // 8-bit types
		for i, v := range p.Int32Data {
			raw[i] = byte(v)
		}
	}
	return raw, nil
}

func packNibbles(v []int32) []byte {
	out := make([]byte, len(v))
	for i, x := range v {
		out[i] = byte(x)
	}
	return out
}

// DecodeTensor parses a serialized TensorProto (the .pb files of ONNX's
// backend test cases). Its declared size is checked against its data.
func DecodeTensor(data []byte) (*Tensor, error) {
	p := &onnxpb.TensorProto{}
	if err := proto.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("onnxio: not a TensorProto: %w", err)
	}
	if p.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		return nil, ErrExternalData
	}
	t, err := tensorFromProto(p)
	if err != nil {
		return nil, fmt.Errorf("onnxio: tensor %q: %w", p.GetName(), err)
	}
	return t, nil
}

// Name returns the name stored in a decoded tensor's proto ("" otherwise).
func (t *Tensor) Name() string { return t.proto.GetName() }
