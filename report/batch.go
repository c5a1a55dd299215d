package report

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/onnx-adapt/onnx-adapt/search"
)

// Series is one model of a batch (package batch): its source's figures and
// those of its adapted models, one per constraint set.
type Series struct {
	Name    string
	Source  search.Figures
	Adapted []search.Figures
}

// batchPalette colours the models of a batch (colour-blind safe).
var batchPalette = []color.RGBA{
	{0, 114, 178, 255}, {213, 94, 0, 255}, {0, 158, 115, 255}, {204, 121, 167, 255},
	{230, 159, 0, 255}, {86, 180, 233, 255}, {0, 0, 0, 255}, {240, 228, 66, 255},
}

// BatchPlot draws a batch's trade-off in one picture: held-out top-1
// against measured latency, one colour per model, its source as a box and
// each of its adapted models as a dot joined to it by a dashed line, every
// latency with its noise bar. Only markers are drawn in a model's own
// colour (batchPalette). Models without a measured figure are left
// out (a batch in progress). It returns the PNG.
func BatchPlot(series []Series) ([]byte, error) {
	p := plot.New()
	p.Title.Text = "Batch: held-out accuracy against measured latency"
	p.X.Label.Text = "onnxruntime latency, ms (median, batch 1)"
	p.Y.Label.Text = "held-out top-1, %"
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(8), vg.Points(8)
	// Beneath: the lines from each source to its adapted models and every
	// noise bar; then the markers, the only marks in a model's colour.
	type model struct {
		src     point
		hasSrc  bool
		adapted []point
	}
	ms := make([]model, len(series))
	var all []point
	for i, s := range series {
		m := &ms[i]
		m.src, m.hasSrc = pointOf(s.Source, "source")
		for _, f := range s.Adapted {
			if q, ok := pointOf(f, ""); ok {
				m.adapted = append(m.adapted, q)
			}
		}
		if m.hasSrc {
			all = append(all, m.src)
		}
		all = append(all, m.adapted...)
	}
	if len(all) == 0 {
		p.Title.Text += " (no measured model yet)"
	} else {
		p.X.Min, p.X.Max = padded(msRange(all, 0))
		p.Y.Min, p.Y.Max = padded(accRange(all))
	}
	for i, m := range ms {
		col := batchPalette[i%len(batchPalette)]
		for _, q := range m.adapted {
			if !m.hasSrc {
				break
			}
			l, err := plotter.NewLine(plotter.XYs{{X: m.src.ms, Y: m.src.acc}, {X: q.ms, Y: q.acc}})
			if err != nil {
				return nil, fmt.Errorf("report: %w", err)
			}
			// Half-transparent: only markers are drawn in the model's own
			// colour, so that they can be found by it.
			l.Color, l.Width, l.Dashes = color.NRGBA{col.R, col.G, col.B, 110}, vg.Points(1), []vg.Length{vg.Points(3), vg.Points(3)}
			p.Add(l)
		}
	}
	if len(all) > 0 {
		if err := addNoise(p, all); err != nil {
			return nil, err
		}
	}
	for i, m := range ms {
		col := batchPalette[i%len(batchPalette)]
		if m.hasSrc {
			if err := addMarkers(p, []point{m.src}, col, draw.BoxGlyph{}, ""); err != nil {
				return nil, err
			}
		}
		if err := addMarkers(p, m.adapted, col, draw.CircleGlyph{}, series[i].Name); err != nil {
			return nil, err
		}
	}
	return renderPNG(p)
}
