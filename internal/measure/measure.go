package measure

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/onnx-adapt/onnx-adapt/internal/ort"
)

// Defaults of the protocol's fields left zero.
const (
	DefaultBlocks       = 20
	DefaultBlockTime    = 25 * time.Millisecond
	DefaultWarmup       = 100 * time.Millisecond
	DefaultMinBlockRuns = 5
	// MinWarmupRuns untimed runs are always made, however long they take.
	MinWarmupRuns = 5
	// maxBlockRuns bounds a block of a very fast model.
	maxBlockRuns = 2000
)

// Protocol says how whole models are timed (see the package doc).
type Protocol struct {
	// Runtime is the deployment's session options (threads, optimisation
	// level).
	Runtime ort.Options
	// Batch replaces a symbolic batch dimension (default 1).
	Batch int64
	// Blocks is the number of rounds (default 10); BlockTime the time each
	// block aims at (default 25 ms); MinBlockRuns the fewest runs in a
	// block (default 5).
	Blocks       int
	BlockTime    time.Duration
	MinBlockRuns int
	// Warmup is the untimed time each model runs before the first round
	// (default 100 ms, and at least MinWarmupRuns runs).
	Warmup time.Duration
	// Seed seeds the random inputs (ort.RandomInputs).
	Seed int64
}

// WithDefaults returns p with zero fields set to their defaults.
func (p Protocol) WithDefaults() Protocol {
	if p.Batch == 0 {
		p.Batch = 1
	}
	if p.Blocks == 0 {
		p.Blocks = DefaultBlocks
	}
	if p.BlockTime == 0 {
		p.BlockTime = DefaultBlockTime
	}
	if p.MinBlockRuns == 0 {
		p.MinBlockRuns = DefaultMinBlockRuns
	}
	if p.Warmup == 0 {
		p.Warmup = DefaultWarmup
	}
	return p
}

// Scaled returns p with k times the rounds: a longer measurement of the
// same kind, whose noise is about 1/√k as large.
func (p Protocol) Scaled(k int) Protocol {
	p = p.WithDefaults()
	p.Blocks *= max(k, 1)
	return p
}

func (p Protocol) validate() error {
	if p.Batch < 1 || p.Blocks < 1 || p.BlockTime < 0 || p.MinBlockRuns < 1 || p.Warmup < 0 {
		return fmt.Errorf("measure: bad protocol %+v", p)
	}
	return nil
}

// Latency is a model's measured latency.
type Latency struct {
	// MS is the median of the block figures; NoiseMS its standard error
	// (see the package doc).
	MS      float64 `json:"ms"`
	NoiseMS float64 `json:"noise_ms"`
	// BlocksMS are the block figures (medians of their runs), in round
	// order.
	BlocksMS []float64 `json:"blocks_ms"`
	// P10MS and P90MS are percentiles of every timed run.
	P10MS float64 `json:"p10_ms"`
	P90MS float64 `json:"p90_ms"`
	// Runs is the number of timed runs, BlockRuns of them per block.
	Runs      int `json:"runs"`
	BlockRuns int `json:"block_runs"`
}

// String formats l as "0.382 ± 0.004 ms".
func (l Latency) String() string {
	return fmt.Sprintf("%.4g ± %.2g ms", l.MS, l.NoiseMS)
}

// RelNoise is NoiseMS relative to MS.
func (l Latency) RelNoise() float64 {
	if l.MS <= 0 {
		return 0
	}
	return l.NoiseMS / l.MS
}

// Model times one serialized model with protocol p.
func Model(model []byte, p Protocol) (Latency, error) {
	ls, err := Models([][]byte{model}, p)
	if err != nil {
		return Latency{}, err
	}
	return ls[0], nil
}

