package ort

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"gonum.org/v1/gonum/stat"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// Timing holds the wall-clock durations of timed runs, in run order.
type Timing struct {
	Samples []time.Duration
}

// Time measures the model's latency on the given inputs: it runs warmup
// untimed runs and then runs timed ones, and returns the duration of each
// timed run.
//
// The onnxruntime input and output values are made once, before the first
// run, and reused by every run, so a sample covers onnxruntime's Run and
// nothing of this package's allocation or copying. The first run lets
// onnxruntime allocate the outputs (their shapes may depend on the inputs),
// so at least one untimed run always happens, even with warmup == 0.
func (s *Session) Time(inputs []Tensor, warmup, runs int) (Timing, error) {
	if runs < 1 || warmup < 0 {
		return Timing{}, fmt.Errorf("ort: timing needs runs >= 1 and warmup >= 0, got runs %d, warmup %d", runs, warmup)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.s == nil {
		return Timing{}, ErrClosed
	}
	if len(s.inputs) == 0 {
		return Timing{}, errors.New("ort: models without inputs are not supported")
	}
	in, err := s.inputValues(inputs)
	if err != nil {
		return Timing{}, err
	}
	defer destroyAll(in)
	out, err := s.runAllocating(in) // the first untimed run
	if err != nil {
		return Timing{}, err
	}
	defer destroyAll(out)
	for i := 1; i < warmup; i++ {
		if err := s.s.Run(in, out); err != nil {
			return Timing{}, wrap("warm-up run", err)
		}
	}
	samples := make([]time.Duration, runs)
	for i := range samples {
		start := time.Now()
		err := s.s.Run(in, out)
		samples[i] = time.Since(start)
		if err != nil {
			return Timing{}, wrap("timed run", err)
		}
	}
	return Timing{Samples: samples}, nil
}

// Percentile returns the p-th percentile (0 <= p <= 100) of the samples,
// interpolating linearly between the two nearest ranks (the definition numpy
// and most benchmark tools use, so numbers compare across tools). p outside
// [0, 100] is clamped; with no samples it returns 0.
func (t Timing) Percentile(p float64) time.Duration {
	n := len(t.Samples)
	if n == 0 {
		return 0
	}
	if math.IsNaN(p) {
		p = 50
	}
	p = min(max(p, 0), 100)
	sorted := slices.Clone(t.Samples)
	slices.Sort(sorted)
	h := p / 100 * float64(n-1)
	lo := int(math.Floor(h))
	hi := min(lo+1, n-1)
	frac := h - float64(lo)
	return sorted[lo] + time.Duration(math.Round(frac*float64(sorted[hi]-sorted[lo])))
}

// Median returns the 50th percentile.
func (t Timing) Median() time.Duration { return t.Percentile(50) }

// P10 returns the 10th percentile.
func (t Timing) P10() time.Duration { return t.Percentile(10) }

// P90 returns the 90th percentile.
func (t Timing) P90() time.Duration { return t.Percentile(90) }

// Min returns the fastest sample, or 0 with no samples.
func (t Timing) Min() time.Duration { return t.Percentile(0) }

// Mean returns the arithmetic mean of the samples, or 0 with no samples.
func (t Timing) Mean() time.Duration {
	if len(t.Samples) == 0 {
		return 0
	}
	return time.Duration(math.Round(stat.Mean(t.float64s(), nil)))
}

// StdDev returns the sample standard deviation, or 0 with fewer than two
// samples.
func (t Timing) StdDev() time.Duration {
	if len(t.Samples) < 2 {
		return 0
	}
	return time.Duration(math.Round(stat.StdDev(t.float64s(), nil)))
}

func (t Timing) float64s() []float64 {
	x := make([]float64, len(t.Samples))
	for i, d := range t.Samples {
		x[i] = float64(d)
	}
	return x
}

func (t Timing) String() string {
	return fmt.Sprintf("median %v (p10 %v, p90 %v, n=%d)", t.Median(), t.P10(), t.P90(), len(t.Samples))
}

// RandomInputs makes one tensor per input description, for timing or
// differential checks. A symbolic first dimension becomes batch; any other
// symbolic dimension is an error naming the input and the dimension.
//
// Float, double, float16 and bfloat16 inputs are filled with standard-normal
// values from a generator seeded by seed, so equal seeds give equal tensors.
// Other element types are filled with zeros, the one value valid for every
// use (indices, counts, masks).
func RandomInputs(infos []IOInfo, batch int64, seed int64) ([]Tensor, error) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6f6e6e782d616470)) // "onnx-adp"
	out := make([]Tensor, len(infos))
	for i, info := range infos {
		shape := cloneShape(info.Shape)
		for d, v := range shape {
			if v >= 0 {
				continue
			}
			if d != 0 {
				return nil, fmt.Errorf("ort: input %q: dimension %d is symbolic; only the first (batch) dimension may be", info.Name, d)
			}
			if batch < 1 {
				return nil, fmt.Errorf("ort: input %q: dimension 0 is symbolic and batch is %d; want >= 1", info.Name, batch)
			}
			shape[d] = batch
		}
		t, err := Zeros(info.DataType, shape)
		if err != nil {
			return nil, fmt.Errorf("ort: input %q: %s", info.Name, trimPrefix(err))
		}
		switch info.DataType {
		case Float:
			v := make([]float32, len(t.Data)/4)
			for j := range v {
				v[j] = float32(rng.NormFloat64())
			}
			copy(t.Data, toBytesView(v))
		case Double:
			v := make([]float64, len(t.Data)/8)
			for j := range v {
				v[j] = rng.NormFloat64()
			}
			copy(t.Data, toBytesView(v))
		case Float16, BFloat16:
			conv := onnxio.Float32ToFloat16
			if info.DataType == BFloat16 {
				conv = onnxio.Float32ToBFloat16
			}
			v := make([]uint16, len(t.Data)/2)
			for j := range v {
				v[j] = conv(float32(rng.NormFloat64()))
			}
			copy(t.Data, toBytesView(v))
		}
		out[i] = t
	}
	return out, nil
}
