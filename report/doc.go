// Package report renders the record of an onnx-adapt run (search.Result,
// as history.json holds it) for a person: report.md, a table of the
// source, every iteration and the adapted model — measured latency with its
// noise, MACs, parameters, file size, held-out and test top-1, the channel
// group each iteration pruned — and tradeoff.png, held-out accuracy against
// measured latency over the iterations, with the source, the adapted model
// and the latency target marked, drawn with gonum.org/v1/plot.
//
// The search calls [Write] after every iteration (search.Options.History),
// so the report of a run in progress shows the iterations so far; the
// command `onnx-adapt report OUTDIR` renders it again from history.json.
//
// [BatchPlot] draws a batch's models in one such picture (package batch).
//
// Errors are prefixed with "report: ".
package report