// Models times serialized models together, their blocks interleaved round
// by round (see the package doc), and returns their latencies in order.
func Models(models [][]byte, p Protocol) ([]Latency, error) {
	if len(models) == 0 {
		return nil, errors.New("measure: no model to time")
	}
	p = p.WithDefaults()
	if err := p.validate(); err != nil {
		return nil, err
	}
	sess := make([]*ort.Session, 0, len(models))
	defer func() {
		for _, s := range sess {
			s.Close()
		}
	}()
	inputs := make([][]ort.Tensor, len(models))
	for i, m := range models {
		s, err := ort.NewSession(m, p.Runtime)
		if err != nil {
			return nil, fmt.Errorf("measure: model %d: %w", i, err)
		}
		sess = append(sess, s)
		if inputs[i], err = ort.RandomInputs(s.Inputs(), p.Batch, p.Seed); err != nil {
			return nil, fmt.Errorf("measure: model %d: %w", i, err)
		}
	}
	// A garbage collection now, rather than one running on the other core
	// during the rounds: a search measures right after training, with a
	// heap of hundreds of megabytes to mark.
	runtime.GC()
	// Warm-up, which also sizes each model's blocks.
	blockRuns := make([]int, len(models))
	for i, s := range sess {
		per, err := warmup(s, inputs[i], p.Warmup)
		if err != nil {
			return nil, fmt.Errorf("measure: model %d: %w", i, err)
		}
		blockRuns[i] = runsFor(p, per)
	}
	samples := make([][]time.Duration, len(models))
	blocks := make([][]float64, len(models))
	for r := range p.Blocks {
		for j := range sess {
			i := (j + r) % len(sess) // rotate the order from round to round
			t, err := sess[i].Time(inputs[i], 0, blockRuns[i])
			if err != nil {
				return nil, fmt.Errorf("measure: model %d: %w", i, err)
			}
			samples[i] = append(samples[i], t.Samples...)
			blocks[i] = append(blocks[i], ms(t.Median()))
		}
	}
	out := make([]Latency, len(models))
	for i := range out {
		all := ort.Timing{Samples: samples[i]}
		out[i] = summarize(blocks[i])
		out[i].P10MS, out[i].P90MS = ms(all.P10()), ms(all.P90())
		out[i].Runs, out[i].BlockRuns = len(samples[i]), blockRuns[i]
	}
	return out, nil
}

// warmup runs s untimed for at least d and MinWarmupRuns runs, and returns
// the median duration of a run.
func warmup(s *ort.Session, in []ort.Tensor, d time.Duration) (time.Duration, error) {
	var all ort.Timing
	start := time.Now()
	for n := MinWarmupRuns; ; n *= 2 {
		t, err := s.Time(in, 0, n)
		if err != nil {
			return 0, err
		}
		all.Samples = append(all.Samples, t.Samples...)
		if time.Since(start) >= d || len(all.Samples) >= 4*maxBlockRuns {
			break
		}
	}
	return all.Median(), nil
}

// runsFor returns the runs per block for a model whose runs take per.
func runsFor(p Protocol, per time.Duration) int {
	per = max(per, time.Microsecond)
	n := int(math.Ceil(float64(p.BlockTime) / float64(per)))
	return min(max(n, p.MinBlockRuns), maxBlockRuns)
}

// summarize returns the median of xs and its noise (see noiseOf).
func summarize(xs []float64) Latency {
	l := Latency{BlocksMS: slices.Clone(xs)}
	l.MS, l.NoiseMS = noiseOf(xs)
	return l
}

// Batches is the number of batches of consecutive rounds whose spread
// gives the batch-means standard error (see noiseOf).
const Batches = 5

// noiseOf returns the median of xs, figures in round order, and its
// standard error: the larger of the two StandardErrors. The blocks' alone
// takes the figures as independent, but a shared machine drifts over
// seconds (BENCHMARKS.md, "How far a figure moves"), so neighbouring
// rounds are alike and that estimate is too small; the batches' sees drift
// slower than a round but faster than a batch (batch means, the usual
// remedy for a correlated series).
func noiseOf(xs []float64) (float64, float64) {
	blocks, batches := StandardErrors(xs)
	return Median(xs), max(blocks, batches)
}

// StandardErrors returns two estimates of the standard error of the median
// of xs, figures in round order: medianSE over the figures, and medianSE
// over the medians of Batches batches of consecutive figures (the first
// again when there are fewer than 2·Batches figures).
func StandardErrors(xs []float64) (blocks, batches float64) {
	_, blocks = medianSE(xs)
	n := len(xs)
	if n < 2*Batches {
		return blocks, blocks
	}
	meds := make([]float64, Batches)
	for b := range meds {
		meds[b] = Median(xs[b*n/Batches : (b+1)*n/Batches])
	}
	_, batches = medianSE(meds)
	return blocks, batches
}

