// Package recon repairs a pruned layer without training: after a channel
// group loses channels, it refits, by least squares, the weights (and bias)
// of every layer that reads them — a Conv (1×1 or k×k, group 1), a Gemm or
// a MatMul with constant weights — so that the layer reproduces, from the
// channels that are left, what it computed from all of them (the idea of
// ThiNet, Luo et al. 2017, and of He et al. 2017, "Channel Pruning for
// Accelerating Very Deep Neural Networks"). It also ranks a group's
// channels by the error their removal leaves after that refit (Stats.Keep),
// an alternative to the filter-norm ranking of package surgery.
//
// # The reference
//
// The target of a refit is the layer's output in the model being pruned
// (the current NetAdapt iteration's model), not in the source model:
//
//   - it is what the candidate replaces: NetAdapt compares each cut with
//     the model it would change;
//   - the layers around it have adapted to the current model (earlier
//     refits, fine-tuning, their BatchNormalization statistics), so the
//     source's activations at that layer are no longer what the rest of the
//     current network expects;
//   - the target is then X·W₀, the layer's own input times its own weights,
//     so one forward pass of the current model over the calibration images
//     gives everything: the Gram matrix G = XᵀX of each layer's input
//     features. A candidate's refit is a solve on a submatrix of G, with no
//     further pass, for every candidate of the iteration;
//   - a layer refitted towards the source compensates the drift of its
//     inputs; when a layer upstream is later refitted towards the source
//     too, the compensation is applied twice. NetAdapt cuts groups in no
//     particular order, so that happens; only a front-to-back pass avoids
//     it (as He et al.'s whole-model refit does). Measured: refitting every
//     layer of a MobileNetV2 cut over five iterations towards the source's
//     outputs at once took its top-1 on 300 held-out ImageNet images from
//     77.7% to 15.0%, though every layer's own error fell;
//   - drift from the source is what distillation from the source (package
//     finetune) corrects, on the whole network's outputs.
//
// # Features and statistics
//
// Collect runs the model in onnxruntime with every consumer layer's input
// as an extra output, over a few hundred calibration images. Not the Go
// training engine: the statistics need no gradients, onnxruntime computes
// the activations the deployed model will see, and it is the faster of the
// two (MobileNetV2 at 224×224 with all 52 Conv inputs as outputs: 1.86 s
// of CPU for 32 images against 2.52 s for the engine's inference pass,
// decoding included, on an AVX2 machine; see BENCHMARKS.md). For each layer it samples output
// positions per image (enough rows for about eight per feature, the whole
// map when it is small), builds the im2col row of each (C·kh·kw input values,
// and 1 for the bias) and accumulates G in float64 from float32 blocks
// computed with the training engine's GEMM. One image in five is kept apart:
// its rows form a second Gram matrix Gᵥ, on which the ridge term is chosen.
//
// # The refit
//
// With K the features that survive a plan and W₀ the layer's weights, the
// refit solves, for every output channel at once,
//
//	min_W ‖X_K·W − X·W₀‖² + λ‖W − W₀[K]‖²
//
// that is (G_KK + λI)·W = G_K·W₀ + λ·W₀[K], by Cholesky (gonum). The ridge
// pulls towards the pruned original weights rather than towards zero, so
// the refit is exact when the removed channels carry nothing (then W₀[K]
// has no residual and no penalty) and falls back to the plain cut when the
// data cannot support a refit. λ = α·mean(diag G_KK) with α chosen from
// {10⁻⁶, 10⁻⁴, 10⁻², 1} by the error on the held-apart rows, fitted on the
// others; the plain cut (α = ∞) is a candidate too, so a refit is never
// worse than no refit on data it was not fitted on. Errors are weighted per
// output channel by the square of the scale of a BatchNormalization that
// follows (γ/√(σ²+ε)), which is what the next layer sees. A bias fitted for
// a Conv without one is folded into that BatchNormalization's mean.
//
// # Ranking
//
// Keep chooses the channels a group keeps by greedy backward elimination
// (as ThiNet does, but with the refit taken into account, as in Optimal
// Brain Surgeon): starting from every channel, it removes the one whose
// removal, with every consumer refitted, increases the summed relative
// reconstruction error the least, updating the inverse of G + λI and the
// refitted weights in closed form after each removal.
package recon
