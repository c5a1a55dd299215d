package search

import "math"

// Training budgets that follow the model's cost and the data at hand. The
// Go engine trains at roughly 10 GMAC/s of forward pass on two cores (see
// BENCHMARKS.md: MobileNetV2 at 224×224 and 32×32), so a budget in
// multiply-accumulates is a budget in time: CandidateMACs is about half a
// second of fine-tuning per candidate, LongTermMACs under two minutes for
// the final model. (On a CPU without AVX-512 the float32 GEMMs fall back
// to gonum's and the same budgets take about four times as long.)
const (
	CandidateMACs = 5e9
	LongTermMACs  = 1e12
	LongSteps     = 500
	// MaxLongEpochs bounds the long-term fine-tuning of a small data set.
	MaxLongEpochs = 60
)

// CostlyMACs is the cost per image above which a model is too costly for
// the fixed fine-tuning defaults of a labelled run (adapt's flags: 100
// short-term steps of 64 images per candidate, a tenth of the data held
// out, one long-term epoch): at 30M multiply-accumulates, 100 steps of 64
// take about half a minute per candidate on two cores, a quarter of an
// hour per iteration of thirty groups. Above it, and for data without
// labels, the budgets below replace them. The 32×32 models (the embedded
// default, 6M) are below it, the MobileNets at 224×224 (56M to 600M)
// above.
const CostlyMACs = 30e6

// ShortTermBudget returns the default short-term fine-tuning of every
// candidate, for a model of macs multiply-accumulates per image and n
// training images: the candidate sees I = min(n, CandidateMACs/macs)
// images, in batches of I/4 rounded down to a power of two within [8, 64],
// for I/batch steps. It returns no steps when fewer than four batches
// fit: the candidate's refit (Recon) then stands alone. MobileNetV2 at
// 32×32 (6M MACs) gets 13 steps of 64 when the data has that many
// images; at 224×224 (300M MACs) none.
func ShortTermBudget(macs int64, n int) (steps, batch int) {
	if macs <= 0 || n <= 0 {
		return 0, 8
	}
	images := min(float64(n), math.Floor(CandidateMACs/float64(macs)))
	batch = 8
	for batch*2 <= 64 && float64(batch*2) <= images/4 {
		batch *= 2
	}
	steps = int(images) / batch
	if steps < 4 {
		return 0, batch
	}
	return steps, batch
}

// LongTermEpochs returns the default long-term fine-tuning of the final
// model, in epochs over n training images in batches of batch: LongSteps
// optimiser steps, but no more than LongTermMACs of training, and from 1
// to MaxLongEpochs epochs. The quickstart's 58,000 Fashion-MNIST images
// get 1 epoch; 480 of them 60; MobileNetV2 at 224×224 on 800 images 4.2.
func LongTermEpochs(macs int64, n, batch int) float64 {
	if macs <= 0 || n <= 0 || batch <= 0 {
		return 1
	}
	e := min(float64(LongSteps*batch)/float64(n), LongTermMACs/(float64(macs)*float64(n)))
	return math.Round(100*min(max(e, 1), MaxLongEpochs)) / 100
}

// The fine-tuning learning rates at batch 64 of a model above CostlyMACs
// (FineTuneLR). The fixed defaults (0.005 short-term, 0.01 long-term) were
// chosen on the 32×32 models; on ImageNet MobileNetV2 at 224×224, in
// batches of 8 with frozen BatchNormalization, their scaled rates
// (0.000625, 0.00125) wreck the pretrained network in a few steps: one
// step of 8 images at 0.00125 takes the distillation loss from 3.5 to 22,
// and 415 steps (3.69 epochs of 901 images) took an adapted model's
// held-out agreement with the source from 57.6% to 0% (its gradients are
// exact: the float64 engine matches finite differences). At 2e-4 per 64
// (2.5e-5 per 8) the same fine-tune improves it.
const (
	CostlyShortLR = 1e-4
	CostlyLongLR  = 2e-4
)

// FineTuneLR returns the default learning rate of a fine-tune in batches
// of batch for a model of macs multiply-accumulates per image: base (the
// rate at batch 64 of the small models) or, above CostlyMACs, costly
// (CostlyShortLR, CostlyLongLR), times batch/64.
func FineTuneLR(macs int64, batch int, base, costly float64) float64 {
	if macs > CostlyMACs {
		base = costly
	}
	return base * float64(batch) / 64
}

// HeldOutMACs bounds the inference every candidate's held-out evaluation
// costs (about a second in onnxruntime on two cores).
const HeldOutMACs = 3e10

// HeldOutSize returns the default number of held-out images carved from n
// training images to compare candidates on, for a model of macs
// multiply-accumulates per image: a fifth, at most 2000 and at most
// HeldOutMACs of inference, and at least 1. MobileNetV2 at 224×224 gets
// 100 images, the embedded Fashion-MNIST model 2000 of 60,000.
func HeldOutSize(n int, macs int64) int {
	h := min(2000, n/5)
	if macs > 0 {
		h = min(h, int(HeldOutMACs/float64(macs)))
	}
	return max(1, h)
}

// SyntheticMACs bounds the data-free mode's synthesis: every image costs
// about three forward passes (forward, and backward to the input) per
// optimisation step.
const SyntheticMACs = 5e11

// SyntheticBudget returns the default number of images to synthesise for
// a model of macs multiply-accumulates per image, and the optimisation
// steps of each: 200 steps, or 50 for a model whose 64 images would not fit
// SyntheticMACs at 200; images fill the budget in multiples of 32, from 64
// to 1024. The embedded Fashion-MNIST model (6M MACs) gets 128 images of
// 200 steps, MobileNetV2 at 224×224 (300M) 64 images of 50.
func SyntheticBudget(macs int64) (images, steps int) {
	if macs <= 0 {
		return 64, 200
	}
	steps = 200
	per := 3 * float64(macs)
	if 64*per*float64(steps) > SyntheticMACs {
		steps = 50
	}
	n := int(SyntheticMACs/(per*float64(steps))) / 32 * 32
	return min(max(n, 64), 1024), steps
}
