package batch

import (
	"fmt"
	"image/color"
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// The combined trade-off plot of a batch: held-out top-1 against measured
// latency, one colour per model, its source as an open circle and each of
// its jobs' adapted models as a filled dot joined to it. Drawn here with
// gonum/plot; a per-run report package can take it over (it reads the
// same search.Figures).

// WritePlot draws the summary's trade-off plot as a PNG.
func (s *Summary) WritePlot(w io.Writer) error {
	p := plot.New()
	p.Title.Text = "Batch trade-off: held-out top-1 against measured latency"
	p.X.Label.Text = "latency (ms, onnxruntime median)"
	p.Y.Label.Text = "held-out top-1 (%)"
	p.Add(plotter.NewGrid())
	var models []string
	byModel := map[string][]Row{}
	for _, r := range s.Rows {
		if _, ok := byModel[r.Model]; !ok {
			models = append(models, r.Model)
		}
		byModel[r.Model] = append(byModel[r.Model], r)
	}
	drawn := 0
	for mi, m := range models {
		col := plotColor(mi)
		var src plotter.XYs
		for _, r := range byModel[m] {
			if r.Source.MeasuredMS > 0 && r.Source.HeldOut != nil {
				src = plotter.XYs{{X: r.Source.MeasuredMS, Y: 100 * r.Source.HeldOut.Top1}}
			}
		}
		var dots plotter.XYs
		for _, r := range byModel[m] {
			if r.Final.MeasuredMS <= 0 || r.Final.HeldOut == nil {
				continue
			}
			pt := plotter.XY{X: r.Final.MeasuredMS, Y: 100 * r.Final.HeldOut.Top1}
			dots = append(dots, pt)
			if len(src) > 0 {
				l, err := plotter.NewLine(plotter.XYs{src[0], pt})
				if err != nil {
					return fmt.Errorf("batch: plot: %w", err)
				}
				l.Color, l.Dashes = col, []vg.Length{vg.Points(2), vg.Points(2)}
				p.Add(l)
			}
		}
		if len(src) > 0 {
			sc, err := plotter.NewScatter(src)
			if err != nil {
				return fmt.Errorf("batch: plot: %w", err)
			}
			sc.Shape, sc.Color, sc.Radius = draw.RingGlyph{}, col, vg.Points(5)
			p.Add(sc)
			drawn++
		}
		if len(dots) > 0 {
			sc, err := plotter.NewScatter(dots)
			if err != nil {
				return fmt.Errorf("batch: plot: %w", err)
			}
			sc.Shape, sc.Color, sc.Radius = draw.CircleGlyph{}, col, vg.Points(4)
			p.Add(sc)
			p.Legend.Add(m, sc)
			drawn++
		}
	}
	if drawn == 0 {
		p.Title.Text += " (no finished job yet)"
	}
	p.Legend.Top, p.Legend.Left = true, true
	for _, ax := range []*plot.Axis{&p.X, &p.Y} { // room around the outermost points
		pad := 0.05 * (ax.Max - ax.Min)
		if pad == 0 {
			pad = 0.05*ax.Max + 0.01
		}
		ax.Min, ax.Max = ax.Min-pad, ax.Max+pad
	}
	wt, err := p.WriterTo(8*vg.Inch, 5*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("batch: plot: %w", err)
	}
	_, err = wt.WriteTo(w)
	return err
}

// plotColor is the i-th colour of a colour-blind-safe palette.
func plotColor(i int) color.RGBA {
	palette := []color.RGBA{
		{0, 114, 178, 255}, {213, 94, 0, 255}, {0, 158, 115, 255}, {204, 121, 167, 255},
		{230, 159, 0, 255}, {86, 180, 233, 255}, {0, 0, 0, 255}, {240, 228, 66, 255},
	}
	return palette[i%len(palette)]
}
