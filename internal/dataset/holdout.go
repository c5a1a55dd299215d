package dataset

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// HoldOut splits ds into a training part and a held-out part for selecting
// candidates without touching the test set. size is a sample count when
// ≥ 1, or a fraction of ds when in (0,1); both parts must end up
// non-empty.
//
// The split is stratified: class k, with c_k of the N samples, gives
// size·c_k/N samples, rounded by the largest-remainder method (ties to the
// lower class) so that the total is exact; a class too rare for its share
// may give none. Which samples of a class are held out is a permutation
// seeded by (seed, k). Both parts list their samples in dataset order.
func HoldOut(ds Dataset, size float64, seed uint64) (train, held Dataset, err error) {
	n := ds.Len()
	var k int
	switch {
	case size >= 1 && size == math.Trunc(size) && size < float64(n):
		k = int(size)
	case size > 0 && size < 1:
		k = int(math.Round(size * float64(n)))
	default:
		return nil, nil, errf("holdout: size %v is not a count in [1,%d) or a fraction in (0,1)", size, n)
	}
	if k < 1 || k >= n {
		return nil, nil, errf("holdout: fraction %v of %d samples leaves an empty part", size, n)
	}
	byClass := make([][]int, ds.NumClasses())
	for i := range n {
		l := ds.Label(i)
		byClass[l] = append(byClass[l], i)
	}
	// Largest remainder: floor of each share, then one more to the classes
	// with the largest remainders until k is reached.
	take := make([]int, len(byClass))
	type rem struct{ class, num int } // remainder num/n
	var rems []rem
	total := 0
	for c, idx := range byClass {
		q := k * len(idx)
		take[c] = q / n
		total += take[c]
		if q%n != 0 {
			rems = append(rems, rem{c, q % n})
		}
	}
	slices.SortStableFunc(rems, func(a, b rem) int { return cmp.Compare(b.num, a.num) })
	for _, r := range rems[:k-total] {
		take[r.class]++
	}
	isHeld := make([]bool, n)
	for c, idx := range byClass {
		if take[c] == 0 {
			continue
		}
		r := rand.New(rand.NewPCG(seed, mix64(uint64(c)^0xa4093822299f31d0)))
		perm := slices.Clone(idx)
		r.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		for _, i := range perm[:take[c]] {
			isHeld[i] = true
		}
	}
	var tr, he []int
	for i, h := range isHeld {
		if h {
			he = append(he, i)
		} else {
			tr = append(tr, i)
		}
	}
	train = &subset{ds: ds, idx: tr}
	held = &subset{ds: ds, idx: he}
	return train, held, nil
}
