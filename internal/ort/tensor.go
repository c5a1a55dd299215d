package ort

import (
	"fmt"
	"math"
	"unsafe"
)

// ONNX element types, by their TensorProto.DataType numbers (which
// onnxruntime's ONNXTensorElementDataType shares).
const (
	Float      int32 = 1
	Uint8      int32 = 2
	Int8       int32 = 3
	Uint16     int32 = 4
	Int16      int32 = 5
	Int32      int32 = 6
	Int64      int32 = 7
	String     int32 = 8
	Bool       int32 = 9
	Float16    int32 = 10
	Double     int32 = 11
	Uint32     int32 = 12
	Uint64     int32 = 13
	Complex64  int32 = 14
	Complex128 int32 = 15
	BFloat16   int32 = 16
)

// elemInfo describes the element types this package moves as bytes.
var elemInfo = map[int32]struct {
	name string
	size int
}{
	Float:      {"float", 4},
	Uint8:      {"uint8", 1},
	Int8:       {"int8", 1},
	Uint16:     {"uint16", 2},
	Int16:      {"int16", 2},
	Int32:      {"int32", 4},
	Int64:      {"int64", 8},
	Bool:       {"bool", 1},
	Float16:    {"float16", 2},
	Double:     {"double", 8},
	Uint32:     {"uint32", 4},
	Uint64:     {"uint64", 8},
	Complex64:  {"complex64", 8},
	Complex128: {"complex128", 16},
	BFloat16:   {"bfloat16", 2},
}

// DataTypeName returns the ONNX name of an element type ("float", "int64",
// ...), or "type(N)" for one this package does not handle.
func DataTypeName(dt int32) string {
	if e, ok := elemInfo[dt]; ok {
		return e.name
	}
	if dt == String {
		return "string"
	}
	return fmt.Sprintf("type(%d)", dt)
}

// ElemSize returns the size in bytes of one element of type dt, or 0 for a
// type this package does not handle (string, sub-byte and float8 types).
func ElemSize(dt int32) int {
	return elemInfo[dt].size
}

// Tensor is a dense tensor held in Go memory.
//
// DataType is the ONNX TensorProto.DataType number (see [Float] and the other
// constants). Shape lists the dimensions; an empty Shape is a scalar. Data
// holds the elements in row-major order as little-endian bytes, exactly
// len = elements × [ElemSize]; a bool is one byte, 0 or 1, and float16 and
// bfloat16 are their raw 2-byte patterns.
type Tensor struct {
	DataType int32
	Shape    []int64
	Data     []byte
}

// Elem is the set of Go element types with a direct ONNX counterpart.
type Elem interface {
	float32 | float64 | int8 | int16 | int32 | int64 |
		uint8 | uint16 | uint32 | uint64 | bool
}

// DataTypeOf returns the ONNX element type of Go type T.
func DataTypeOf[T Elem]() int32 {
	var z T
	switch any(z).(type) {
	case float32:
		return Float
	case float64:
		return Double
	case int8:
		return Int8
	case int16:
		return Int16
	case int32:
		return Int32
	case int64:
		return Int64
	case uint8:
		return Uint8
	case uint16:
		return Uint16
	case uint32:
		return Uint32
	case uint64:
		return Uint64
	default: // bool
		return Bool
	}
}

// NumElements returns the number of elements of a tensor of the given shape
// (1 for a scalar), or an error for a negative dimension or an overflow.
func NumElements(shape []int64) (int64, error) {
	n := int64(1)
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("ort: shape %v: dimension %d is negative", shape, i)
		}
		if d != 0 && n > math.MaxInt64/d {
			return 0, fmt.Errorf("ort: shape %v: element count overflows int64", shape)
		}
		n *= d
	}
	return n, nil
}

// NewTensor returns a tensor of Go type T's ONNX element type holding a copy
// of data, which must have exactly as many elements as shape asks for.
func NewTensor[T Elem](shape []int64, data []T) (Tensor, error) {
	dt := DataTypeOf[T]()
	n, err := NumElements(shape)
	if err != nil {
		return Tensor{}, err
	}
	if int64(len(data)) != n {
		return Tensor{}, fmt.Errorf("ort: shape %v needs %d elements, got %d", shape, n, len(data))
	}
	return Tensor{DataType: dt, Shape: cloneShape(shape), Data: toBytes(data)}, nil
}

