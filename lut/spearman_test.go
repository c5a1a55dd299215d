package lut

import (
	"math"
	"slices"
	"testing"

	"gonum.org/v1/gonum/stat"
)

// spearman is Spearman's rank correlation: Pearson's correlation
// (gonum's stat.Correlation) of the ranks, ties taking their average rank.
// gonum v0.17.0 has Kendall's tau but no stat.Spearman.
func spearman(x, y []float64) float64 {
	return stat.Correlation(ranks(x), ranks(y), nil)
}

func ranks(x []float64) []float64 {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case x[a] < x[b]:
			return -1
		case x[a] > x[b]:
			return 1
		}
		return 0
	})
	r := make([]float64, len(x))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && x[idx[j+1]] == x[idx[i]] {
			j++
		}
		avg := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			r[idx[k]] = avg
		}
		i = j + 1
	}
	return r
}

func TestSpearman(t *testing.T) {
	for _, tc := range []struct {
		x, y []float64
		want float64
	}{
		{[]float64{1, 2, 3, 4}, []float64{10, 20, 30, 40}, 1},
		{[]float64{1, 2, 3, 4}, []float64{1, 4, 9, 16}, 1}, // monotone, not linear
		{[]float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}, -1},
		// Classic example: d² = 0+1+1+0+0 → 1 − 6·2/(5·24) = 0.9.
		{[]float64{1, 2, 3, 4, 5}, []float64{1, 3, 2, 4, 5}, 0.9},
		// Ties take average ranks.
		{[]float64{1, 1, 2}, []float64{1, 2, 3}, math.Sqrt(3) / 2},
	} {
		if got := spearman(tc.x, tc.y); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("spearman(%v, %v) = %v, want %v", tc.x, tc.y, got, tc.want)
		}
	}
}
