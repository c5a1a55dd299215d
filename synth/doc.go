// Package synth makes calibration images for a model when there is no
// data: images whose per-layer batch statistics match the running means
// and variances that the model's BatchNormalization layers store, as
// ZeroQ (Cai et al., CVPR 2020) does for quantisation.
//
// # The objective
//
// For every BatchNormalization node with constant statistics μ, σ², the
// input x of a batch is normalised channel-wise, z = (x − μ)/σ, and the
// objective is
//
//	L = (1/L) Σ_layers (1/C) Σ_c  E[z_c]² + (E[z_c²] − 1)²
//
// with expectations over the batch and the spatial positions: it is zero
// exactly when every channel's batch mean is μ_c and its variance σ_c²
// (then E[z²] = var/σ² + mean² = 1). Measuring each channel in units of
// its own stored deviation makes channels and layers of every scale count
// alike; a stored variance below 10⁻³ of its layer's median is raised to
// that (dead channels, whose variance is ~0, would dominate otherwise).
// ZeroQ's ‖μ̂−μ‖² + ‖σ̂−σ‖² is the same target in raw units.
//
// The objective is built as an ONNX graph appended to a copy of the model
// (Sub, Mul, GlobalAveragePool, Transpose, Flatten, Gemm and Add nodes
// reading the BatchNormalization inputs) and differentiated with respect to
// the input by the Go training engine (package finetune, Options.InputGrad,
// with every initializer frozen and BatchNormalization on its running
// statistics), so no new derivative code is needed.
//
// # The class term
//
// Images that match the statistics alone are fragile: the model's class
// for them rests on small logit margins, so almost any change to the
// model flips it (on ImageNet MobileNetV2, one 2% pruning step changes
// the class of a quarter to over half of them, against 3–5% of real images).
// Options.ClassWeight adds DeepInversion's class term (Yin et al., CVPR
// 2020): each image gets a random target class, and the objective adds
// that weight times the batch's mean cross-entropy against the targets.
// The loss model's output is then [1, 1+n·K], the statistics objective
// followed by the model's n×K logits, and the cross-entropy and its
// gradient are computed in Go on those logits.
//
// # The optimisation
//
// The images are optimised in pixel space, p ∈ [0,1]: the model's input is
// (p − mean)/std of its preprocessing, so the images can be stored as
// ordinary 8-bit images and run through the same data pipeline as real
// ones. Adam with a cosine-decayed step, p clamped to [0,1] after every
// step, starting from ZeroQ's N(0,1) in normalised units. Images then
// hold 8-bit values; Check measures how far their statistics, as
// onnxruntime computes them, are from the stored ones.
package synth
