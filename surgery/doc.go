// Package surgery removes filters from ONNX CNNs, together with every
// downstream input channel, BN statistic and per-channel constant that
// reads them, so that the pruned model is physically smaller and computes
// exactly what the original computes with those channels' consumers
// zeroed.
//
// It works in three steps, as Torch-Pruning's DependencyGraph does, but on
// ONNX operator semantics:
//
//   - Analyze(g) finds the channel groups: sets of tensor axes that must
//     lose the same channel indices (a residual chain, a block's expansion
//     channels, an SE block's inner channels, ...), with the index mapping
//     of each (offsets through Concat/Split/Slice, H·W features per
//     channel after Flatten, channel multipliers of depthwise convs). It
//     ranks each group's channels by the L2 (or L1) norm of the filters of
//     the group's root layers, and freezes, with a reason, the groups it
//     cannot prune safely. It never changes the graph.
//   - A Plan (plain JSON) says which channels each group keeps, or how many
//     to drop; Resolve turns drop counts into kept indices, rounding kept
//     counts to a multiple when asked; Compose turns a history of plans
//     into one plan for the original model.
//   - Apply(g, plan) is the only function that mutates: it slices every
//     member tensor, fixes node parameters (depthwise group, Split sizes,
//     Slice bounds, shape constants) and ends with g.Verify.
//
// Analysis.Channels and Analysis.PrunedShape tell other packages (the
// latency model, the search) which groups define each tensor's channel
// axis and what its shape becomes under a candidate plan, without
// applying it.
package surgery
