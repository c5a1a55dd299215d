// Package models builds ONNX CNNs in memory, with seeded random weights, for
// tests and benchmarks: MobileNet V1, V2 and V3 (small and large), a
// ResNet-18 and ConcatNet, an Inception/DenseNet-style network whose
// branches meet in channel Concats.
//
// The architectures are the published ones (Howard 2017, Sandler 2018,
// Howard 2019, He 2016 as torchvision implements them), at any width
// multiplier α (channels rounded as torchvision's _make_divisible(ch·α, 8))
// and input resolution. At α = 1, 224×224 and 1000 classes they have the
// published sizes; the tests assert them:
//
//	model               parameters (BN kept)  MACs (Conv + Gemm)  published
//	mobilenetv1          4,231,976            568.7M             4.2M, 569M (Howard 2017)
//	mobilenetv2          3,504,872            300.8M             3,504,872 (torchvision), 300M
//	mobilenetv3-small    2,542,856             56.5M             2,542,856 (torchvision), 56M
//	mobilenetv3-large    5,483,032            216.6M             5,483,032 (torchvision), 219M
//	resnet (ResNet-18)  11,689,512           1814.1M             11,689,512 (torchvision), 1.81G
//	concatnet            1,924,712           1828.5M             (our own design)
//
// # Parameter-counting convention
//
// With BN kept (BNKept), the count is every Conv and Gemm/MatMul weight and
// bias plus each BatchNormalization's scale γ and bias β, but not its
// running mean and variance: torchvision's sum(p.numel() for p in
// model.parameters()), which is what published tables report. With BN
// folded (BNFolded), it is every Conv and Gemm/MatMul weight and bias, the
// folded Conv biases included, so a folded model counts one bias per BN
// channel where the kept model counts γ and β. MACs count Conv
// (Cout·Hout·Wout·Cin/group·kh·kw) and Gemm/MatMul (M·N·K) only, at batch 1.
//
// # Weights
//
// Conv and Gemm weights are drawn He-normal (std √(2/fan_in); √(1/fan_in)
// for the classifier) and biases N(0, 0.05²) from a PCG generator seeded by
// Config.Seed. Every BatchNormalization gets non-trivial parameters:
// γ ∈ [0.5, 1.5), β ~ N(0, 0.1²), and running statistics scaled to its
// input as a trained network's are: the builders propagate the expected
// mean square m2 of every feature map from a standard-normal input
// (through convs from their actual weights, activations by Gaussian
// quadrature, Adds, Concats and pools by rule of thumb), and set the
// running mean ~ N(0, 0.1²·m2) and the running variance m2·1.273·e^u,
// u ∈ [−1, 1), so per-channel scales γ/√var vary over a factor of ~8 while
// each BN's output has mean square ≈ 1. Random statistics that ignore the
// input scale make activations grow by orders of magnitude over 50 layers,
// and equivalent graphs (BN kept or folded) then differ by more than any
// useful tolerance; TestActivationScale checks that every feature map's
// RMS stays within [0.05, 20].
//
// The same random numbers are drawn in the same order whatever the BN mode,
// style or opset, so builds that differ only in those compute the same
// function (up to the padding and pooling differences of StyleTF2ONNX, see
// Style). Folding uses W' = W·γ/√(var+ε), b' = β − mean·γ/√(var+ε), in
// float64.
//
// # Export styles
//
// StyleTorch lays the graph out as torch.onnx.export (PyTorch 1.13) does:
// NCHW input "input", output "output", Conv → BatchNormalization → Relu /
// Clip (with Constant-node bounds) / HardSwish, Flatten → Gemm heads,
// parameters named after their modules ("features.3.conv.0.0.weight") and
// nodes after their module scopes
// ("/features/features.3/conv/conv.0/conv.0.0/Conv").
//
// StyleTF2ONNX imitates what tf2onnx emits for Keras models: an NHWC input
// "input_1" followed by a Transpose to NCHW, BN folded (whatever Config.BN
// says; ConcatNet's pre-activation BN stays a node), ReLU6 as
// Clip, Keras "same" padding (asymmetric, bottom/right-heavy, for stride-2
// layers on even sizes), average pools that do not count padding, Reshape
// with a constant shape initializer instead of Flatten, MatMul + Add instead
// of Gemm, and a final Softmax (Keras applications end in one) producing
// "predictions". It is an imitation, written from what tf2onnx is known to
// emit and from the Keras layer definitions; tf2onnx itself could not be
// installed here (PyPI is unreachable), so it has never been compared with
// real tf2onnx output. Its node names ("StatefulPartitionedCall/model/...")
// are invented in the same spirit.
//
// Nothing downstream may depend on node or value names; they only make the
// graphs look like real exports in error messages and dumps.
//
// Real PyTorch exports of small torchvision models live in
// testdata/torch (see testdata/README.md), for tests that need "models
// exported by PyTorch"; TestBuildersMatchTorchvision checks that the
// builders emit the same operator sequence, weight shapes and parameter
// counts as those exports.
package models
