// Package lut estimates a model's latency from per-unit latency lookup
// tables measured in onnxruntime (NetAdapt, Yang et al. 2018, §3.3), and
// computes a model's analytic resources (MACs, parameters, bytes, peak
// activation memory).
//
// # Units and keys
//
// [Units] partitions a graph into the kernels onnxruntime really runs after
// its graph optimisations: Conv with a following BatchNormalization (folded
// by onnxruntime), residual Add (fused by its NCHWc transformer) and
// activation; Gemm/MatMul with the Flatten before it; pooling;
// element-wise operations; and so on (see [Unit]). A unit's [Key] holds
// everything that changes what runs: kind, kernel, stride, pads, dilation,
// group kind, batch, input size, input and output channels, activation and
// fusions. Identical units share one entry, across layers and models.
// [Unit.KeyFor] gives a unit's key at other channel counts, so a planner
// asks "this unit with cin=a, cout=b" without rebuilding the graph.
//
// # Measuring
//
// A [Measurer] builds the single-unit model of a key in memory
// ([UnitModel]: seeded random weights, BatchNormalization kept as a node
// when the source has one) and times the kernel onnxruntime makes of it as
// that kernel runs inside a model, with the deployment's session options:
// after a warm-up, with an adaptive run count (a short probe, then as many
// runs as a per-entry time budget allows, in three blocks) and keeping the
// lowest block median. Measurements are sequential.
//
// A single-unit model, timed as it is, pays what the unit does not pay
// inside a model. With optimisation level "all", onnxruntime runs
// convolutions (and the pools, residual Adds and activations it fuses into
// them) in a blocked channel layout, NCHWc, and puts a ReorderInput and a
// ReorderOutput at the edges of each run of such nodes. For a unit alone,
// that means one at each of its ends. For a 1×1 convolution on a 112×112
// map, the two reorders cost as much as the convolution. The Measurer
// therefore has onnxruntime optimise the unit's model and save the result.
// It removes the reorders at the graph's boundary from that optimised graph
// (their NCHWc tensors become the graph's inputs and output), and times
// what is left, with optimisation disabled since it is already optimised.
// The entry records which inputs the kernel reads in NCHWc and whether it
// writes NCHWc ([Entry.NCHWcIn], [Entry.NCHWcOut]). A fused residual Add is
// measured fused: in the unit's model its residual input passes through a
// 1×1 depthwise convolution, so onnxruntime sees an NCHWc residual, as
// inside a model. The Measurer then removes that feeder as well. On a
// device whose onnxruntime has no NCHWc (the arm64 build of 1.24), or at a
// lower optimisation level, nothing is reordered and the entries have no
// layout flags.
//
// [Table.Estimate] then charges reorders where they really happen inside
// the model, at boundaries between a unit that writes NCHWc and one that
// reads NCHW (a ReorderOutput), or the other way round (a ReorderInput).
// They are priced by measured ReorderInput and ReorderInput+ReorderOutput
// models of the tensor's shape (OpReorderIn, OpReorderPair entries). In a
// MobileNet that is the few places where the NCHWc run stops: before the
// classifier, around hard-swish (which onnxruntime does not fuse), and
// around a convolution with fewer input channels than the NCHWc block,
// which reads NCHW. Every entry includes one session Run of overhead (the
// OpOverhead entry, a one-element model). A whole model pays it once, so the
// estimate subtracts it from each unit and adds it back once. Since every
// unit depends on it, it is timed twenty times as long as a unit, in ten
// blocks.
//
// # Channel grid
//
// Entries sit on a channel grid (default step 8). A key between grid points
// is interpolated: bilinearly in (cin, cout) for dense convolutions and
// Gemm, linearly in the channel count for depthwise convolutions, pooling,
// element-wise units and reorders. Missing grid points are measured on
// demand. [Lines] lists what a NetAdapt search needs in bulk: every unit's
// lines through the current configuration (its output-channel sweep at its
// current input channels and its input-channel sweep at its current output
// channels, or its channel sweep), deduplicated across identical units;
// "onnx-adapt lut build" measures them ([Table.Build]).
//
// Note that onnxruntime pads NCHWc channels to its block size (16 with
// AVX-512, 8 with AVX2), so on such hosts latency is a staircase in the
// channel count: grid points (multiples of 8) are measured exactly, while
// values between them are interpolated and can miss a step by a few
// percent of that unit. NetAdapt with a step-8 grid only visits grid
// points.
//
// # Tables
//
// A [Table] is a JSON file: a [Header] naming the set-up (CPU model, cores,
// GOOS/GOARCH, onnxruntime version, threads, optimisation level, execution
// provider, grid step, format version), the entries sorted by key, and
// calibrations. [Open] refuses a table whose header does not match this
// set-up ([HeaderMismatchError]) unless it is opened as foreign: a table
// measured on the target device and used on the host. A foreign table
// never measures; a key it lacks is estimated from the nearest entry of the
// same unit family scaled by channel work, with a warning, and a key with
// no such entry is an error naming it ([MissingError]). [Table.Save] merges
// with what the file holds and writes atomically, under a file lock, so
// that one table per device serves concurrent jobs and processes (a
// batch's shards) without losing anyone's entries.
//
// # Estimating
//
// [Table.Estimate] sums the units as above (the raw estimate) and applies a
// [Calibration], MS = Scale·raw + OffsetMS. The calibration is a
// least-squares line fitted against whole-model onnxruntime measurements
// of the source model and a few random pruned variants of it
// ([Table.CalibrateSource], [RandomVariants]), or a ratio on the source
// alone ([FitCalibration]). It absorbs what single-unit timing cannot see.
// In a whole model, each layer's weights and input come from further down
// the cache hierarchy than in a unit run over and over, and more so the
// bigger the model. [ModelResources] and [PlanResources] add the analytic
// resources (internal/cost) for a model, or for a model with a pruning plan
// applied, without writing a file.
//
// Errors returned by this package start with "lut: ".
package lut
