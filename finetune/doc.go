// Package finetune trains ONNX CNNs in Go: the short-term fine-tuning after
// every NetAdapt pruning step and the long-term fine-tuning at the end, with
// no PyTorch involved.
//
// # Engine
//
// Compile turns an onnxio model into an Engine: a fixed list of steps, one
// per node, for one batch size. The forward pass caches what the backward
// pass needs; the backward pass runs the steps in reverse. Trainable
// parameters are the float32 initializers that feed Conv weights and
// biases, Gemm B and C, MatMul weights (and a constant added right after a
// MatMul or Gemm, tf2onnx's Dense bias) and BatchNormalization scales and
// biases; running means and variances are buffers updated in training.
// Integer chains that compute Reshape targets (Shape→Gather→Unsqueeze→
// Concat) are not run: the engine uses the shapes onnxio.InferShapes
// computed. A node the engine cannot run is refused at compile time with
// an *UnsupportedError naming it.
//
// Every activation, gradient and accumulation scratch lives in one arena
// laid out at compile time by lifetime (see planner): buffers whose
// lifetimes do not overlap share memory, element-wise steps run in place
// when their input is dead afterwards, and view steps (Reshape, Flatten,
// same-shape Add gradients) share memory outright. Nothing is allocated
// per step beyond what the kernels' goroutines need.
//
// BatchNormalization runs fused with the Relu, Clip (ReLU6) or HardSwish
// that follows it (see fused.go): one pass forward, the pre-activation
// recomputed in the backward pass, branch-free masks, AVX2 loops.
// Options.ProfileLabels tags each step for "go tool pprof -tags".
//
// An Engine is generic over float32 (training) and float64 (gradient
// checks); the convolution, pooling and linear kernels are in
// internal/kernels.
//
// # Training
//
// Train runs SGD (momentum, Nesterov, weight decay on weights only, never on
// biases or BatchNormalization parameters) with a constant, cosine or step
// learning-rate schedule and optional linear warm-up, on cross-entropy with label smoothing, optionally mixed with
// knowledge distillation from a teacher run in onnxruntime. The trained
// weights and BatchNormalization statistics are written back into the
// model's initializers.
//
// # Determinism
//
// A run is a function of its seed: the data order and augmentation
// (internal/dataset), Dropout masks and the updates are all seeded, and
// the result does not depend on the number of kernel workers
// (Config.Workers) or loader goroutines. The kernels split the reductions
// that sum over the batch (convolution weight gradients, broadcast-add
// gradients) into a fixed number of slots of samples, each summed in order
// into its own partial, and add the partials in slot order; the slots
// depend on the shapes alone, never on the worker count (see
// internal/kernels). Two runs with the same seed write byte-identical
// models on any number of cores. What this does not cover: a teacher's
// logits (distillation) and Evaluate's accuracy come from onnxruntime,
// whose own kernels may round differently at another thread count.
//
// # Evaluation
//
// Evaluate runs a serialized model in onnxruntime over a dataset and returns
// its top-1 and top-5 accuracy; EvaluateEngine does the same with an Engine.
package finetune
