package ort

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxpb"
)

// The element-type numbers must be ONNX's (which onnxruntime shares).
func TestDataTypeNumbers(t *testing.T) {
	for our, theirs := range map[int32]onnxpb.TensorProto_DataType{
		Float: onnxpb.TensorProto_FLOAT, Uint8: onnxpb.TensorProto_UINT8, Int8: onnxpb.TensorProto_INT8,
		Uint16: onnxpb.TensorProto_UINT16, Int16: onnxpb.TensorProto_INT16, Int32: onnxpb.TensorProto_INT32,
		Int64: onnxpb.TensorProto_INT64, String: onnxpb.TensorProto_STRING, Bool: onnxpb.TensorProto_BOOL,
		Float16: onnxpb.TensorProto_FLOAT16, Double: onnxpb.TensorProto_DOUBLE, Uint32: onnxpb.TensorProto_UINT32,
		Uint64: onnxpb.TensorProto_UINT64, Complex64: onnxpb.TensorProto_COMPLEX64,
		Complex128: onnxpb.TensorProto_COMPLEX128, BFloat16: onnxpb.TensorProto_BFLOAT16,
	} {
		if our != int32(theirs) {
			t.Errorf("%s = %d, ONNX says %d", DataTypeName(our), our, theirs)
		}
	}
}

func roundTrip[T Elem](t *testing.T, want int32, vals []T) {
	t.Helper()
	tn, err := NewTensor([]int64{int64(len(vals))}, vals)
	if err != nil {
		t.Fatal(err)
	}
	if tn.DataType != want || len(tn.Data) != len(vals)*ElemSize(want) {
		t.Errorf("NewTensor(%T): type %d with %d bytes, want %d with %d", vals, tn.DataType, len(tn.Data), want, len(vals)*ElemSize(want))
	}
	got, err := Values[T](tn)
	if err != nil || !slices.Equal(got, vals) {
		t.Errorf("Values(NewTensor(%v)) = %v, %v", vals, got, err)
	}
}

func TestTensorRoundTrip(t *testing.T) {
	roundTrip(t, Float, []float32{1.5, -2, float32(math.Inf(1))})
	roundTrip(t, Double, []float64{1e300, -0.25})
	roundTrip(t, Int8, []int8{-128, 127})
	roundTrip(t, Int16, []int16{-32768, 7})
	roundTrip(t, Int32, []int32{math.MinInt32, 1})
	roundTrip(t, Int64, []int64{math.MaxInt64, -1})
	roundTrip(t, Uint8, []uint8{0, 255})
	roundTrip(t, Uint16, []uint16{65535})
	roundTrip(t, Uint32, []uint32{1 << 31})
	roundTrip(t, Uint64, []uint64{1 << 63})
	roundTrip(t, Bool, []bool{true, false, true})
}

func TestTensorLayout(t *testing.T) {
	// Little-endian bytes, as ONNX raw_data.
	v, _ := NewTensor([]int64{2}, []int32{1, -2})
	if want := []byte{1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff}; !slices.Equal(v.Data, want) {
		t.Errorf("int32 bytes = %x, want %x", v.Data, want)
	}
	f, _ := NewFloat32([]int64{}, []float32{1}) // a scalar
	if want := []byte{0, 0, 0x80, 0x3f}; !slices.Equal(f.Data, want) || f.Len() != 1 {
		t.Errorf("scalar float 1 = %x (len %d), want %x", f.Data, f.Len(), want)
	}
	// Bool bytes other than 0 and 1 read as true.
	b, err := Values[bool](Tensor{DataType: Bool, Shape: []int64{3}, Data: []byte{0, 1, 7}})
	if err != nil || !slices.Equal(b, []bool{false, true, true}) {
		t.Errorf("bools = %v, %v", b, err)
	}
	// NewTensor copies its data.
	src := []float32{1, 2}
	c, _ := NewFloat32([]int64{2}, src)
	src[0] = 9
	if got, _ := c.Float32(); got[0] != 1 {
		t.Error("NewFloat32 aliases its input")
	}
	cl := c.Clone()
	cl.Data[0], cl.Shape[0] = 0xff, 7
	if c.Data[0] == 0xff || c.Shape[0] == 7 {
		t.Error("Clone aliases the original")
	}
}

func TestTensorErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"count", func() error { _, err := NewFloat32([]int64{2, 2}, []float32{1}); return err }(), "needs 4 elements"},
		{"negative", func() error { _, err := NewFloat32([]int64{-1}, nil); return err }(), "negative"},
		{"overflow", func() error { _, err := Zeros(Float, []int64{1 << 40, 1 << 40}); return err }(), "overflows"},
		{"raw size", func() error { _, err := NewRaw(Float16, []int64{3}, []byte{1, 2}); return err }(), "needs 6 bytes"},
		{"string", func() error { _, err := NewRaw(String, []int64{1}, []byte{1}); return err }(), "string"},
		{"wrong Values type", func() error {
			v, _ := NewFloat32([]int64{1}, []float32{1})
			_, err := Values[int32](v)
			return err
		}(), "holds float, not int32"},
	}
	for _, tc := range tests {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) || !strings.HasPrefix(tc.err.Error(), "ort: ") {
			t.Errorf("%s: error %v, want one starting \"ort: \" mentioning %q", tc.name, tc.err, tc.want)
		}
	}
	empty, err := Zeros(Float, []int64{0, 3})
	if err != nil || len(empty.Data) != 0 || empty.Len() != 0 {
		t.Errorf("Zeros([0 3]) = %v, %v", empty, err)
	}
}
