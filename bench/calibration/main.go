// Command calibration shows, on the measurements of real adapt runs, how
// much the search's latency calibration moves from one iteration to the
// next under its current rule and under the rule it replaced.
//
// It replays a run's calibration points (history.json → calibrations[0].
// points: the source, its random variants, then every measured model in
// order) and, after each point, refits:
//
//   - "repeated median": lut.FitCalibration over every point so far, as the
//     search does now;
//   - "last 4, least squares": a least-squares line over the last four
//     points (a ratio when the line is not sane), the rule before issue 9.
//
// For each refit it prints the calibrated estimate of the source and of the
// last iteration's model (their raw table sums are in the points), so that
// the drift of every later budget with each new measurement is visible.
//
//	go run ./bench/calibration out/history.json [more...]
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"math"
	"os"

	"gonum.org/v1/gonum/stat"

	"github.com/onnx-adapt/onnx-adapt/lut"
	"github.com/onnx-adapt/onnx-adapt/search"
)

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: calibration HISTORY.json...")
	}
	for _, path := range os.Args[1:] {
		if err := run(path); err != nil {
			log.Fatalf("%s: %v", path, err)
		}
	}
}

func run(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var res search.Result
	if err := json.Unmarshal(b, &res); err != nil {
		return err
	}
	if len(res.Cal) == 0 {
		return fmt.Errorf("no calibration recorded")
	}
	pts := res.Cal[0].Points
	if len(pts) < 2 {
		return fmt.Errorf("%d calibration points", len(pts))
	}
	src, last := pts[0].RawMS, pts[len(pts)-1].RawMS
	fmt.Printf("%s: %d points; estimates of the source (raw %.4f ms) and of the last model (raw %.4f ms) after each point\n\n",
		path, len(pts), src, last)
	fmt.Println("| after point | measured ms | repeated median: source | last | last 4, least squares: source | last |")
	fmt.Println("|---|---|---|---|---|---|")
	var newSrc, newLast, oldSrc, oldLast []float64
	for i := 1; i <= len(pts); i++ {
		robust, err := lut.FitCalibration("m", "", pts[:i])
		if err != nil {
			return err
		}
		old := lastFourLS(pts[:i])
		fmt.Printf("| %s | %.4f | %.4f | %.4f | %.4f | %.4f |\n", pts[i-1].Label, pts[i-1].MeasuredMS,
			robust.Apply(src), robust.Apply(last), old.Apply(src), old.Apply(last))
		if i > len(pts)-len(res.Iterations)-len(res.Checks)-1 { // the search's own points
			newSrc, newLast = append(newSrc, robust.Apply(src)), append(newLast, robust.Apply(last))
			oldSrc, oldLast = append(oldSrc, old.Apply(src)), append(oldLast, old.Apply(last))
		}
	}
	cv := func(x []float64) float64 { return 100 * stat.StdDev(x, nil) / stat.Mean(x, nil) }
	fmt.Printf("\nover the search's own points: coefficient of variation of the estimates\n")
	fmt.Printf("  repeated median, all points:  source %.2f%%, last model %.2f%%\n", cv(newSrc), cv(newLast))
	fmt.Printf("  least squares, last 4 points: source %.2f%%, last model %.2f%%\n\n", cv(oldSrc), cv(oldLast))
	return nil
}

// lastFourLS is the calibration rule before issue 9: a least-squares line
// through the last four points, kept when its scale is in [0.5, 2] and it
// predicts every point within 25%, else a least-squares ratio.
func lastFourLS(all []lut.CalPoint) lut.Calibration {
	pts := all[max(0, len(all)-4):]
	if len(pts) >= 3 {
		x := make([]float64, len(pts))
		y := make([]float64, len(pts))
		for i, p := range pts {
			x[i], y[i] = p.RawMS, p.MeasuredMS
		}
		offset, scale := stat.LinearRegression(x, y, nil, false)
		c := lut.Calibration{Scale: scale, OffsetMS: offset, Form: "line"}
		sane := scale >= 0.5 && scale <= 2 && !math.IsNaN(offset)
		for _, p := range pts {
			sane = sane && math.Abs(c.Apply(p.RawMS)-p.MeasuredMS) <= 0.25*p.MeasuredMS
		}
		if sane {
			return c
		}
	}
	var sxx, sxy float64
	for _, p := range pts {
		sxx += p.RawMS * p.RawMS
		sxy += p.RawMS * p.MeasuredMS
	}
	return lut.Calibration{Scale: sxy / sxx, Form: "ratio"}
}
