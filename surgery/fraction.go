package surgery

// FractionPlan drops from every prunable group of a the fraction of its
// channels that fraction(g) returns (in [0, 1)); fraction is called once
// for each group, in the order of Prunable. A group whose drop,
// ⌊Size·f⌋, is zero is left whole; any other keeps Size − ⌊Size·f⌋
// channels (at least one), rounded to a multiple of roundTo with
// RoundCount when roundTo > 1, and is left out when that rounds back up to
// all its channels. The plan carries roundTo, so that Resolve keeps the
// counts, and its drops are the final ones.
//
// It is the one builder of "shrink every group by a fraction" plans: the
// prune command's --fraction, the uniform-width baseline (bench/uniform)
// and the random variants that calibrate the latency model
// (lut.RandomPlan).
func (a *Analysis) FractionPlan(fraction func(g *Group) float64, roundTo int) Plan {
	p := Plan{RoundTo: roundTo, Groups: []GroupPlan{}}
	for _, g := range a.Prunable() {
		drop := int(float64(g.Size) * fraction(g))
		if drop <= 0 {
			continue
		}
		keep := g.Size - min(drop, g.Size-1)
		if roundTo > 1 {
			keep = RoundCount(keep, roundTo, g.Size)
		}
		if keep < g.Size {
			p.Groups = append(p.Groups, GroupPlan{Group: g.ID, Drop: g.Size - keep})
		}
	}
	return p
}

// UniformPlan is FractionPlan with the same fraction for every group.
func (a *Analysis) UniformPlan(fraction float64, roundTo int) Plan {
	return a.FractionPlan(func(*Group) float64 { return fraction }, roundTo)
}