// NewFloat32 is NewTensor for float32 data.
func NewFloat32(shape []int64, data []float32) (Tensor, error) {
	return NewTensor(shape, data)
}

// NewRaw returns a tensor of any fixed-size element type (float16 and
// bfloat16 included) from its little-endian bytes, which it copies.
func NewRaw(dataType int32, shape []int64, data []byte) (Tensor, error) {
	t := Tensor{DataType: dataType, Shape: cloneShape(shape), Data: append([]byte(nil), data...)}
	if err := t.Validate(); err != nil {
		return Tensor{}, err
	}
	return t, nil
}

// Zeros returns a zero-filled tensor of the given type and shape.
func Zeros(dataType int32, shape []int64) (Tensor, error) {
	size := ElemSize(dataType)
	if size == 0 {
		return Tensor{}, fmt.Errorf("ort: element type %s is not supported", DataTypeName(dataType))
	}
	n, err := NumElements(shape)
	if err != nil {
		return Tensor{}, err
	}
	if n > math.MaxInt/int64(size) {
		return Tensor{}, fmt.Errorf("ort: shape %v is too large", shape)
	}
	return Tensor{DataType: dataType, Shape: cloneShape(shape), Data: make([]byte, n*int64(size))}, nil
}

// Len returns the number of elements the shape asks for, or -1 when the
// shape is invalid.
func (t Tensor) Len() int64 {
	n, err := NumElements(t.Shape)
	if err != nil {
		return -1
	}
	return n
}

// Validate checks that the element type is supported and that Data has
// exactly the size that Shape and DataType ask for.
func (t Tensor) Validate() error {
	size := ElemSize(t.DataType)
	if size == 0 {
		return fmt.Errorf("ort: element type %s is not supported", DataTypeName(t.DataType))
	}
	n, err := NumElements(t.Shape)
	if err != nil {
		return err
	}
	if n > math.MaxInt/int64(size) || int64(len(t.Data)) != n*int64(size) {
		return fmt.Errorf("ort: %s tensor of shape %v needs %d bytes of data, has %d",
			DataTypeName(t.DataType), t.Shape, n*int64(size), len(t.Data))
	}
	return nil
}

// Values returns a copy of the tensor's elements as a []T. T must be the Go
// type of the tensor's element type (float32 for Float, and so on).
func Values[T Elem](t Tensor) ([]T, error) {
	if want := DataTypeOf[T](); t.DataType != want {
		return nil, fmt.Errorf("ort: tensor holds %s, not %s", DataTypeName(t.DataType), DataTypeName(want))
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	out := make([]T, len(t.Data)/ElemSize(t.DataType))
	if t.DataType == Bool {
		// Any byte other than 0 is true; never let other bit patterns
		// reach a Go bool.
		b := any(out).([]bool)
		for i, v := range t.Data {
			b[i] = v != 0
		}
		return out, nil
	}
	copy(toBytesView(out), t.Data)
	return out, nil
}

// Float32 returns a copy of a Float tensor's elements.
func (t Tensor) Float32() ([]float32, error) {
	return Values[float32](t)
}

// Clone returns a deep copy of t.
func (t Tensor) Clone() Tensor {
	return Tensor{DataType: t.DataType, Shape: cloneShape(t.Shape), Data: append([]byte(nil), t.Data...)}
}

func (t Tensor) String() string {
	return fmt.Sprintf("%s%v", DataTypeName(t.DataType), t.Shape)
}

func cloneShape(s []int64) []int64 {
	return append(make([]int64, 0, len(s)), s...)
}

// toBytesView returns the memory of s as bytes, without copying. Hosts are
// little-endian (checked by Init), so this is the ONNX byte order.
func toBytesView[T Elem](s []T) []byte {
	if len(s) == 0 {
		return []byte{}
	}
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(z)))
}

// toBytes returns a copy of the memory of s as bytes; bools become 0 or 1.
func toBytes[T Elem](s []T) []byte {
	return append([]byte{}, toBytesView(s)...)
}
