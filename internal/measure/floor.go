package measure

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// MinRatioFloor is the least floor a measured Floor gives, relative to the
// ratio: the steadiest figure seen between processes on the project's
// machines (0.8%, a 224×224 MobileNetV2 at 0.67× its source, twelve
// processes; BENCHMARKS.md). A handful of processes can agree by chance
// more closely than the machine does.
const MinRatioFloor = 0.01

// FloorConfidence is the one-sided confidence of the upper bound that
// FloorOf takes for the spread it sees: a floor read too low makes every
// later verdict too sure.
const FloorConfidence = 0.8

// Floor is the noise between processes of ratios to one source, measured
// for that source on this machine: the same models, timed together with
// the source in Processes processes, gave ratios that spread by SD about
// their means (pooled over the models, DF degrees of freedom). Upper is the
// FloorConfidence upper bound of that SD, and what a ratio's noise uses.
// Figures are in units of the source's latency (a ratio's own scale), not
// relative to the ratio: between processes, models from 0.3× to 0.8× of a
// 224×224 MobileNetV2 spread alike, by about 0.01 (BENCHMARKS.md).
type Floor struct {
	SD        float64 `json:"sd"`
	Upper     float64 `json:"upper"`
	DF        int     `json:"df"`
	Processes int     `json:"processes"`
	Models    int     `json:"models"`
	// Pooled, when above 1, makes this the floor of a figure pooled over
	// that many processes (see Over).
	Pooled int `json:"pooled,omitempty"`
}

// Over returns the floor of a ratio pooled over n processes, each
// measured like the ones f was measured from: f's figures divided by √n
// (see At), the spread of a mean of n independent ones.
func (f Floor) Over(n int) Floor {
	f.Pooled = n
	return f
}

// FloorOf measures the floor from ratios[p][k]: model k's ratio to the
// source in process p. It needs at least two processes and one model.
func FloorOf(ratios [][]float64) (Floor, error) {
	if len(ratios) < 2 || len(ratios[0]) == 0 {
		return Floor{}, errors.New("measure: a floor needs at least two processes' ratios of at least one model")
	}
	k := len(ratios[0])
	var ss float64
	for m := range k {
		var sum float64
		for _, rs := range ratios {
			if len(rs) != k {
				return Floor{}, fmt.Errorf("measure: floor: processes timed %d and %d models", k, len(rs))
			}
			sum += rs[m]
		}
		mean := sum / float64(len(ratios))
		for _, rs := range ratios {
			ss += (rs[m] - mean) * (rs[m] - mean)
		}
	}
	df := k * (len(ratios) - 1)
	sd := math.Sqrt(ss / float64(df))
	// SD²·df/σ² is χ² with df degrees of freedom: σ is below
	// SD·√(df/q) with confidence c, q being χ²'s 1−c quantile.
	q := distuv.ChiSquared{K: float64(df)}.Quantile(1 - FloorConfidence)
	return Floor{SD: sd, Upper: sd * math.Sqrt(float64(df)/q), DF: df, Processes: len(ratios), Models: k}, nil
}

// At returns the floor for a ratio v: Upper, but no less than
// MinRatioFloor·v and no more than RatioFloor·v (the figure a single
// measurement assumes); the zero Floor (none measured) gives RatioFloor·v.
// A floor Over(n) processes divides that by √n.
func (f Floor) At(v float64) float64 {
	a := RatioFloor * v
	if f.DF > 0 {
		a = min(max(f.Upper, MinRatioFloor*v), RatioFloor*v)
	}
	if f.Pooled > 1 {
		a /= math.Sqrt(float64(f.Pooled))
	}
	return a
}

// Repeat times the serialized models together n times with timer (nil:
// Models, in this process), the first being the source, and returns each
// model's latency pooled over the n calls (Pool) and the floor that the
// others' ratios to the source give (FloorOf). It needs n ≥ 2 and at least
// one model besides the source.
func Repeat(timer Timer, models [][]byte, p Protocol, n int) ([]Latency, Floor, error) {
	if timer == nil {
		timer = Models
	}
	per := make([][]Latency, len(models)) // per[k][c]: model k in call c
	ratios := make([][]float64, n)        // ratios[c][k-1]: model k's ratio to the source in call c
	for c := range n {
		ls, err := timer(models, p)
		if err != nil {
			return nil, Floor{}, err
		}
		for k, l := range ls {
			per[k] = append(per[k], l)
			if k == 0 {
				continue
			}
			r, err := RatioOf(l, ls[0])
			if err != nil {
				return nil, Floor{}, err
			}
			ratios[c] = append(ratios[c], r.Value)
		}
	}
	f, err := FloorOf(ratios)
	if err != nil {
		return nil, Floor{}, err
	}
	pooled := make([]Latency, len(models))
	for k := range pooled {
		pooled[k] = Pool(per[k])
	}
	return pooled, f, nil
}

// Pool joins the latencies of one model from several calls of Models (in
// the order given) into one: its blocks in that order, their median and
// noise (the batches then span the calls, so their spread sees the
// difference between calls), its runs summed, and its percentiles the
// mean of the calls'.
func Pool(ls []Latency) Latency {
	var blocks, p10, p90 []float64
	runs := 0
	for _, l := range ls {
		blocks = append(blocks, l.BlocksMS...)
		p10, p90 = append(p10, l.P10MS), append(p90, l.P90MS)
		runs += l.Runs
	}
	out := summarize(blocks)
	if len(ls) > 0 {
		out.P10MS, out.P90MS, out.Runs, out.BlockRuns = stat.Mean(p10, nil), stat.Mean(p90, nil), runs, ls[0].BlockRuns
	}
	return out
}
