package search

import (
	"errors"
	"fmt"
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

// TestPathRatio: the decision ratio pools the latest pathPoints
// measurements along the path, ignores the source and its calibration
// variants, and does not follow one wild reading.
func TestPathRatio(t *testing.T) {
	c := &calibrator{srcMS: 2}
	add := func(label string, raw, measured float64) {
		t.Helper()
		if err := c.add(label, raw, measured/c.srcMS); err != nil {
			t.Fatal(err)
		}
	}
	add(sourceLabel, 1, 2)                    // gap 2
	add(sourceLabel+" variant 0", 0.5, 0.5)   // gap 1: not on the path
	add(sourceLabel+" variant 1", 0.25, 0.25) // gap 1
	if got := c.pathRatio(0.8); got != 0 {
		t.Errorf("before any measurement on the path: %v, want 0", got)
	}
	add("iter_001", 0.9, 1.62) // gap 1.8
	if got, want := c.pathRatio(0.9), 0.9*1.8/2; math.Abs(got-want) > 1e-12 {
		t.Errorf("one point: %v, want %v", got, want)
	}
	for i, gap := range []float64{1.7, 5.0, 1.75} { // a wild second reading
		add(fmt.Sprintf("iter_%03d", i+2), 0.8, 0.8*gap)
	}
	// The latest three: 1.7, 5.0, 1.75; iter_001's 1.8 has left.
	if got, want := c.pathRatio(0.5), 0.5*1.75/2; math.Abs(got-want) > 1e-12 {
		t.Errorf("after a wild reading: %v, want %v (median gap 1.75)", got, want)
	}
	// A real change, seen twice (a check and the next iteration), moves it.
	add("check_004", 0.8, 0.8*2.1)
	add("iter_005", 0.8, 0.8*2.0)
	if got, want := c.pathRatio(0.5), 0.5*2.0/2; math.Abs(got-want) > 1e-12 {
		t.Errorf("after a change: %v, want %v (median of 1.75, 2.1, 2.0)", got, want)
	}
}

// TestLastStep: the schedule's step, or the distance to the aim when that
// is nearer; for latency no less than half the margin of now (within the
// schedule's step), for MACs and parameters exactly the distance.
func TestLastStep(t *testing.T) {
	for _, c := range []struct {
		name                    string
		r                       Resource
		sched, now, aim, margin float64
		want                    float64
	}{
		{"schedule nearer than the aim", Latency, 0.05, 1, 0.5, 0.08, 0.05},
		{"aim nearer: at least half the margin", Latency, 0.1, 1, 0.99, 0.08, 0.04},
		{"aim nearer than the schedule, beyond half the margin", Latency, 0.1, 1, 0.93, 0.08, 0.07},
		{"half the margin capped by the schedule", Latency, 0.03, 1, 0.99, 0.08, 0.03},
		{"MACs: exactly to the target", MACs, 1e6, 5e6, 4.9e6, 0.08, 1e5},
	} {
		if got := lastStep(c.r, c.sched, c.now, c.aim, c.margin); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: lastStep = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestStartStep: an iteration starts at the schedule's step, or at the
// previous iteration's step on the same resource when that one had to
// shrink.
func TestStartStep(t *testing.T) {
	s := &searcher{opts: Options{Schedule: Schedule{First: 0.1, Decay: 0.9}}, res: &Result{}}
	sched := s.opts.Schedule.reduction(3, 1, 0.5)
	shrunk := []Step{{Reduction: 0.08, Rejected: "only 1 of 9 groups can meet the budget"}}
	for _, c := range []struct {
		name string
		prev []Iteration
		want float64
	}{
		{"first iteration", nil, sched},
		{"previous took the schedule's step", []Iteration{{Resource: "latency", Reduction: 0.01}}, sched},
		{"previous shrank", []Iteration{{Resource: "latency", Reduction: 0.01, Shrunk: shrunk}}, 0.01},
		{"previous shrank on another resource", []Iteration{{Resource: "MACs", Reduction: 0.01, Shrunk: shrunk}}, sched},
		{"previous shrank to more than the schedule", []Iteration{{Resource: "latency", Reduction: 1, Shrunk: shrunk}}, sched},
	} {
		s.res.Iterations = c.prev
		if got := s.startStep(3, Latency, 1, 0.5); got != c.want {
			t.Errorf("%s: startStep = %v, want %v", c.name, got, c.want)
		}
	}
}
