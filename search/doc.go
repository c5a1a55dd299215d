// Package search is the NetAdapt loop (Yang et al., ECCV 2018, Algorithm 1)
// over ONNX models. Run reads as the algorithm:
//
//	Res₀ = TakeEmpiricalMeasurement(Net₀)          measureSource
//	while Resᵢ > Bud                               unmet (with a check)
//	    Conᵢ = Resᵢ − ΔRᵢ                           iterate
//	    for each group k:
//	        ChooseNumFilters, ChooseWhichFilters   propose, tune
//	        ShortTermFineTune
//	    Netᵢ₊₁ = PickHighestAccuracy                tune, adopt
//	Net_final = LongTermFineTune(Netᵢ)             finish
//
// Budgets are set on the calibrated lookup-table estimate (package lut),
// which is smooth where a measurement is noisy; the distance to a latency
// target is taken from the last measurement. Candidates are the largest
// channel counts meeting the budget, one per group (surgery.Analyze's
// channel groups), found by bisection on a grid of multiples of RoundTo;
// the filters kept are those with the largest norms (surgery's ranking),
// or, with Recon.Rank, those whose removal leaves the least reconstruction
// error (package recon).
//
// With Recon.Refit, every candidate's cut is repaired before it is
// fine-tuned and compared: the layers that read the removed channels are
// refitted by least squares to reproduce what they computed in the current
// model, from Gram statistics collected once per iteration (reconstruct.go).
// Data without labels (DataInfo.Mode unlabelled or data-free) is learnt by
// distillation from the source, and held-out accuracy is then agreement
// with the source's top-1 (AgreementLabels). budget.go holds the defaults
// that follow the model's cost and the data: short- and long-term
// fine-tuning, held-out size, synthetic images.
//
// With Options.Spread, a step also offers candidates that share its
// reduction between the 2, 4, … groups that lost the least as cut (spread,
// in iterate.go), each cut shallower than it would be alone; they compete
// with the single cuts on held-out accuracy. Without short-term
// fine-tuning (a 224×224 network on a few hundred images), the refit alone
// repairs a cut, and it repairs shallow cuts far better than deep ones.
//
// No step is forced. A step that fewer than two groups can meet, or whose
// every candidate loses more than MaxDrop points of held-out top-1, is
// rejected and halved, down to the smallest step one grid step of one
// group gives; then pairs of groups are tried; then the search stops and
// says why (Result.Blocked).
//
// Every whole-model latency is measured with package measure's protocol,
// interleaved with the source: figures carry their noise, a fractional
// target is judged on the round-by-round ratio to the source, and a model
// that meets its target is checked again before the search stops (Check),
// in three fresh processes pooled (with Options.Timer, which also times
// every measurement after the source's), judged with a stated confidence. Each
// measurement also adds a point to the table's calibration, as a ratio to
// the source (so that drift moves no point), fitted by a repeated-median
// line that a minority of wild points cannot pull away.
//
// Every model the search writes records its lineage (surgery.Lineage): the
// source's SHA-256 and the composed plan, so that estimate finds the
// calibration fitted here.
//
// A run can be interrupted at any moment and resumed (resume.go): every
// file is written whole, history.json after each iteration's model, and
// Run on a folder that holds the same run (same source, same Settings)
// continues after its last recorded iteration from the exact bytes it
// wrote, so that, for MACs and parameter targets, the resumed run writes
// what an uninterrupted one does. Bad input is refused before anything is
// written (preflight.go): a model without a prunable group, and a target
// below what pruning every group to its smallest width reaches (for
// latency, as that smallest model measures alongside the source: a
// table's price that far from the source is not enough to refuse).
//
// Search never edits protobufs nor times single layers itself: it plans
// (pure), and asks surgery to apply, lut to price, finetune to train,
// and measure and onnxruntime to time. Every iteration's plan is kept, and
// their composition (surgery.Compose) is one plan that replays the final
// architecture on the original model.
package search
