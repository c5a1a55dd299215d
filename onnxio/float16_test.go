package onnxio_test

import (
	"encoding/binary"
	"math"
	"slices"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

func TestFloat16Conversions(t *testing.T) {
	tests := []struct {
		f float32
		h uint16
	}{
		{0, 0}, {float32(math.Copysign(0, -1)), 0x8000}, {1, 0x3c00}, {-2, 0xc000}, {0.5, 0x3800},
		{65504, 0x7bff}, {65520, 0x7c00}, {1e9, 0x7c00}, {float32(math.Inf(-1)), 0xfc00},
		{5.960464477539063e-08, 0x0001}, // smallest subnormal
		{6.097555160522461e-05, 0x03ff}, // largest subnormal
		{6.103515625e-05, 0x0400},       // smallest normal
		{2.9802322387695312e-08, 0},     // half the smallest subnormal: tie to even (0)
		{1 + 1.0/2048, 0x3c00},          // tie between 1 and 1+2^-10: even is 1
		{1 + 3.0/2048, 0x3c02},          // tie: even is 1+2^-9
		{0.333251953125, 0x3555},
	}
	for _, tc := range tests {
		if got := onnxio.Float32ToFloat16(tc.f); got != tc.h {
			t.Errorf("onnxio.Float32ToFloat16(%g) = %#04x, want %#04x", tc.f, got, tc.h)
		}
	}
	if h := onnxio.Float32ToFloat16(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("NaN -> %#04x, want a NaN", h)
	}
	// Every finite half round-trips through float32 exactly.
	for h := 0; h < 1<<16; h++ {
		if h&0x7c00 == 0x7c00 {
			continue
		}
		if got := onnxio.Float32ToFloat16(onnxio.Float16ToFloat32(uint16(h))); got != uint16(h) {
			t.Fatalf("half %#04x -> %g -> %#04x", h, onnxio.Float16ToFloat32(uint16(h)), got)
		}
	}
	bf := []struct {
		f float32
		h uint16
	}{{1, 0x3f80}, {-2, 0xc000}, {1 + 1.0/256, 0x3f80}, {1 + 3.0/256, 0x3f82}, {3.14159, 0x4049}}
	for _, tc := range bf {
		if got := onnxio.Float32ToBFloat16(tc.f); got != tc.h {
			t.Errorf("onnxio.Float32ToBFloat16(%g) = %#04x, want %#04x", tc.f, got, tc.h)
		}
	}
	// Every bfloat16 that is not NaN round-trips through float32 exactly.
	for h := 0; h < 1<<16; h++ {
		if h&0x7f80 == 0x7f80 && h&0x7f != 0 {
			continue
		}
		if got := onnxio.Float32ToBFloat16(onnxio.BFloat16ToFloat32(uint16(h))); got != uint16(h) {
			t.Fatalf("bfloat16 %#04x -> %g -> %#04x", h, onnxio.BFloat16ToFloat32(uint16(h)), got)
		}
	}
}

// TestFloat64s16Bit checks that Tensor.Float64s decodes float16 and
// bfloat16 tensors, subnormals and signs included.
func TestFloat64s16Bit(t *testing.T) {
	tests := []struct {
		dt   onnxio.DataType
		bits []uint16
		want []float64
	}{
		{onnxio.Float16, []uint16{0x3c00, 0xc000, 0x0001, 0x7bff, 0x8000}, []float64{1, -2, 5.960464477539063e-08, 65504, 0}},
		{onnxio.BFloat16, []uint16{0x3f80, 0xc000, 0x4049}, []float64{1, -2, 3.140625}},
	}
	for _, tc := range tests {
		raw := make([]byte, 2*len(tc.bits))
		for i, b := range tc.bits {
			binary.LittleEndian.PutUint16(raw[2*i:], b)
		}
		var tensor onnxio.Tensor
		if err := tensor.SetRaw(tc.dt, []int64{int64(len(tc.bits))}, raw); err != nil {
			t.Fatal(err)
		}
		got, err := tensor.Float64s()
		if err != nil {
			t.Fatalf("%v: %v", tc.dt, err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%v: Float64s = %v, want %v", tc.dt, got, tc.want)
		}
	}
}
