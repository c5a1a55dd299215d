package report

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/search"
)

// run is the record of a finished run of n iterations, with latencies and
// accuracies spread out as NetAdapt's are: each iteration faster and a
// little less accurate than the one before.
func run(n int) *search.Result {
	fig := func(ms, acc float64) search.Figures {
		return search.Figures{MeasuredMS: ms, NoiseMS: ms * 0.02, P10MS: ms * 0.97, P90MS: ms * 1.04, MACs: int64(ms * 1e6), Params: int64(ms * 1e5),
			Bytes: int64(ms * 4e5), HeldOut: &finetune.Accuracy{Top1: acc}, Test: &finetune.Accuracy{Top1: acc - 0.01}}
	}
	res := &search.Result{
		Constraints: search.Constraints{LatencyMS: 0.55, LatencyFraction: 0.6},
		Source:      fig(1, 0.92),
		Met:         true, Seconds: 42,
		File:  "out/adapted.onnx",
		Final: fig(0.52, 0.90),
		Checks: []search.Check{{After: n, FreshProcess: true, Processes: 3, MeasuredMS: 0.53, NoiseMS: 0.005, LimitMS: 0.55, Passed: true},
			{After: n, Final: true, MeasuredMS: 0.52, NoiseMS: 0.004, LimitMS: 0.55, Passed: true}},
	}
	for i := 1; i <= n; i++ {
		it := search.Iteration{Index: i, File: filepath.Join("out", "iter_00"+string(rune('0'+i))+".onnx"),
			Figures:    fig(1-0.45*float64(i)/float64(n), 0.92-0.06*float64(i)/float64(n)),
			Candidates: []search.Candidate{{Group: 9, Size: 32, Keep: 24}, {Group: i, Roots: []string{"conv_" + string(rune('a'+i))}, Size: 64, Keep: 56}},
			Chosen:     1}
		if i == 3 {
			it.Candidates[1].Pair = &it.Candidates[0]
		}
		res.Iterations = append(res.Iterations, it)
	}
	return res
}

// components counts the 8-connected blobs of pixels of exactly colour c.
func components(img image.Image, c color.Color) int {
	b := img.Bounds()
	want := color.NRGBAModel.Convert(c).(color.NRGBA)
	is := func(x, y int) bool {
		return color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA) == want
	}
	seen := make([]bool, b.Dx()*b.Dy())
	idx := func(x, y int) int { return (y-b.Min.Y)*b.Dx() + x - b.Min.X }
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if seen[idx(x, y)] || !is(x, y) {
				continue
			}
			n++
			stack := []image.Point{{x, y}}
			seen[idx(x, y)] = true
			for len(stack) > 0 {
				p := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				for dy := -1; dy <= 1; dy++ {
					for dx := -1; dx <= 1; dx++ {
						q := image.Point{p.X + dx, p.Y + dy}
						if q.In(b) && !seen[idx(q.X, q.Y)] && is(q.X, q.Y) {
							seen[idx(q.X, q.Y)] = true
							stack = append(stack, q)
						}
					}
				}
			}
		}
	}
	return n
}

// TestPlotMarkers decodes the picture and finds one marker per iteration,
// in the colour only iterations use; the source and the adapted model each
// show once on the plot and once in the legend.
func TestPlotMarkers(t *testing.T) {
	for _, n := range []int{1, 3, 7} {
		data, err := Plot(run(n))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if got := components(img, IterationColor); got != n {
			t.Errorf("%d iterations: %d markers of the iteration colour", n, got)
		}
		for name, c := range map[string]color.Color{"source": sourceColor, "adapted": adaptedColor} {
			if got := components(img, c); got != 2 {
				t.Errorf("%d iterations: %s drawn %d times, want 2 (marker and legend)", n, name, got)
			}
		}
	}
	// A run in progress: no adapted model yet.
	res := run(2)
	res.File, res.Final = "", search.Figures{}
	data, err := Plot(res)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if components(img, IterationColor) != 2 || components(img, adaptedColor) != 0 {
		t.Errorf("in progress: %d iteration markers, %d adapted", components(img, IterationColor), components(img, adaptedColor))
	}
}

