package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/onnx-adapt/onnx-adapt/search"
)

// The picture's colours. Each iteration's marker is drawn in
// IterationColor, which nothing else in the picture uses, so that a reader
// (or a test) can find the iterations by colour alone.
var (
	IterationColor = color.RGBA{R: 230, G: 97, B: 1, A: 255}
	sourceColor    = color.RGBA{R: 33, G: 102, B: 172, A: 255}
	adaptedColor   = color.RGBA{R: 27, G: 120, B: 55, A: 255}
	targetColor    = color.RGBA{R: 178, G: 24, B: 43, A: 255}
	pathColor      = color.RGBA{R: 160, G: 160, B: 160, A: 255}
	noiseColor     = color.RGBA{R: 120, G: 120, B: 120, A: 255}
)

// Size of tradeoff.png.
const (
	plotWidth  = 7 * vg.Inch
	plotHeight = 4.5 * vg.Inch
)

// point is one model on the picture.
type point struct {
	ms, acc float64 // latency (ms) and held-out top-1 (%)
	lo, hi  float64 // the latency noise interval
	label   string
}

func pointOf(f search.Figures, label string) (point, bool) {
	if f.MeasuredMS <= 0 || f.HeldOut == nil {
		return point{}, false
	}
	p := point{ms: f.MeasuredMS, acc: 100 * f.HeldOut.Top1, lo: f.MeasuredMS, hi: f.MeasuredMS, label: label}
	if lo, hi, ok := noiseRange(f); ok {
		p.lo, p.hi = lo, hi
	}
	return p, true
}

// Plot draws held-out top-1 against measured latency: the iterations in
// order, numbered, each with its latency noise as a horizontal bar; the
// source and the adapted model; and the latency target as a dashed line.
// It returns the PNG.
func Plot(res *search.Result) ([]byte, error) {
	p := plot.New()
	p.Title.Text = "Held-out accuracy against measured latency"
	p.X.Label.Text = "onnxruntime latency, ms (median, batch 1)"
	p.Y.Label.Text = "held-out " + measure(res.Data.HeldOutMeasure) + ", %"
	p.Add(plotter.NewGrid())
	// NetAdapt's points run from the source, top right, down to the left:
	// the bottom right corner is free for the legend.
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(8), vg.Points(8)

	var all, iters []point
	src, hasSrc := pointOf(res.Source, "source")
	if hasSrc {
		all = append(all, src)
	}
	for _, it := range res.Iterations {
		if q, ok := pointOf(it.Figures, fmt.Sprint(it.Index)); ok {
			iters = append(iters, q)
		}
	}
	all = append(all, iters...)
	fin, hasFin := pointOf(res.Final, "adapted")
	if hasFin && done(res) {
		all = append(all, fin)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("report: no measured model to draw")
	}

	// Beneath the markers: the path through the iterations, the noise bars.
	path := plotter.XYs{}
	if hasSrc {
		path = append(path, plotter.XY{X: src.ms, Y: src.acc})
	}
	for _, q := range iters {
		path = append(path, plotter.XY{X: q.ms, Y: q.acc})
	}
	if len(path) > 1 {
		l, err := plotter.NewLine(path)
		if err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		l.Color, l.Width = pathColor, vg.Points(1)
		p.Add(l)
	}
	if err := addNoise(p, all); err != nil {
		return nil, err
	}
	if t := res.Constraints.LatencyMS; t > 0 {
		lo, hi := accRange(all)
		l, err := plotter.NewLine(plotter.XYs{{X: t, Y: lo}, {X: t, Y: hi}})
		if err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		l.Color, l.Width, l.Dashes = targetColor, vg.Points(1.5), []vg.Length{vg.Points(6), vg.Points(4)}
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("target %.3f ms", t), l)
	}

	// The markers, the iterations' in a colour of their own, and their
	// numbers beside them.
	if err := addMarkers(p, iters, IterationColor, draw.CircleGlyph{}, ""); err != nil {
		return nil, err
	}
	if hasSrc {
		if err := addMarkers(p, []point{src}, sourceColor, draw.BoxGlyph{}, "source"); err != nil {
			return nil, err
		}
	}
	if hasFin && done(res) {
		if err := addMarkers(p, []point{fin}, adaptedColor, draw.PyramidGlyph{}, "adapted (final)"); err != nil {
			return nil, err
		}
	}
	if err := addLabels(p, iters); err != nil {
		return nil, err
	}
	p.X.Min, p.X.Max = padded(msRange(all, res.Constraints.LatencyMS))
	p.Y.Min, p.Y.Max = padded(accRange(all))
	return renderPNG(p)
}

// renderPNG draws p at the pictures' size as a PNG.
func renderPNG(p *plot.Plot) ([]byte, error) {
	wt, err := p.WriterTo(plotWidth, plotHeight, "png")
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return b.Bytes(), nil
}

func xys(pts []point) plotter.XYs {
	out := make(plotter.XYs, len(pts))
	for i, q := range pts {
		out[i] = plotter.XY{X: q.ms, Y: q.acc}
	}
	return out
}

// addMarkers draws filled markers (a filled glyph stays one connected blob
// of its colour when anti-aliased); legend names them when not empty.
func addMarkers(p *plot.Plot, pts []point, c color.Color, shape draw.GlyphDrawer, legend string) error {
	if len(pts) == 0 {
		return nil
	}
	s, err := plotter.NewScatter(xys(pts))
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	s.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(4.5), Shape: shape}
	p.Add(s)
	if legend != "" {
		p.Legend.Add(legend, s)
	}
	return nil
}

type noiseBars struct {
	plotter.XYs
	plotter.XErrors
}

func addNoise(p *plot.Plot, pts []point) error {
	nb := noiseBars{XYs: xys(pts), XErrors: make(plotter.XErrors, len(pts))}
	for i, q := range pts {
		nb.XErrors[i].Low, nb.XErrors[i].High = q.ms-q.lo, q.hi-q.ms
	}
	bars, err := plotter.NewXErrorBars(nb)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	bars.Color, bars.Width = noiseColor, vg.Points(0.8)
	p.Add(bars)
	return nil
}

func addLabels(p *plot.Plot, iters []point) error {
	if len(iters) == 0 {
		return nil
	}
	names := make([]string, len(iters))
	for i, q := range iters {
		names[i] = q.label
	}
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys(iters), Labels: names})
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	for i := range l.TextStyle {
		l.TextStyle[i].Color = color.Black
	}
	l.Offset = vg.Point{X: vg.Points(6), Y: vg.Points(4)}
	p.Add(l)
	return nil
}

// msRange is the span of the latencies (noise included) and the target.
func msRange(pts []point, target float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, q := range pts {
		lo, hi = min(lo, q.lo), max(hi, q.hi)
	}
	if target > 0 {
		lo, hi = min(lo, target), max(hi, target)
	}
	return lo, hi
}

func accRange(pts []point) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, q := range pts {
		lo, hi = min(lo, q.acc), max(hi, q.acc)
	}
	return lo, hi
}

// padded widens [lo, hi] by a tenth on each side (and a degenerate range
// around its value), so that no marker sits on the frame.
func padded(lo, hi float64) (float64, float64) {
	d := hi - lo
	if d <= 0 {
		d = max(math.Abs(hi), 1) * 0.1
	}
	return lo - 0.1*d, hi + 0.1*d
}
