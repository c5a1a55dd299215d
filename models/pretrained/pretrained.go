package pretrained

import (
	_ "embed"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

//go:embed fmnist-mobilenetv2.onnx
var model []byte

// Name describes the embedded model.
const Name = "MobileNetV2 α=1.0 (32×32×1, Fashion-MNIST)"

// Bytes returns a copy of the embedded model's ONNX bytes.
func Bytes() []byte { return append([]byte(nil), model...) }

// Load decodes the embedded model.
func Load() (*onnxio.Model, error) { return onnxio.Decode(model) }