// TestMarkdown checks the table: one row per model, the figures of each,
// and the status of the run.
func TestMarkdown(t *testing.T) {
	res := run(3)
	var b bytes.Buffer
	if err := Markdown(&b, res); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"Target: latency ≤ 60% of the source's (0.550 ms",
		"Status: **met** after 3 iterations",
		"| source | 1.000 | ±0.020 | 1.00M | 100.0k | 390.6 KiB | 92.00% | 91.00% |  |",
		"| iter_001.onnx | 0.850 | ±0.017 |",
		"| 1: 64 → 56 channels (conv_b) |",
		"| 3: 64 → 56 channels (conv_d) and 9: 32 → 24 channels |",
		"| adapted.onnx (final) | 0.520 |",
		"| 3 | 3 fresh processes, pooled | 0.530 | ±0.005 | 0.550 | true |",
		"| 3 (final) | the adapting process | 0.520 | ±0.004 | 0.550 | true |",
		"](tradeoff.png)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	if rows := strings.Count(md, "\n| iter_"); rows != 3 {
		t.Errorf("%d iteration rows, want 3", rows)
	}
	// A record without a data mode (before they existed) says nothing of
	// it; one with a mode names it, and agreement is not called top-1.
	if strings.Contains(md, "Data:") || strings.Contains(md, "Reconstruction:") || !strings.Contains(md, "| held-out top-1 | test top-1 |") {
		t.Errorf("a record without a data mode:\n%s", md)
	}
	res.Data = search.DataInfo{Mode: search.ModeUnlabelled, Source: "photos/", Train: 800, HeldOut: 100, Test: 300,
		HeldOutMeasure: "agreement", TestMeasure: "agreement"}
	res.Recon = search.Recon{Refit: true}
	b.Reset()
	Markdown(&b, res)
	for _, want := range []string{
		"Data: **unlabelled**, photos/: 800 training, 100 held-out, 300 test images; held-out figures are agreement with the source model's top-1, not accuracy, and so are the test figures.",
		"Reconstruction: the layers that read each cut's removed channels refitted by least squares.",
		"| held-out agreement | test agreement |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("unlabelled: report.md lacks %q:\n%s", want, b.String())
		}
	}
	res.Data, res.Recon = search.DataInfo{}, search.Recon{}
	res.File = ""
	b.Reset()
	Markdown(&b, res)
	if !strings.Contains(b.String(), "**in progress**, 3 iterations so far") || strings.Contains(b.String(), "adapted.onnx") {
		t.Errorf("in progress:\n%s", b.String())
	}
	res.Blocked = "iteration 4: no acceptable candidate"
	b.Reset()
	Markdown(&b, res)
	if !strings.Contains(b.String(), "**stopped** after 3 iterations, before every constraint held: iteration 4: no acceptable candidate.") {
		t.Errorf("blocked:\n%s", b.String())
	}
	// A record without the standard error (an older history.json) shows
	// the spread of the runs.
	res.Source.NoiseMS = 0
	b.Reset()
	Markdown(&b, res)
	if !strings.Contains(b.String(), "| source | 1.000 | 0.970–1.040 |") {
		t.Errorf("no standard error:\n%s", b.String())
	}
}

// TestWriteLoad writes the report of a history.json and reads it back.
func TestWriteLoad(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); err == nil {
		t.Error("Load of a folder without history.json succeeded")
	}
	if err := os.WriteFile(filepath.Join(dir, HistoryFile), []byte(`{"source": {"measured_ms": 1, "held_out": {"Top1": 0.5}}, "iterations": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, res); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "history.json report.md tradeoff.png" {
		t.Errorf("folder holds %v", names)
	}
	if err := Write(filepath.Join(dir, "none"), res); err == nil {
		t.Error("Write into a missing folder succeeded")
	}
	if _, err := Plot(&search.Result{}); err == nil {
		t.Error("Plot of a record without measurements succeeded")
	}
}

// TestBatchPlot decodes a batch's picture and finds, in each model's
// colour, its source, one marker per adapted model and its legend entry;
// models without a measured figure are left out, and an empty batch still
// gives a picture.
func TestBatchPlot(t *testing.T) {
	fig := func(ms, acc float64) search.Figures {
		return search.Figures{MeasuredMS: ms, NoiseMS: ms * 0.01, HeldOut: &finetune.Accuracy{Top1: acc}}
	}
	series := []Series{
		{Name: "a", Source: fig(2, 0.90), Adapted: []search.Figures{fig(1.5, 0.85), fig(1.0, 0.70)}},
		{Name: "b", Source: fig(1.2, 0.60), Adapted: []search.Figures{fig(0.9, 0.55), fig(0.7, 0.45), fig(0.5, 0.30), {}}},
	}
	data, err := BatchPlot(series)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range series {
		want := 1 + (len(s.Adapted) - i) + 1 // source, measured adapted models, legend (b has one unmeasured)
		if got := components(img, batchPalette[i]); got != want {
			t.Errorf("model %s: %d blobs of its colour, want %d", s.Name, got, want)
		}
	}
	if _, err := BatchPlot(nil); err != nil {
		t.Errorf("an empty batch: %v", err)
	}
}
