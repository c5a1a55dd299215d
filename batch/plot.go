package batch

import (
	"io"

	"github.com/onnx-adapt/onnx-adapt/report"
)

// WritePlot draws the summary's trade-off plot as a PNG (report.BatchPlot):
// held-out top-1 against measured latency, one colour per model, its
// source joined to the adapted model of each of its jobs.
func (s *Summary) WritePlot(w io.Writer) error {
	var series []report.Series
	at := map[string]int{}
	for _, r := range s.Rows {
		i, ok := at[r.Model]
		if !ok {
			i = len(series)
			at[r.Model] = i
			series = append(series, report.Series{Name: r.Model})
		}
		if r.Source.MeasuredMS > 0 {
			series[i].Source = r.Source
		}
		if r.Final.MeasuredMS > 0 {
			series[i].Adapted = append(series[i].Adapted, r.Final)
		}
	}
	png, err := report.BatchPlot(series)
	if err != nil {
		return err
	}
	_, err = w.Write(png)
	return err
}
