package measure_test

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onnx-adapt/onnx-adapt/internal/measure"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/models"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// TestMain: with MEASURE_TEST_SERVE=1 the test binary is a Child timer's
// process (TestChild).
func TestMain(m *testing.M) {
	if os.Getenv("MEASURE_TEST_SERVE") == "1" {
		if err := measure.Serve(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func encoded(t *testing.T, width float64) []byte {
	t.Helper()
	m, err := models.MobileNetV2(models.Config{Width: width, Resolution: 64, Classes: 10})
	if err != nil {
		t.Fatal(err)
	}
	b, err := onnxio.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fast() measure.Protocol {
	return measure.Protocol{Runtime: ort.Options{IntraOpThreads: 1}, Blocks: 6, BlockTime: 2 * time.Millisecond,
		MinBlockRuns: 3, Warmup: 5 * time.Millisecond}
}

// TestModels: every model gets Blocks blocks of equal size, its figure is
// the median of those blocks, and interleaved models stay apart (a model
// with 8× the MACs is slower, by a ratio that agrees with the medians).
func TestModels(t *testing.T) {
	data := [][]byte{encoded(t, 0.35), encoded(t, 1.4)}
	p := fast()
	ls, err := measure.Models(data, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 {
		t.Fatalf("%d latencies for 2 models", len(ls))
	}
	for i, l := range ls {
		if len(l.BlocksMS) != p.Blocks || l.BlockRuns < p.MinBlockRuns || l.Runs != p.Blocks*l.BlockRuns {
			t.Errorf("model %d: %d blocks of %d runs, %d runs in all", i, len(l.BlocksMS), l.BlockRuns, l.Runs)
		}
		lo, hi := math.Inf(1), 0.0
		for _, b := range l.BlocksMS {
			lo, hi = min(lo, b), max(hi, b)
		}
		if l.MS < lo || l.MS > hi || l.NoiseMS < 0 || l.NoiseMS > hi-lo+1e-12 {
			t.Errorf("model %d: %v outside its blocks [%v, %v]", i, l, lo, hi)
		}
	}
	if ls[0].MS >= ls[1].MS {
		t.Errorf("MobileNetV2 α=0.35 measured %v, α=1.4 %v", ls[0], ls[1])
	}
	r, err := measure.RatioOf(ls[1], ls[0])
	if err != nil {
		t.Fatal(err)
	}
	if r.Value <= 1 || math.Abs(r.Value-ls[1].MS/ls[0].MS) > 0.5*r.Value {
		t.Errorf("ratio %+v against medians %v / %v", r, ls[1].MS, ls[0].MS)
	}
	if _, err := measure.Models([][]byte{data[0], []byte("not onnx")}, p); err == nil {
		t.Error("a broken model was timed")
	}
	if _, err := measure.RatioOf(ls[0], measure.Latency{BlocksMS: []float64{1}}); err == nil {
		t.Error("a ratio of latencies measured apart was given")
	}
}

// TestScaled: a scaled protocol has k times the rounds.
func TestScaled(t *testing.T) {
	p := measure.Protocol{}.Scaled(3)
	if p.Blocks != 3*measure.DefaultBlocks || p.BlockTime != measure.DefaultBlockTime {
		t.Errorf("Scaled(3) = %+v", p)
	}
}

// TestJudge: a verdict is clear only when the limit is 1.645 noise figures
// away, and says so.
func TestJudge(t *testing.T) {
	for _, c := range []struct {
		value, noise, limit   float64
		met, missed, withinNz bool
	}{
		{1.0, 0.01, 1.1, true, false, false},
		{1.0, 0.01, 1.0165, true, false, false},
		{1.0, 0.01, 1.01, false, false, true},
		{1.0, 0.01, 1.0, false, false, true},
		{1.0, 0.01, 0.99, false, false, true},
		{1.0, 0.01, 0.98, false, true, false},
		{1.0, 0, 1.0, true, false, false},
		{1.0, 0, 0.999, false, true, false},
	} {
		v := measure.Judge(c.value, c.noise, c.limit)
		if v.Met() != c.met || v.Missed() != c.missed || v.WithinNoise() != c.withinNz {
			t.Errorf("Judge(%v ± %v vs %v) = %v (confidence %.3f)", c.value, c.noise, c.limit, v, v.Confidence)
		}
	}
}

// TestRatioFloor: a ratio's noise is never below RatioFloor times the
// ratio, however steady its rounds, and adds the rounds' own error to it.
func TestRatioFloor(t *testing.T) {
	a := make([]float64, 20)
	b := make([]float64, 20)
	for i := range a {
		a[i], b[i] = 0.5, 1
	}
	r, err := measure.RatioOf(measure.Latency{BlocksMS: a}, measure.Latency{BlocksMS: b})
	if err != nil {
		t.Fatal(err)
	}
	if r.Value != 0.5 || math.Abs(r.Noise-measure.RatioFloor*0.5) > 1e-12 {
		t.Errorf("steady rounds: ratio %+v, want 0.5 ± %v", r, measure.RatioFloor*0.5)
	}
	for i := range a {
		a[i] += 0.05 * float64(i%3-1) // spread in the rounds
	}
	r2, err := measure.RatioOf(measure.Latency{BlocksMS: a}, measure.Latency{BlocksMS: b})
	if err != nil {
		t.Fatal(err)
	}
	if r2.Noise <= r.Noise {
		t.Errorf("rounds spread ±10%%: noise %v, not above the floor's %v", r2.Noise, r.Noise)
	}
}

// TestChild: a Child timer measures in a process of its own with the same
// protocol (every model gets its blocks, a larger model is slower), and a
// model the process cannot time is an error that says why.
func TestChild(t *testing.T) {
	t.Setenv("MEASURE_TEST_SERVE", "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	timer := measure.Child(exe)
	data := [][]byte{encoded(t, 0.35), encoded(t, 1.4)}
	p := fast()
	ls, err := timer(data, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || len(ls[0].BlocksMS) != p.Blocks || len(ls[1].BlocksMS) != p.Blocks {
		t.Fatalf("child timed %d models: %+v", len(ls), ls)
	}
	r, err := measure.RatioOf(ls[1], ls[0])
	if err != nil {
		t.Fatal(err)
	}
	if r.Value <= 1 {
		t.Errorf("α=1.4 against α=0.35 in a child process: %+v", r)
	}
	_, err = timer([][]byte{data[0], []byte("not onnx")}, p)
	if err == nil || !strings.Contains(err.Error(), "model 1") {
		t.Errorf("a broken model in a child process: %v", err)
	}
	var out strings.Builder
	if err := measure.Serve(strings.NewReader(`{"models": 3`), &out); err == nil || !strings.Contains(err.Error(), "reading the request") || out.Len() > 0 {
		t.Errorf("a broken request: %v, wrote %q", err, out.String())
	}
}

// TestFloorOf: the floor is the pooled spread of each model's ratios about
// its own mean (a model's level does not count), with the χ² upper bound
// above it, and a ratio's noise uses it within [MinRatioFloor,
// RatioFloor] of the ratio.
func TestFloorOf(t *testing.T) {
	// Two models at 0.3 and 0.8, each ±0.01 between three processes:
	// deviations (−0.01, 0, +0.01) twice, SS = 4e-4 over 4 degrees.
	f, err := measure.FloorOf([][]float64{{0.29, 0.81}, {0.30, 0.80}, {0.31, 0.79}})
	if err != nil {
		t.Fatal(err)
	}
	if f.DF != 4 || f.Processes != 3 || f.Models != 2 || math.Abs(f.SD-0.01) > 1e-12 {
		t.Fatalf("FloorOf = %+v, want SD 0.01 over 4 degrees of freedom", f)
	}
	// χ²(4)'s 20% quantile is 1.6488: the bound is 0.01·√(4/1.6488).
	if want := 0.01 * math.Sqrt(4/1.6487766); math.Abs(f.Upper-want) > 1e-5 {
		t.Errorf("upper bound %v, want %v", f.Upper, want)
	}
	for _, c := range []struct{ v, want float64 }{
		{0.75, f.Upper},                 // 1.56% of the source: within the bounds at 0.75
		{0.2, measure.RatioFloor * 0.2}, // more than 3% of 0.2
		{3, measure.MinRatioFloor * 3},  // less than 1% of 3
	} {
		if got := f.At(c.v); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("At(%v) = %v, want %v", c.v, got, c.want)
		}
		// A ratio pooled over 4 processes has half the floor, clamps included.
		if got := f.Over(4).At(c.v); math.Abs(got-c.want/2) > 1e-12 {
			t.Errorf("Over(4).At(%v) = %v, want %v", c.v, got, c.want/2)
		}
	}
	if f.Over(4).Upper != f.Upper || f.Over(1).At(0.75) != f.At(0.75) {
		t.Errorf("Over changes the measured floor %+v or pools one process", f.Over(4))
	}
	if got := (measure.Floor{}).At(0.5); got != measure.RatioFloor*0.5 {
		t.Errorf("the zero Floor at 0.5 = %v, want RatioFloor's %v", got, measure.RatioFloor*0.5)
	}
	if got := (measure.Floor{}).Over(9).At(0.5); math.Abs(got-measure.RatioFloor*0.5/3) > 1e-12 {
		t.Errorf("the zero Floor over 9 processes at 0.5 = %v, want a third of RatioFloor's", got)
	}
	steady := make([]float64, 20)
	half := make([]float64, 20)
	for i := range steady {
		steady[i], half[i] = 1, 0.75
	}
	r, err := measure.RatioWithin(measure.Latency{BlocksMS: half}, measure.Latency{BlocksMS: steady}, f)
	if err != nil || r.Value != 0.75 || math.Abs(r.Noise-f.Upper) > 1e-12 {
		t.Errorf("RatioWithin steady rounds = %+v, %v; want 0.75 ± the floor %v", r, err, f.Upper)
	}
	for _, bad := range [][][]float64{nil, {{0.5}}, {{}, {}}, {{0.5, 0.6}, {0.5}}} {
		if _, err := measure.FloorOf(bad); err == nil {
			t.Errorf("FloorOf(%v): no error", bad)
		}
	}
}

// TestMedian: the middle value, the mean of the middle two for an even
// count, whatever the order; the input is left as it is.
func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{7}, 7},
		{[]float64{6, 1, 4}, 4}, // gonum's LinInterp quantile gives 2.5
		{[]float64{4, 1}, 2.5},
		{[]float64{5, 1, 3, 2}, 2.5}, // LinInterp: 2, the lower middle
		{[]float64{0.3, 0.1, 0.2, 0.1, 0.5}, 0.2},
	} {
		in := slices.Clone(tc.xs)
		if got := measure.Median(in); got != tc.want || !slices.Equal(in, tc.xs) {
			t.Errorf("Median(%v) = %v (input now %v), want %v", tc.xs, got, in, tc.want)
		}
	}
}

// TestPool: pooled latencies keep every block in order, so that ratios of
// pooled figures are still taken round by round (the median of an even
// count is the mean of the middle two).
func TestPool(t *testing.T) {
	a := measure.Latency{BlocksMS: []float64{1, 2, 3}, P10MS: 1, P90MS: 3, Runs: 15, BlockRuns: 5}
	b := measure.Latency{BlocksMS: []float64{4, 5}, P10MS: 4, P90MS: 5, Runs: 10, BlockRuns: 5}
	c := measure.Latency{BlocksMS: []float64{6}, P10MS: 6, P90MS: 6, Runs: 5, BlockRuns: 5}
	p := measure.Pool([]measure.Latency{a, b, c})
	if !slices.Equal(p.BlocksMS, []float64{1, 2, 3, 4, 5, 6}) || p.MS != 3.5 || p.Runs != 30 || p.P10MS != 11.0/3 || p.P90MS != 14.0/3 || p.NoiseMS <= 0 {
		t.Errorf("Pool = %#v", p)
	}
}

// TestPoolVerdicts: two measurements of one architecture are judged on
// their inverse-variance mean, whose noise is below either's.
func TestPoolVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name        string
		a, b        measure.Verdict
		value, nois float64
	}{
		// The busy quickstart of BENCHMARKS.md: met at 96.7%, then
		// 0.606 alone; pooled, within the target.
		{"contradicting", measure.Judge(0.5785, 0.0117, 0.6), measure.Judge(0.6056, 0.0116, 0.6), 0.59217, 0.008238},
		{"equal", measure.Judge(0.5, 0.01, 0.6), measure.Judge(0.5, 0.01, 0.6), 0.5, 0.01 / math.Sqrt2},
		// The quieter measurement weighs four times the other.
		{"weighted", measure.Judge(0.5, 0.01, 0.6), measure.Judge(0.6, 0.02, 0.6), 0.52, 0.01 / math.Sqrt(1.25)},
		// Without a noise figure there is nothing to weigh: the final one.
		{"noiseless", measure.Judge(0.5, 0, 0.6), measure.Judge(0.55, 0.01, 0.6), 0.55, 0.01},
	} {
		got := measure.PoolVerdicts(tc.a, tc.b)
		if math.Abs(got.Value-tc.value) > 1e-4 || math.Abs(got.Noise-tc.nois) > 1e-5 || got.Limit != tc.b.Limit {
			t.Errorf("%s: pooled %+v, want %.5f ± %.6f against %v", tc.name, got, tc.value, tc.nois, tc.b.Limit)
		}
		if want := measure.Judge(got.Value, got.Noise, got.Limit); got != want {
			t.Errorf("%s: confidence %v, want %v", tc.name, got.Confidence, want.Confidence)
		}
	}
}
