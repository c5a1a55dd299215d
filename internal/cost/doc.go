// Package cost computes the analytic resources of an ONNX graph: per-layer
// multiply-accumulates and parameters, model totals, and peak activation
// memory from tensor liveness in topological order.
//
// Conventions, chosen to match published model tables (MobileNet papers,
// the TF-slim and torchvision model lists):
//   - MACs count Conv, ConvTranspose, Gemm and MatMul only. Element-wise
//     operators, normalisation and pooling are not counted.
//   - Params count the weights and biases of Conv, ConvTranspose, Gemm and
//     MatMul (initializer inputs), and the constant of an Add that biases a
//     MatMul. BatchNormalization's scale, bias and
//     running statistics are counted apart, in BNParams, as published tables
//     leave them out. AllParams counts every initializer element.
//
// Every figure is for batch 1; a symbolic batch dimension is taken as 1.
package cost
