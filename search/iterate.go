package search

import (
	"cmp"
	"fmt"
	"math"
	"path/filepath"
	"slices"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/lut"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

// How an iteration shrinks its step and guards accuracy.
const (
	// minFeasible: a step that fewer groups than this can meet offers no
	// choice, and is shrunk (unless the model has fewer groups).
	minFeasible = 2
	// pairGroups: when no single group gives an acceptable candidate at
	// the smallest step, pairs of the pairGroups best groups are tried.
	pairGroups = 4
	// maxDropSE, minMaxDrop and capMaxDrop define the default MaxDrop
	// (see maxDrop).
	maxDropSE  = 3
	minMaxDrop = 1.0
	capMaxDrop = 2.0
)

// iterate runs NetAdapt iteration i on cur for resource r (lines 4–9 of
// Algorithm 1). It sets the budget Conᵢ = Resᵢ − ΔRᵢ (on the calibrated
// estimate, for latency), proposes for every group the largest cut that
// meets it (ChooseNumFilters), applies and short-term fine-tunes each
// (ChooseWhichFilters: the plan's ranking; ShortTermFineTune), and keeps
// the most accurate (PickHighestAccuracy).
//
// It never forces a step. A step that fewer than two groups can meet, or
// whose every candidate loses more than maxDrop points of held-out top-1
// against cur, is rejected and the reduction halved, down to the smallest
// reduction that one grid step of one group gives. When even that step
// gives no acceptable candidate, pairs of groups are tried, each cutting
// part of a step (the smallest rejected step at which a pair is more than
// a single cut). When nothing is acceptable, it returns next == nil and
// the iteration's rejected steps say why.
func (s *searcher) iterate(i int, cur *state, r Resource) (it *Iteration, next *state, err error) {
	an, err := surgery.Analyze(cur.model.Graph)
	if err != nil {
		return nil, nil, err
	}
	groups := an.Prunable()
	now, err := s.resource(cur, r)
	if err != nil {
		return nil, nil, err
	}
	src, err := s.resource(s.src, r)
	if err != nil {
		return nil, nil, err
	}
	aim, err := s.aim(r, cur, now)
	if err != nil {
		return nil, nil, err
	}
	maxDrop := s.maxDrop(cur)
	it = &Iteration{Index: i, Resource: r.String()}
	if !math.IsInf(maxDrop, 1) { // no limit (a negative Options.MaxDrop) is recorded as none: JSON has no +Inf
		it.MaxDrop = maxDrop
	}
	floor, err := s.smallestStep(cur, groups, r, now)
	if err != nil {
		return nil, nil, err
	}
	delta := max(lastStep(r, s.startStep(i, r, src, aim), now, aim, s.margin()), floor)
	for {
		st := Step{Reduction: delta, Budget: budgetOf(now, delta)}
		s.emit(Event{Kind: IterationStart, Iteration: i, Resource: r, Budget: st.Budget})
		s.opts.Log.Info("iteration start", "i", i, "resource", r, "now", now, "budget", st.Budget)
		cands, err := s.propose(i, cur, groups, r, st.Budget)
		if err != nil {
			return nil, nil, err
		}
		if n := countFeasible(cands); n < min(minFeasible, len(groups)) {
			st.Rejected = fmt.Sprintf("only %d of %d groups can meet the budget", n, len(groups))
		} else {
			if err := s.screen(cur, cands); err != nil {
				return nil, nil, err
			}
			if s.opts.Spread > 1 {
				more, err := s.spread(i, cur, cands, r, now, st.Budget)
				if err != nil {
					return nil, nil, err
				}
				cands = append(cands, more...)
			}
			w, err := s.tune(i, cur, cands, maxDrop, st.Budget, r)
			if err != nil {
				return nil, nil, err
			}
			if w.index >= 0 {
				it.Budget, it.Reduction, it.Candidates, it.Chosen = st.Budget, st.Reduction, cands, w.index
				next, err := s.adopt(it, cur, an, w)
				return it, next, err
			}
			st.Rejected = fmt.Sprintf("every candidate loses more than %.2f points of held-out top-1", maxDrop)
		}
		st.Candidates = cands
		it.Shrunk = append(it.Shrunk, st)
		s.emit(Event{Kind: StepShrunk, Iteration: i, Resource: r, Budget: st.Budget, Reason: st.Rejected})
		s.opts.Log.Info("step rejected", "i", i, "budget", st.Budget, "reason", st.Rejected)
		if delta <= floor {
			break
		}
		delta = max(delta/2, floor)
	}

	// Even the smallest step failed: try two groups together, at the smallest
	// rejected step where a pair is not just a single cut.
	for k := len(it.Shrunk) - 1; k >= 0; k-- {
		st := it.Shrunk[k]
		cands, err := s.pairs(i, cur, r, now, st)
		if err != nil {
			return nil, nil, err
		}
		if len(cands) == 0 {
			continue
		}
		if err := s.screen(cur, cands); err != nil {
			return nil, nil, err
		}
		w, err := s.tune(i, cur, cands, maxDrop, st.Budget, r)
		if err != nil {
			return nil, nil, err
		}
		if w.index >= 0 {
			it.Budget, it.Reduction, it.Candidates, it.Chosen = st.Budget, st.Reduction, cands, w.index
			next, err = s.adopt(it, cur, an, w)
			return it, next, err
		}
		it.Shrunk = append(it.Shrunk, Step{Reduction: st.Reduction, Budget: st.Budget, Candidates: cands,
			Rejected: fmt.Sprintf("every pair of groups also loses more than %.2f points of held-out top-1", maxDrop)})
		return it, nil, nil
	}
	return it, nil, nil
}

// startStep returns the reduction iteration i tries first for resource r:
// the schedule's, but no more than the step the previous iteration took
// when that iteration had to shrink its own (see iterate). A step rejected
// for accuracy costs the screening and three short-term fine-tunes, and
// the schedule's next step, only 10% smaller, was rejected again in the
// next iteration: on the quickstart, in four of twelve iterations.
func (s *searcher) startStep(i int, r Resource, src, aim float64) float64 {
	sched := s.opts.Schedule.reduction(i, src, aim)
	if n := len(s.res.Iterations); n > 0 {
		prev := &s.res.Iterations[n-1]
		if prev.Resource == r.String() && len(prev.Shrunk) > 0 && prev.Reduction > 0 {
			sched = min(sched, prev.Reduction)
		}
	}
	return sched
}

// lastStep returns the reduction of resource r an iteration aims for: the
// schedule's sched, or less when the aim is nearer than that (now-aim).
// For latency, such a last step is at least half the margin (of now), and
// never more than the schedule's: a smaller one is within the noise of
// the path's measurements (3–5% of a ratio), and the quickstart crawled
// towards its aim in steps of 1%, an iteration and often a failed check
// each.
func lastStep(r Resource, sched, now, aim, margin float64) float64 {
	d := min(sched, now-aim)
	if r == Latency && d < sched {
		d = min(sched, max(d, margin/2*now))
	}
	return d
}

// budgetOf is now minus a reduction delta, less a rounding tolerance, so
// that a candidate priced at exactly the budget meets it.
func budgetOf(now, delta float64) float64 {
	return now - delta + 1e-9*math.Abs(now)
}

// adopt makes the chosen candidate of it (w, tuned and evaluated) the next
// model: it resolves its plan, writes it as iter_NNN.onnx, and measures it.
// Its held-out accuracy is the one tune measured on the same weights; the
// test set is not evaluated (see figures).
func (s *searcher) adopt(it *Iteration, cur *state, an *surgery.Analysis, w winner) (*state, error) {
	var err error
	if it.Plan, err = an.Resolve(s.planFor(&it.Candidates[it.Chosen])); err != nil {
		return nil, err
	}
	next := &state{model: w.model}
	if next.plan, err = surgery.Compose(cur.plan, it.Plan); err != nil {
		return nil, err
	}
	if k := s.opts.Recon.AnchorEvery; k > 0 && it.Index%k == 0 {
		next.fig.HeldOut = &w.acc
		if next, it.Anchor, err = s.anchor(next); err != nil {
			return nil, err
		}
		w.acc = *next.fig.HeldOut
		next = &state{model: next.model, plan: next.plan}
	}
	it.File = filepath.Join(s.opts.OutDir, fmt.Sprintf("iter_%03d.onnx", it.Index))
	if err := s.save(it.File, next); err != nil {
		return nil, err
	}
	if err := reload(next); err != nil {
		return nil, err
	}
	if next.fig, err = s.figures(next, &w.acc, false); err != nil {
		return nil, err
	}
	if err := s.measure(next, fmt.Sprintf("iter_%03d", it.Index), s.opts.Measure, 1); err != nil {
		return nil, err
	}
	it.Figures = next.fig
	return next, nil
}

func countFeasible(cs []Candidate) int {
	n := 0
	for i := range cs {
		if cs[i].feasible() {
			n++
		}
	}
	return n
}

// maxDrop returns the held-out top-1 loss, in points, that a candidate may
// have against cur: Options.MaxDrop when set (+Inf when negative), or by
// default maxDropSE standard errors of cur's held-out accuracy (binomial,
// over the held-out images), within [minMaxDrop, capMaxDrop]. A loss
// within the held-out set's sampling noise says nothing about the cut, so
// the guard never rejects less than three standard errors, nor less than a
// point; and no step may cost more than two points: the issue that
// introduced the guard saw single-group cuts lose 25 and 50 points that the
// long-term fine-tune could not win back, while the quickstart's runs
// (BENCHMARKS.md) recover chains of steps of up to two points each to
// within half a point of the source.
func (s *searcher) maxDrop(cur *state) float64 {
	switch {
	case s.opts.MaxDrop < 0:
		return math.Inf(1)
	case s.opts.MaxDrop > 0:
		return s.opts.MaxDrop
	}
	h := cur.fig.HeldOut
	if h == nil || h.N == 0 {
		return minMaxDrop
	}
	p := h.Top1
	return min(capMaxDrop, max(minMaxDrop, maxDropSE*100*math.Sqrt(p*(1-p)/float64(h.N))))
}

// tune applies, short-term fine-tunes and evaluates every feasible
// candidate not skipped (with Options.TuneTop, screen, run first, skips
// all but the TuneTop that hold the most accuracy before fine-tuning), and
// returns the index of the most accurate one on held-out data (ties in
// top-1, frequent on a few hundred images: the lower held-out loss, then
// the cheaper) among those losing at most maxDrop points against cur, with
// its model; -1 when none does.
func (s *searcher) tune(i int, cur *state, cands []Candidate, maxDrop, budget float64, r Resource) (winner, error) {
	o := s.opts
	best := winner{index: -1}
	base := 100 * top1(cur.fig.HeldOut)
	for ci := range cands {
		c := &cands[ci]
		if !c.feasible() || c.Skipped != "" {
			continue
		}
		m := cur.model.Clone()
		if err := s.apply(cur.model, m, c); err != nil {
			return best, err
		}
		cfg := o.ShortTerm
		cfg.Seed += uint64(i)
		trained := cfg.Steps > 0 || cfg.Epochs > 0
		if trained {
			if _, err := finetune.Train(s.ctx, m, o.Train, cfg); err != nil {
				return best, err
			}
		}
		acc, err := s.tunedAccuracy(m, c, trained)
		if err != nil {
			return best, err
		}
		c.HeldOutTop1, c.HeldOutLoss = acc.Top1, acc.Loss
		if drop := base - 100*acc.Top1; drop > maxDrop {
			c.Rejected = fmt.Sprintf("loses %.2f points of held-out top-1 (at most %.2f)", drop, maxDrop)
		}
		s.emit(Event{Kind: CandidateTuned, Iteration: i, Resource: r, Budget: budget, Candidate: c, Index: ci, Count: len(cands)})
		o.Log.Debug("candidate", "group", c.Group, "keep", c.Keep, "of", c.Size, "est_ms", c.EstimatedMS, "held_out", acc.Top1, "rejected", c.Rejected)
		if c.Rejected != "" {
			continue
		}
		if best.index < 0 || better(*c, cands[best.index]) {
			best = winner{index: ci, model: m, acc: acc}
		}
	}
	return best, nil
}

// tunedAccuracy returns the held-out accuracy of m, candidate c's model:
// screening's, when c was not fine-tuned since and screening evaluated it
// on every held-out image (the same weights on the same images).
func (s *searcher) tunedAccuracy(m *onnxio.Model, c *Candidate, trained bool) (finetune.Accuracy, error) {
	if sc := c.screened; !trained && sc != nil && sc.N == s.opts.HeldOut.Len() {
		return *sc, nil
	}
	return s.accuracy(m, s.opts.HeldOut)
}

// winner is the candidate tune chose: its index (-1: none), its tuned
// model and that model's held-out accuracy.
type winner struct {
	index int
	model *onnxio.Model
	acc   finetune.Accuracy
}

// screenImages is how many held-out images screening evaluates a
// candidate on (see screen).
const screenImages = 500

// screenStages: with at least this many screening images, screening runs
// in two stages (see screen); below, each half would be too few to rank
// on.
const screenStages = 400

// screen, with Options.TuneTop set and more feasible candidates than it,
// evaluates every feasible candidate as cut, before any fine-tuning, on
// the first screenImages held-out images, and marks all but the TuneTop
// most accurate as skipped: fine-tuning is what costs, and a cut that
// loses the most before it rarely wins after a short fine-tune. Ties in
// top-1, frequent on the hundred held-out images of a 224×224 model
// (where it moves in steps of a point), go to the lower held-out loss.
// (Ranking by the loss alone took the quickstart from 89.9–90.1% test
// top-1 to 89.1%, in the one run tried.)
//
// With screenStages images or more it runs in two stages: every candidate
// on the first half, and only the 2·TuneTop best of those on the second
// half too, ranked on both. Screening was a sixth of a quickstart
// iteration, and most of it went to cuts that lose tens of points as cut
// (BENCHMARKS.md), which half the images tell apart as well.
func (s *searcher) screen(cur *state, cands []Candidate) error {
	k := s.opts.TuneTop
	if k <= 0 || countFeasible(cands) <= k {
		return nil
	}
	var order []int // feasible candidates, best as cut first once ranked
	for ci := range cands {
		if cands[ci].feasible() {
			order = append(order, ci)
		}
	}
	// Each stage evaluates the best `top` candidates so far on images
	// [lo, hi) and ranks them on every image they were evaluated on.
	n := min(s.opts.HeldOut.Len(), screenImages)
	stages := []struct{ lo, hi, top int }{{0, n, len(order)}}
	if n >= screenStages {
		stages = []struct{ lo, hi, top int }{{0, n / 2, len(order)}, {n / 2, n, min(len(order), 2*k)}}
	}
	for _, st := range stages {
		part, err := imageRange(s.opts.HeldOut, st.lo, st.hi)
		if err != nil {
			return err
		}
		ranked := order[:st.top]
		for _, ci := range ranked {
			c := &cands[ci]
			m := cur.model.Clone()
			if err := s.apply(cur.model, m, c); err != nil {
				return err
			}
			acc, err := s.accuracy(m, part)
			if err != nil {
				return err
			}
			c.addScreen(acc)
		}
		slices.SortStableFunc(ranked, func(a, b int) int {
			if c := cmpDesc(cands[a].ScreenTop1, cands[b].ScreenTop1); c != 0 {
				return c
			}
			return cmp.Compare(cands[a].ScreenLoss, cands[b].ScreenLoss)
		})
	}
	for _, ci := range order[k:] {
		c := &cands[ci]
		c.Skipped = fmt.Sprintf("screened out: %.2f%% held-out top-1 before fine-tuning (loss %.4f, %d images), below the %d best", 100*c.ScreenTop1, c.ScreenLoss, c.ScreenImages, k)
	}
	return nil
}

// addScreen pools acc, c's accuracy as cut on more screening images, into
// its screening figures.
func (c *Candidate) addScreen(acc finetune.Accuracy) {
	if c.ScreenImages == 0 {
		c.ScreenTop1, c.ScreenLoss, c.ScreenImages = acc.Top1, acc.Loss, acc.N
		c.screened = &acc
		return
	}
	c.screened = nil
	n, t := float64(c.ScreenImages), float64(c.ScreenImages+acc.N)
	c.ScreenTop1 = (c.ScreenTop1*n + acc.Top1*float64(acc.N)) / t
	c.ScreenLoss = (c.ScreenLoss*n + acc.Loss*float64(acc.N)) / t
	c.ScreenImages += acc.N
}

// imageRange returns images [lo, hi) of ds.
func imageRange(ds dataset.Dataset, lo, hi int) (dataset.Dataset, error) {
	if lo == 0 && hi >= ds.Len() {
		return ds, nil
	}
	idx := make([]int, hi-lo)
	for i := range idx {
		idx[i] = lo + i
	}
	return dataset.Subset(ds, idx)
}

// better reports whether tuned candidate a is to be chosen over b: the
// higher held-out top-1, then the lower held-out loss, then the cheaper.
func better(a, b Candidate) bool {
	switch {
	case a.HeldOutTop1 != b.HeldOutTop1:
		return a.HeldOutTop1 > b.HeldOutTop1
	case a.HeldOutLoss != b.HeldOutLoss:
		return a.HeldOutLoss < b.HeldOutLoss
	}
	return cheaper(a, b)
}

func cheaper(a, b Candidate) bool {
	if a.EstimatedMS != b.EstimatedMS {
		return a.EstimatedMS < b.EstimatedMS
	}
	return a.MACs < b.MACs
}

// planFor returns the plan that keeps c.Keep channels of c's group (and of
// its pair's).
func (s *searcher) planFor(c *Candidate) surgery.Plan {
	p := surgery.Plan{Rank: s.opts.Rank, RoundTo: s.opts.RoundTo}
	for ; c != nil; c = c.Pair {
		gp := surgery.GroupPlan{Group: c.Group, Drop: c.Size - c.Keep}
		if c.Channels != nil {
			gp = surgery.GroupPlan{Group: c.Group, Keep: c.Channels}
		}
		p.Groups = append(p.Groups, gp)
	}
	return p
}

// propose prices, for every group, the largest channel count that meets
// budget on resource r (ChooseNumFilters).
func (s *searcher) propose(i int, cur *state, groups []*surgery.Group, r Resource, budget float64) ([]Candidate, error) {
	cands := make([]Candidate, 0, len(groups))
	for gi, g := range groups {
		c, err := s.largestKeep(cur, g, nil, r, budget)
		if err != nil {
			return nil, err
		}
		cands = append(cands, c)
		s.emit(Event{Kind: CandidatePriced, Iteration: i, Resource: r, Budget: budget, Candidate: &cands[gi], Index: gi, Count: len(groups)})
	}
	return cands, nil
}

// smallestStep returns the smallest positive reduction of resource r that
// cutting one grid step (RoundTo channels) of one group gives: no step
// below it can be met at all.
func (s *searcher) smallestStep(cur *state, groups []*surgery.Group, r Resource, now float64) (float64, error) {
	floor := math.Inf(1)
	for _, g := range groups {
		if g.Size <= s.opts.RoundTo {
			continue
		}
		p, err := s.price(cur, surgery.Plan{Rank: s.opts.Rank, RoundTo: s.opts.RoundTo,
			Groups: []surgery.GroupPlan{{Group: g.ID, Drop: s.opts.RoundTo}}}, r)
		if err != nil {
			return 0, err
		}
		if d := now - p.value; d > 0 {
			floor = min(floor, d)
		}
	}
	if math.IsInf(floor, 1) {
		return 0, nil
	}
	return floor, nil
}

// keepChoices lists the channel counts a group of size n may keep,
// ascending: multiples of roundTo below n.
func keepChoices(n, roundTo int) []int {
	var ks []int
	for k := roundTo; k < n; k += roundTo {
		ks = append(ks, k)
	}
	return ks
}

// priced is a plan's resources.
type priced struct {
	value float64 // the resource r
	res   *lut.Resources
}

// price returns the resources of cur with plan p applied: for latency, the
// calibrated table estimate.
func (s *searcher) price(cur *state, p surgery.Plan, r Resource) (priced, error) {
	var t *lut.Table
	var cal *lut.Calibration
	if r == Latency {
		t, cal = s.opts.Table, &s.cal.cal
	}
	res, err := lut.PlanResources(cur.model, p, t, cal)
	if err != nil {
		return priced{}, err
	}
	pr := priced{res: res}
	switch r {
	case Latency:
		pr.value = res.LatencyMS
	case MACs:
		pr.value = float64(res.MACs)
	case Params:
		pr.value = float64(res.Params)
	}
	return pr, nil
}

// largestKeep finds, for group g of cur (with the cuts fixed applied too),
// the largest channel count whose model meets budget on resource r, by
// bisection (the resource does not grow when a group loses channels).
func (s *searcher) largestKeep(cur *state, g *surgery.Group, fixed []surgery.GroupPlan, r Resource, budget float64) (Candidate, error) {
	c := Candidate{Group: g.ID, Roots: g.Roots, Size: g.Size}
	ks := keepChoices(g.Size, s.opts.RoundTo)
	if len(ks) == 0 {
		c.Skipped = fmt.Sprintf("%d channels cannot shrink in steps of %d", g.Size, s.opts.RoundTo)
		return c, nil
	}
	cache := map[int]priced{}
	price := func(k int) (priced, error) {
		if p, ok := cache[k]; ok {
			return p, nil
		}
		plan := surgery.Plan{Rank: s.opts.Rank, RoundTo: s.opts.RoundTo,
			Groups: append(slices.Clone(fixed), surgery.GroupPlan{Group: g.ID, Drop: g.Size - k})}
		p, err := s.price(cur, plan, r)
		if err == nil {
			cache[k] = p
		}
		return p, err
	}
	i, err := bisect(len(ks), func(i int) (bool, error) {
		p, err := price(ks[i])
		return p.value <= budget, err
	})
	if err != nil {
		return c, err
	}
	if i < 0 {
		p := cache[ks[0]]
		c.Skipped = fmt.Sprintf("even %d channels give %.4g > budget %.4g", ks[0], p.value, budget)
		return c, nil
	}
	p := cache[ks[i]]
	c.Keep, c.MACs, c.Params = ks[i], p.res.MACs, p.res.Params
	c.EstimatedMS = p.res.LatencyMS
	return c, nil
}

// bisect returns the largest i in [0, n) with ok(i), for ok true on a
// prefix of [0, n); -1 when ok(0) is false.
func bisect(n int, ok func(int) (bool, error)) (int, error) {
	if n == 0 {
		return -1, nil
	}
	yes, err := ok(0)
	if err != nil || !yes {
		return -1, err
	}
	a, b := 0, n // ok(a); b is beyond the last ok
	for b-a > 1 {
		mid := (a + b) / 2
		yes, err := ok(mid)
		if err != nil {
			return -1, err
		}
		if yes {
			a = mid
		} else {
			b = mid
		}
	}
	return a, nil
}

// pairs proposes two-group candidates for the step last (whose single
// cuts were not acceptable): for the pairGroups groups whose
// single candidates held the most accuracy (or, untuned, cut the smallest
// share of their channels), every pair (a, b), a the better, cuts a to
// meet half the step and then b to meet the rest, so that neither is cut as deeply as
// one group alone would be. Pairs in which one group alone meets the step
// are left out: they are single cuts.
func (s *searcher) pairs(i int, cur *state, r Resource, now float64, last Step) ([]Candidate, error) {
	var singles []Candidate
	for _, c := range last.Candidates {
		if c.feasible() {
			singles = append(singles, c)
		}
	}
	slices.SortStableFunc(singles, func(a, b Candidate) int {
		switch {
		case a.HeldOutTop1 != b.HeldOutTop1:
			return cmpDesc(a.HeldOutTop1, b.HeldOutTop1)
		case a.ScreenTop1 != b.ScreenTop1:
			return cmpDesc(a.ScreenTop1, b.ScreenTop1)
		}
		return cmpDesc(float64(a.Keep)/float64(a.Size), float64(b.Keep)/float64(b.Size))
	})
	singles = singles[:min(len(singles), pairGroups)]
	byID, err := prunableByID(cur)
	if err != nil {
		return nil, err
	}
	half := budgetOf(now, last.Reduction/2)
	var out []Candidate
	for x := range singles {
		for y := x + 1; y < len(singles); y++ {
			a, err := s.largestKeep(cur, byID[singles[x].Group], nil, r, half)
			if err != nil {
				return nil, err
			}
			if !a.feasible() {
				continue
			}
			fixed := []surgery.GroupPlan{{Group: a.Group, Drop: a.Size - a.Keep}}
			b, err := s.largestKeep(cur, byID[singles[y].Group], fixed, r, last.Budget)
			if err != nil {
				return nil, err
			}
			if !b.feasible() {
				continue
			}
			if p, err := s.price(cur, surgery.Plan{Rank: s.opts.Rank, RoundTo: s.opts.RoundTo, Groups: fixed}, r); err != nil {
				return nil, err
			} else if p.value <= last.Budget {
				continue // a alone meets the step
			}
			pair := a
			pb := b
			pair.Pair = &pb
			pair.EstimatedMS, pair.MACs, pair.Params = b.EstimatedMS, b.MACs, b.Params
			pb.EstimatedMS, pb.MACs, pb.Params = 0, 0, 0
			out = append(out, pair)
			s.emit(Event{Kind: CandidatePriced, Iteration: i, Resource: r, Budget: last.Budget, Candidate: &out[len(out)-1], Index: len(out) - 1})
		}
	}
	return out, nil
}

func cmpDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// spread proposes, for a step from now to budget on resource r, candidates
// that share the reduction between several groups: for k = 2, 4, …,
// Options.Spread, the k groups whose single cuts (cands, screened as cut)
// lost the least held-out accuracy, each cut, in that order and with the
// cuts before it fixed, to meet the next k-th of the reduction; a group
// that the cuts before it already bring within its share is left whole.
//
// A single group meets a step of a few percent of a 224×224 network's
// latency only by losing most of its channels (block 13's expansion of
// MobileNetV2, 384 → 128, for 2%), and without fine-tuning the refit
// cannot repair such a cut; shared between groups, every cut is shallow.
// The spread candidates compete with the single cuts on held-out accuracy
// like any other.
func (s *searcher) spread(i int, cur *state, cands []Candidate, r Resource, now, budget float64) ([]Candidate, error) {
	var ranked []Candidate
	for _, c := range cands {
		if c.feasible() && c.Pair == nil && c.ScreenImages > 0 {
			ranked = append(ranked, c)
		}
	}
	if len(ranked) < 2 {
		return nil, nil
	}
	slices.SortStableFunc(ranked, func(a, b Candidate) int {
		if c := cmp.Compare(a.ScreenLoss, b.ScreenLoss); c != 0 {
			return c
		}
		return cmpDesc(a.ScreenTop1, b.ScreenTop1)
	})
	byID, err := prunableByID(cur)
	if err != nil {
		return nil, err
	}
	delta := now - budget
	var out []Candidate
	seen := map[string]bool{}
	for k := 2; k <= s.opts.Spread && k <= len(ranked); k *= 2 {
		var chain []Candidate
		var fixed []surgery.GroupPlan
		for j := range k {
			share := budgetOf(now, delta*float64(j+1)/float64(k))
			if j == k-1 {
				share = budget
			}
			if len(fixed) > 0 {
				p, err := s.price(cur, surgery.Plan{Rank: s.opts.Rank, RoundTo: s.opts.RoundTo, Groups: fixed}, r)
				if err != nil {
					return nil, err
				}
				if p.value <= share {
					continue // the cuts so far already meet this share
				}
			}
			c, err := s.largestKeep(cur, byID[ranked[j].Group], fixed, r, share)
			if err != nil {
				return nil, err
			}
			if !c.feasible() {
				continue // the next groups take this share
			}
			chain = append(chain, c)
			fixed = append(fixed, surgery.GroupPlan{Group: c.Group, Drop: c.Size - c.Keep})
		}
		if len(chain) < 2 {
			continue
		}
		p, err := s.price(cur, surgery.Plan{Rank: s.opts.Rank, RoundTo: s.opts.RoundTo, Groups: fixed}, r)
		if err != nil {
			return nil, err
		}
		if p.value > budget {
			continue
		}
		key := fmt.Sprint(fixed)
		if seen[key] {
			continue
		}
		seen[key] = true
		// The first cut carries the whole candidate's resources; the
		// others follow it as its Pair chain.
		for j := len(chain) - 1; j > 0; j-- {
			next := chain[j]
			next.EstimatedMS, next.MACs, next.Params = 0, 0, 0
			chain[j-1].Pair = &next
		}
		c := chain[0]
		c.EstimatedMS, c.MACs, c.Params = p.res.LatencyMS, p.res.MACs, p.res.Params
		out = append(out, c)
		s.emit(Event{Kind: CandidatePriced, Iteration: i, Resource: r, Budget: budget, Candidate: &out[len(out)-1], Index: len(cands) + len(out) - 1})
	}
	return out, nil
}

// prunableByID returns cur's prunable groups by ID.
func prunableByID(cur *state) (map[int]*surgery.Group, error) {
	an, err := surgery.Analyze(cur.model.Graph)
	if err != nil {
		return nil, err
	}
	byID := map[int]*surgery.Group{}
	for _, g := range an.Prunable() {
		byID[g.ID] = g
	}
	return byID, nil
}
