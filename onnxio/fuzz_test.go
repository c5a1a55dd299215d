package onnxio_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// FuzzDecode feeds arbitrary bytes to the decoder, and whatever decodes to
// shape inference, verification, cost-free passes (Topo, Clone) and the
// encoder. Malformed input must produce errors, never panics, and declared
// tensor sizes beyond the data present are refused before allocation.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{
		"node/test_conv_with_strides_padding", "node/test_batchnorm_example", "node/test_reshape_negative_dim",
		"node/test_concat_2d_axis_0", "node/test_gemm_all_attributes", "node/test_maxpool_2d_ceil",
		"node/test_resize_upsample_sizes_nearest", "node/test_slice", "node/test_split_equal_parts_1d",
		"pytorch-converted/test_Conv2d_depthwise_padded", "node/test_if",
	} {
		data, err := os.ReadFile(filepath.Join(testdataRoot, name, "model.onnx"))
		if err != nil {
			f.Fatalf("seed %s: %v (run ./scripts/setup)", name, err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		m, err := onnxio.Decode(data)
		if err != nil {
			return
		}
		g := m.Graph
		_, _ = g.Topo()
		_ = g.InferShapes()
		_ = g.Verify()
		c := m.Clone()
		if _, err := onnxio.Encode(c); err != nil {
			return
		}
		for _, v := range g.Initializers() {
			if v.Const.NumElements() > int64(len(data)) {
				t.Fatalf("initializer %q declares %d elements, more than the %d input bytes", v.Name, v.Const.NumElements(), len(data))
			}
		}
	})
}

// FuzzDecodeTensor covers the TensorProto parser used for test-case files.
func FuzzDecodeTensor(f *testing.F) {
	for _, name := range []string{"node/test_conv_with_strides_padding", "node/test_reshape_negative_dim"} {
		data, err := os.ReadFile(filepath.Join(testdataRoot, name, "test_data_set_0", "input_0.pb"))
		if err != nil {
			f.Fatalf("seed %s: %v (run ./scripts/setup)", name, err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tensor, err := onnxio.DecodeTensor(data)
		if err != nil {
			return
		}
		if tensor.NumElements() > 8*int64(len(data))+8 {
			t.Fatalf("tensor declares %d elements from %d bytes", tensor.NumElements(), len(data))
		}
		_, _ = tensor.Raw()
		_, _ = tensor.Float64s()
	})
}
