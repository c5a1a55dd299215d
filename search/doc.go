// Package search is the NetAdapt loop (Yang et al., ECCV 2018, Algorithm 1)
// over ONNX models.
//
// Each iteration i
//
//  1. sets a budget: the current model's resource minus a reduction ΔRᵢ
//     that shrinks from one iteration to the next (the resource-reduction
//     schedule, Schedule), never below the target;
//  2. for every prunable channel group (surgery.Analyze), picks the largest
//     number of channels to keep for which the model meets the budget,
//     priced with the per-layer latency lookup table (package lut), keeps
//     the channels with the largest filter norms, applies the plan to a
//     copy of the model (surgery.Apply), fine-tunes it briefly
//     (finetune.Train) and measures its accuracy on held-out training data
//     (finetune.Evaluate, through onnxruntime);
//  3. keeps the candidate with the best held-out accuracy, writes it as
//     one ONNX file (loaded and run in onnxruntime first), times it whole
//     in onnxruntime, and refits the table's calibration with that
//     measurement;
//
// until every constraint holds on measured figures. The latency target is
// aimed at with a margin (Options.Margin) against timing noise, and a model
// that meets it is timed again with three times the runs before the search
// stops (Check). A long-term fine-tune follows, and the final model is
// measured for real.
//
// Search never edits protobufs nor times single layers itself: it plans
// (pure), and asks surgery to apply, lut to price, finetune to train and
// onnxruntime to measure. Every iteration's plan is kept, and their
// composition (surgery.Compose) is one plan that replays the final
// architecture on the original model.
package search
