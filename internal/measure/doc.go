// Package measure is onnx-adapt's one protocol for timing whole models in
// onnxruntime. Every latency that onnx-adapt reports for a whole model —
// the measure and estimate --measure commands, every figure and check of
// the NetAdapt search, the calibration of lookup tables and the
// benchmarks — comes from Models, so that "measured latency" means one
// thing everywhere.
//
// The protocol (Protocol):
//
//  1. Each model gets its own session with the deployment's options and
//     fixed random inputs (batch 1 for a symbolic batch).
//  2. A garbage collection (so that none runs during the rounds), then
//     warm-up: every model runs untimed for Warmup (at least MinWarmupRuns
//     runs). The warm-up's median sizes the blocks: each block lasts about
//     BlockTime, and at least MinBlockRuns runs.
//  3. Blocks rounds. In each round every model runs one block, in an order
//     that rotates from round to round. Models compared with one another
//     (a pruned model and its source) thus share every stretch of the
//     machine's time: drift (turbo, thermal throttling, a browser waking
//     up) slows them alike.
//  4. A block's figure is the median of its runs. A model's latency is the
//     median of its block figures (Latency.MS): a stray slow run cannot
//     move a block, and a disturbed minority of blocks cannot move the
//     median. Its noise (Latency.NoiseMS) is the standard error of that
//     median, the larger of two estimates: one from the spread of the
//     blocks (1.4826·MAD, times 1.2533/√Blocks), one from the spread of
//     the medians of Batches batches of consecutive rounds. A shared
//     machine drifts over seconds, so neighbouring blocks are alike and the
//     first estimate alone is too small; the batches see that drift. Two
//     figures whose difference is within a few noise figures are not told
//     apart.
//
// A comparison of two models measured together (Ratio) uses the round-by-
// round ratios of their block figures, which cancels drift that a ratio of
// two medians would keep. Its noise adds RatioFloor, the spread between
// measurements minutes or processes apart that no single measurement can
// see, to the standard error of its rounds. RatioFloor (3% of the ratio) is
// what a single measurement must assume; a run that can afford it measures
// its own floor (Floor, FloorOf): the same models timed with the source in
// a few processes, and how far their ratios moved between them. For a
// 224×224 MobileNetV2 that is about a third of RatioFloor. Absolute milliseconds move far
// more between processes (15–22% on the project's shared machines, where
// a ratio moves 2–5%): compare models by their ratio, not by two
// measurements' milliseconds.
//
// A Verdict compares a latency (or a ratio) with a limit and says how sure
// it is; when the limit lies within the noise it says so rather than
// report a coin flip.
//
// Single-layer timing for lookup tables (package lut) is a different job
// (a time budget per entry, many entries) and has its own rules there; the
// calibration of a table maps its sums onto latencies measured here.
package measure