// Median returns the median of xs: the middle value, or the mean of the
// middle two for an even count (xs is left as it is; 0 for none). Not
// gonum's stat.Quantile(0.5, stat.LinInterp, ...), which interpolates the
// empirical distribution: for {1, 4, 6} it gives 2.5, and for an even
// count the lower middle value.
func Median(xs []float64) float64 {
	n := len(xs)
	if n == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// medianSE returns the median of xs and its standard error
// 1.2533·σ̂/√n, with σ̂ = 1.4826·MAD. With one value the error is 0.
func medianSE(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	med := Median(xs)
	dev := make([]float64, len(xs))
	for i, x := range xs {
		dev[i] = math.Abs(x - med)
	}
	return med, 1.2533 * 1.4826 * Median(dev) / math.Sqrt(float64(len(xs)))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// RatioFloor is the part of a ratio's noise that no single measurement can
// see, relative to the ratio. Measured again a minute later, or in another
// process, the same two models read ratios that spread by more than each
// measurement's own standard error explains: beyond it, by about 2% of the
// ratio on the project's 2-core machines on a quiet afternoon and 4% on a
// disturbed evening (BENCHMARKS.md, "How far a figure moves"). The host's
// state changes how a small model slows against a large one, and a
// measurement lasting seconds sees one state. RatioOf adds RatioFloor
// times the ratio to every ratio's noise, in quadrature.
const RatioFloor = 0.03

// Ratio is how a model's latency compares with another's measured in the
// same rounds: the median of the round-by-round ratios of their block
// figures, and its noise: the standard error of that median (noiseOf) and
// RatioFloor times the ratio, added in quadrature.
type Ratio struct {
	Value float64 `json:"value"`
	Noise float64 `json:"noise"`
}

// RatioOf returns a's latency relative to b's; a and b must come from the
// same call of Models. Its noise adds RatioFloor times the ratio.
func RatioOf(a, b Latency) (Ratio, error) {
	return RatioWithin(a, b, Floor{})
}

// RatioWithin is RatioOf with the floor that a measurement of the noise
// between processes gives (Floor.At; the zero Floor gives RatioFloor).
func RatioWithin(a, b Latency, f Floor) (Ratio, error) {
	if len(a.BlocksMS) != len(b.BlocksMS) || len(a.BlocksMS) == 0 {
		return Ratio{}, fmt.Errorf("measure: ratio of latencies with %d and %d blocks: measure them together", len(a.BlocksMS), len(b.BlocksMS))
	}
	rs := make([]float64, len(a.BlocksMS))
	for i := range rs {
		if b.BlocksMS[i] <= 0 {
			return Ratio{}, errors.New("measure: a block figure is zero")
		}
		rs[i] = a.BlocksMS[i] / b.BlocksMS[i]
	}
	v, n := noiseOf(rs)
	return Ratio{Value: v, Noise: math.Hypot(n, f.At(v))}, nil
}

// Sure is the confidence a verdict needs to be clear: the limit is then at
// least 1.645 noise figures (one-sided 95%) away from the measurement.
const Sure = 0.95

// Verdict compares a measurement with a limit.
type Verdict struct {
	// Value and Noise are the measurement and its standard error, Limit
	// the bound it must not exceed, all in one unit (ms, or a fraction
	// of a source's latency).
	Value float64 `json:"value"`
	Noise float64 `json:"noise"`
	Limit float64 `json:"limit"`
	// Confidence is the probability that the true value is within the
	// limit, from a normal model of the noise: Φ((Limit−Value)/Noise).
	Confidence float64 `json:"confidence"`
}

// Judge returns the verdict of value ± noise against limit.
func Judge(value, noise, limit float64) Verdict {
	v := Verdict{Value: value, Noise: noise, Limit: limit}
	switch {
	case noise > 0:
		v.Confidence = distuv.UnitNormal.CDF((limit - value) / noise)
	case value <= limit:
		v.Confidence = 1
	}
	return v
}

// PoolVerdicts judges two independent measurements of one figure (each
// pooled over its own processes) together against b's limit: their
// inverse-variance mean, whose noise is below either's. Without both noise
// figures there is nothing to weigh, and it returns b.
func PoolVerdicts(a, b Verdict) Verdict {
	if !(a.Noise > 0 && b.Noise > 0) {
		return b
	}
	wa, wb := 1/(a.Noise*a.Noise), 1/(b.Noise*b.Noise)
	return Judge((wa*a.Value+wb*b.Value)/(wa+wb), 1/math.Sqrt(wa+wb), b.Limit)
}

// Met reports whether the limit is met with confidence Sure.
func (v Verdict) Met() bool { return v.Confidence >= Sure }

// Missed reports whether the limit is missed with confidence Sure.
func (v Verdict) Missed() bool { return v.Confidence <= 1-Sure }

// WithinNoise reports whether the limit lies within the noise: neither met
// nor missed with confidence Sure.
func (v Verdict) WithinNoise() bool { return !v.Met() && !v.Missed() }

// String says what the verdict is and how sure it is.
func (v Verdict) String() string {
	switch {
	case v.Met():
		return fmt.Sprintf("met (%.1f%% sure)", 100*v.Confidence)
	case v.Missed():
		return fmt.Sprintf("missed (%.1f%% sure)", 100*(1-v.Confidence))
	}
	return fmt.Sprintf("within the measurement noise (%.0f%% chance it is met)", 100*v.Confidence)
}
