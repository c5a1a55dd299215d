package ort

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTime(t *testing.T) {
	wt := make([]float32, 4*3*3*3)
	for i := range wt {
		wt[i] = float32(i%7) - 3
	}
	s := mustSession(t, convModel(t, 3, 16, 16, 4, 3, 1, 1, "N", wt, make([]float32, 4)), Options{IntraOpThreads: 1})
	in, err := RandomInputs(s.Inputs(), 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, warmup := range []int{0, 3} {
		const runs = 9
		tm, err := s.Time(in, warmup, runs)
		if err != nil {
			t.Fatal(err)
		}
		if len(tm.Samples) != runs {
			t.Fatalf("warmup %d: %d samples, want %d", warmup, len(tm.Samples), runs)
		}
		for i, d := range tm.Samples {
			if d <= 0 {
				t.Errorf("sample %d = %v, want > 0", i, d)
			}
		}
		if !(tm.Min() <= tm.P10() && tm.P10() <= tm.Median() && tm.Median() <= tm.P90()) {
			t.Errorf("percentiles out of order: min %v p10 %v median %v p90 %v", tm.Min(), tm.P10(), tm.Median(), tm.P90())
		}
	}
	// Time must leave the session usable, with the same results as before.
	want, err := s.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Time(in, 1, 2); err != nil {
		t.Fatal(err)
	}
	again, err := s.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(want[0].Data, again[0].Data) {
		t.Error("Run after Time gives different output")
	}
}

func TestTimeErrors(t *testing.T) {
	s := mustSession(t, addModel(t), Options{})
	a := mustF32(t, []int64{2, 3}, make([]float32, 6))
	for _, c := range [][2]int{{0, 0}, {1, 0}, {-1, 3}} {
		if _, err := s.Time([]Tensor{a, a}, c[0], c[1]); err == nil {
			t.Errorf("Time(warmup %d, runs %d) succeeded", c[0], c[1])
		}
	}
	if _, err := s.Time([]Tensor{a}, 1, 1); err == nil || !strings.Contains(err.Error(), "2 inputs") {
		t.Errorf("Time with one input: %v", err)
	}
}

func TestTimingStats(t *testing.T) {
	ms := time.Millisecond
	// Deliberately unsorted: the methods must not depend on sample order.
	tm := Timing{Samples: []time.Duration{5 * ms, 1 * ms, 4 * ms, 2 * ms, 3 * ms}}
	orig := slices.Clone(tm.Samples)
	tests := []struct {
		name string
		got  time.Duration
		want time.Duration
	}{
		{"median", tm.Median(), 3 * ms},
		{"p10", tm.P10(), 1400 * time.Microsecond}, // numpy: percentile([1..5], 10) = 1.4
		{"p90", tm.P90(), 4600 * time.Microsecond},
		{"p25", tm.Percentile(25), 2 * ms},
		{"p0", tm.Percentile(0), 1 * ms},
		{"p100", tm.Percentile(100), 5 * ms},
		{"clamped low", tm.Percentile(-5), 1 * ms},
		{"clamped high", tm.Percentile(150), 5 * ms},
		{"min", tm.Min(), 1 * ms},
		{"mean", tm.Mean(), 3 * ms},
		{"stddev", tm.StdDev(), time.Duration(math.Round(math.Sqrt(2.5) * float64(ms)))},
		{"even median", Timing{Samples: []time.Duration{4, 1, 2, 3}}.Median(), 3}, // 2.5ns rounds half away
		{"one sample", Timing{Samples: []time.Duration{7}}.P90(), 7},
		{"empty", Timing{}.Median(), 0},
		{"empty mean", Timing{}.Mean(), 0},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if !slices.Equal(tm.Samples, orig) {
		t.Error("statistics reordered Samples")
	}
}

func TestRandomInputs(t *testing.T) {
	infos := []IOInfo{
		{Name: "x", DataType: Float, Shape: []int64{-1, 3, 2}},
		{Name: "ids", DataType: Int64, Shape: []int64{-1, 4}},
		{Name: "h", DataType: Float16, Shape: []int64{5}},
		{Name: "d", DataType: Double, Shape: []int64{2}},
	}
	a, err := RandomInputs(infos, 4, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := RandomInputs(infos, 4, 7)
	c, _ := RandomInputs(infos, 4, 8)
	wantShapes := [][]int64{{4, 3, 2}, {4, 4}, {5}, {2}}
	for i := range infos {
		if err := a[i].Validate(); err != nil {
			t.Fatal(err)
		}
		if a[i].DataType != infos[i].DataType || !slices.Equal(a[i].Shape, wantShapes[i]) {
			t.Errorf("input %d: %v, want %s%v", i, a[i], DataTypeName(infos[i].DataType), wantShapes[i])
		}
		if !slices.Equal(a[i].Data, b[i].Data) {
			t.Errorf("input %d: same seed, different data", i)
		}
	}
	for _, i := range []int{0, 2, 3} {
		if slices.Equal(a[i].Data, c[i].Data) {
			t.Errorf("input %d: different seeds, same data", i)
		}
	}
	x, _ := a[0].Float32()
	distinct := map[float32]bool{}
	for _, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || math.Abs(float64(v)) > 10 {
			t.Errorf("implausible standard-normal sample %v", v)
		}
		distinct[v] = true
	}
	if len(distinct) < len(x)-1 {
		t.Errorf("random floats are not random: %v", x)
	}
	if ids, _ := Values[int64](a[1]); slices.ContainsFunc(ids, func(v int64) bool { return v != 0 }) {
		t.Errorf("integer input not zero-filled: %v", ids)
	}

	// Symbolic dims other than the first are errors naming input and dim.
	_, err = RandomInputs([]IOInfo{{Name: "img", DataType: Float, Shape: []int64{-1, 3, -1, 8}}}, 1, 1)
	if err == nil || !strings.Contains(err.Error(), `"img"`) || !strings.Contains(err.Error(), "dimension 2") {
		t.Errorf("RandomInputs with symbolic H: %v, want an error naming img and dimension 2", err)
	}
	_, err = RandomInputs([]IOInfo{{Name: "x", DataType: Float, Shape: []int64{-1}}}, 0, 1)
	if err == nil || !strings.Contains(err.Error(), "batch") {
		t.Errorf("RandomInputs with batch 0: %v", err)
	}
	_, err = RandomInputs([]IOInfo{{Name: "s", DataType: String, Shape: []int64{1}}}, 1, 1)
	if err == nil || !strings.Contains(err.Error(), `"s"`) {
		t.Errorf("RandomInputs with a string input: %v", err)
	}
}

func BenchmarkRun(b *testing.B) {
	// A 3×3 conv, 16 -> 16 channels on 32×32, batch 1: a typical LUT entry.
	const c, hw, m, k = 16, 32, 16, 3
	wt := make([]float32, m*c*k*k)
	for i := range wt {
		wt[i] = float32(i%5) * 0.01
	}
	s, err := NewSession(convModel(b, c, hw, hw, m, k, 1, 1, 1, wt, make([]float32, m)), Options{IntraOpThreads: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	in, err := RandomInputs(s.Inputs(), 1, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Run(in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTime reports Time's median per run for the same model, to compare
// with BenchmarkRun's ns/op: the difference is Run's allocation and copying.
func BenchmarkTime(b *testing.B) {
	const c, hw, m, k = 16, 32, 16, 3
	wt := make([]float32, m*c*k*k)
	s, err := NewSession(convModel(b, c, hw, hw, m, k, 1, 1, 1, wt, make([]float32, m)), Options{IntraOpThreads: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	in, _ := RandomInputs(s.Inputs(), 1, 1)
	var med time.Duration
	for b.Loop() {
		tm, err := s.Time(in, 2, 20)
		if err != nil {
			b.Fatal(err)
		}
		med = tm.Median()
	}
	b.ReportMetric(float64(med.Nanoseconds()), "median-ns/run")
}
