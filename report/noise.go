package report

import (
	"fmt"

	"github.com/onnx-adapt/onnx-adapt/search"
)

// noiseText describes the noise column.
const noiseText = "± the standard error of the measured median (package measure), or, in a " +
	"record that lacks it, the 10th to 90th percentile of the timed runs"

// noiseRange returns the interval of latencies the measurement's noise
// spans: the median ± its standard error, or, in a record without one, the
// 10th to 90th percentile of the timed runs; ok is false when the model
// was not timed.
func noiseRange(f search.Figures) (lo, hi float64, ok bool) {
	switch {
	case f.MeasuredMS <= 0:
		return 0, 0, false
	case f.NoiseMS > 0:
		return f.MeasuredMS - f.NoiseMS, f.MeasuredMS + f.NoiseMS, true
	case f.P90MS > 0:
		return min(f.P10MS, f.MeasuredMS), max(f.P90MS, f.MeasuredMS), true
	}
	return 0, 0, false
}

func noise(f search.Figures) string {
	if f.MeasuredMS > 0 && f.NoiseMS > 0 {
		return fmt.Sprintf("±%.3f", f.NoiseMS)
	}
	lo, hi, ok := noiseRange(f)
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%.3f–%.3f", lo, hi)
}
