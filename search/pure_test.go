package search

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/measure"
)

// The pure parts of the search: schedule, grid, bisection, budgets, the
// accuracy guard and the stop test.

func TestScheduleReduction(t *testing.T) {
	for _, c := range []struct {
		name      string
		s         Schedule
		i         int
		r0, tgt   float64
		want, tol float64
	}{
		{"first fraction", Schedule{First: 0.1, Decay: 0.9}, 1, 200, 100, 20, 1e-12},
		{"decays", Schedule{First: 0.1, Decay: 0.9}, 3, 200, 100, 20 * 0.81, 1e-12},
		{"constant", Schedule{First: 0.05, Decay: 1}, 7, 100, 10, 5, 1e-12},
		// First = 0 spreads the gap over the iterations: Σ first·dᵏ = gap.
		{"spread, d=1", Schedule{Decay: 1, Iterations: 4}, 2, 10, 6, 1, 1e-12},
		{"spread, d=0.5", Schedule{Decay: 0.5, Iterations: 3}, 1, 10, 3, 4, 1e-12},
		{"spread, d=0.5, i=3", Schedule{Decay: 0.5, Iterations: 3}, 3, 10, 3, 1, 1e-12},
	} {
		if got := c.s.reduction(c.i, c.r0, c.tgt); math.Abs(got-c.want) > c.tol {
			t.Errorf("%s: reduction(%d) = %v, want %v", c.name, c.i, got, c.want)
		}
	}
	// The spread schedule's reductions add up to the gap.
	s := Schedule{Decay: 0.9, Iterations: 10}
	sum := 0.0
	for i := 1; i <= 10; i++ {
		sum += s.reduction(i, 1, 0.4)
	}
	if math.Abs(sum-0.6) > 1e-12 {
		t.Errorf("spread reductions add up to %v, want 0.6", sum)
	}
}

func TestKeepChoices(t *testing.T) {
	for _, c := range []struct {
		n, roundTo int
		want       []int
	}{
		{32, 8, []int{8, 16, 24}},
		{33, 8, []int{8, 16, 24, 32}},
		{8, 8, nil},
		{5, 1, []int{1, 2, 3, 4}},
	} {
		if got := keepChoices(c.n, c.roundTo); !slices.Equal(got, c.want) {
			t.Errorf("keepChoices(%d, %d) = %v, want %v", c.n, c.roundTo, got, c.want)
		}
	}
}

func TestBisect(t *testing.T) {
	for n := 0; n <= 9; n++ {
		for last := -1; last < n; last++ {
			calls := 0
			got, err := bisect(n, func(i int) (bool, error) {
				calls++
				if i < 0 || i >= n {
					t.Fatalf("n=%d: ok(%d) called", n, i)
				}
				return i <= last, nil
			})
			if err != nil || got != last {
				t.Errorf("n=%d, ok up to %d: bisect = %d, %v", n, last, got, err)
			}
			if limit := 2 + int(math.Ceil(math.Log2(float64(n+1)))); calls > limit {
				t.Errorf("n=%d: %d calls, want at most %d", n, calls, limit)
			}
		}
	}
	boom := errors.New("boom")
	if _, err := bisect(4, func(int) (bool, error) { return true, boom }); !errors.Is(err, boom) {
		t.Errorf("error %v, want boom", err)
	}
}

func TestBudgetOf(t *testing.T) {
	// A candidate priced at exactly now − delta meets the budget despite
	// rounding, and one a hair above it does not.
	now, delta := 0.3, 0.1
	if b := budgetOf(now, delta); now-delta > b || b > now-delta+1e-6 {
		t.Errorf("budgetOf(%v, %v) = %v", now, delta, b)
	}
}

func TestMaxDrop(t *testing.T) {
	acc := func(top1 float64, n int) *finetune.Accuracy { return &finetune.Accuracy{Top1: top1, N: n} }
	for _, c := range []struct {
		name string
		opt  float64
		held *finetune.Accuracy
		want float64
	}{
		{"given", 0.7, acc(0.9, 2000), 0.7},
		{"off", -1, acc(0.9, 2000), math.Inf(1)},
		{"3 SE of 92% on 2000", 0, acc(0.92, 2000), 300 * math.Sqrt(0.92*0.08/2000)},
		{"3 SE of 90% on 2000, capped", 0, acc(0.9, 2000), 2},
		{"3 SE of 80% on 300, capped", 0, acc(0.8, 300), 2},
		{"at least a point", 0, acc(0.999, 100000), 1},
		{"no held-out figure", 0, nil, 1},
	} {
		s := &searcher{opts: Options{MaxDrop: c.opt}}
		if got := s.maxDrop(&state{fig: Figures{HeldOut: c.held}}); math.Abs(got-c.want) > 1e-12 && got != c.want {
			t.Errorf("%s: maxDrop = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestStopTest: unmet aims Margin below a latency target and reads a
// fractional target as the measured ratio to the source; MACs and
// parameters are exact.
func TestStopTest(t *testing.T) {
	fig := Figures{MeasuredMS: 9.7, Ratio: 0.58, MACs: 100, Params: 50}
	for _, c := range []struct {
		name  string
		cons  Constraints
		unmet bool
		r     Resource
	}{
		{"latency with margin to spare", Constraints{LatencyMS: 10}, false, 0},
		{"latency inside the margin", Constraints{LatencyMS: 9.8}, true, Latency},
		{"fraction met", Constraints{LatencyFraction: 0.6}, false, 0},
		{"fraction inside the margin", Constraints{LatencyFraction: 0.59}, true, Latency},
		{"MACs exact", Constraints{MACs: 100}, false, 0},
		{"MACs over", Constraints{MACs: 99}, true, MACs},
		{"params over", Constraints{MACs: 100, Params: 49}, true, Params},
		{"latency before MACs", Constraints{LatencyMS: 5, MACs: 1}, true, Latency},
	} {
		s := &searcher{opts: Options{Constraints: c.cons, Margin: 0.02}}
		r, unmet := s.firstUnmet(fig)
		if unmet != c.unmet || unmet && r != c.r {
			t.Errorf("%s: unmet %v (%v), want %v (%v)", c.name, unmet, r, c.unmet, c.r)
		}
	}
}

// TestMetAtBest: a blocked search finishes its current model only when
// that model's last check was within the target.
func TestMetAtBest(t *testing.T) {
	check := func(after int, value float64) Check {
		return Check{After: after, Verdict: measure.Judge(value, 0.1, 1)}
	}
	for _, c := range []struct {
		name   string
		checks []Check
		iters  int
		want   bool
	}{
		{"no check", nil, 2, false},
		{"within", []Check{check(2, 0.95)}, 2, true},
		{"over", []Check{check(2, 1.05)}, 2, false},
		{"stale check", []Check{check(1, 0.95)}, 2, false},
	} {
		s := &searcher{opts: Options{Constraints: Constraints{LatencyMS: 1}},
			res: &Result{Checks: c.checks, Iterations: make([]Iteration, c.iters)}}
		if got := s.metAtBest(&state{}); got != c.want {
			t.Errorf("%s: metAtBest = %v, want %v", c.name, got, c.want)
		}
	}
}
