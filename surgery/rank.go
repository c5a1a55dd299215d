package surgery

import (
	"fmt"
	"math"
	"sort"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// Rank is how channels are ranked when a plan gives a drop count.
type Rank string

const (
	// RankL2 ranks a channel by the L2 norm of its filters, summed over
	// the group's roots (the default).
	RankL2 Rank = "l2"
	// RankL1 uses the L1 norm.
	RankL1 Rank = "l1"
)

// ParseRank accepts "l2", "l1" or "" (meaning l2).
func ParseRank(s string) (Rank, error) {
	switch Rank(s) {
	case "", RankL2:
		return RankL2, nil
	case RankL1:
		return RankL1, nil
	}
	return "", fmt.Errorf("surgery: unknown rank %q (want l2 or l1)", s)
}

// scores sums, over a group's root filters, each channel's L2 and L1 norm.
func scores(filters []filterRef, size int) (l2, l1 []float64) {
	l2, l1 = make([]float64, size), make([]float64, size)
	for _, f := range filters {
		t := onnxio.ConstValue(f.tensor)
		if t == nil || f.axis >= len(t.Dims) || int(t.Dims[f.axis]) != size {
			continue
		}
		vals, err := t.Float64s()
		if err != nil {
			continue
		}
		outer, inner := 1, 1
		for i, d := range t.Dims {
			switch {
			case i < f.axis:
				outer *= int(d)
			case i > f.axis:
				inner *= int(d)
			}
		}
		sq := make([]float64, size)
		for o := 0; o < outer; o++ {
			for c := 0; c < size; c++ {
				row := vals[(o*size+c)*inner : (o*size+c+1)*inner]
				var s2, s1 float64
				for _, x := range row {
					s2 += x * x
					s1 += math.Abs(x)
				}
				sq[c] += s2
				l1[c] += s1
			}
		}
		for c := range sq {
			l2[c] += math.Sqrt(sq[c])
		}
	}
	return l2, l1
}

// order returns the group's channels from least to most important; among
// equal scores the lower index comes first.
func order(score []float64, size int) []int {
	idx := make([]int, size)
	for i := range idx {
		idx[i] = i
	}
	if len(score) != size {
		return idx
	}
	sort.SliceStable(idx, func(i, j int) bool { return score[idx[i]] < score[idx[j]] })
	return idx
}
