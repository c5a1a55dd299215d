package recon

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"

	"github.com/onnx-adapt/onnx-adapt/surgery"
)

// rankAlpha is the relative ridge term of the ranking's refits.
const rankAlpha = 1e-3

// elimination is the state of the greedy backward elimination of one
// group's channels.
type elimination struct {
	size    int
	parts   []*elimPart
	alive   []bool
	removed []int // channels in removal order
}

// elimPart is one consumer layer of the group during the elimination: the
// inverse of its regularised Gram matrix over the features still in, and
// the refitted weights over them.
type elimPart struct {
	l     *layer
	feats [][]int   // the layer's features of each group channel
	p     []float64 // d×d, (G_KK + λI)⁻¹ embedded (zero rows and columns outside K)
	w     []float64 // d×cout refitted weights (zero rows outside K)
	lam   float64   // the ridge term
	norm  float64   // the layer's weighted output energy
}

// Keep returns the k channels (sorted) that group g of the analysed model
// keeps under the reconstruction ranking: the channels left after
// removing, one at a time, the channel whose removal increases the
// summed relative reconstruction error of the group's consumers (each
// refitted) the least. Orders are cached per group, so asking for fewer
// channels continues where a previous call stopped. A group with no
// refittable consumer is ranked by the L2 norm of its filters.
func (s *Stats) Keep(g *surgery.Group, k int) ([]int, error) {
	if k < 1 || k > g.Size {
		return nil, fmt.Errorf("recon: keep %d of group %d's %d channels", k, g.ID, g.Size)
	}
	e := s.orders[g.ID]
	if e == nil {
		e = s.newElimination(g)
		s.orders[g.ID] = e
	}
	if len(e.parts) == 0 {
		keep := l2Keep(g, k)
		return keep, nil
	}
	for len(e.removed) < g.Size-k {
		e.step()
	}
	var keep []int
	for c, ok := range e.alive {
		if ok {
			keep = append(keep, c)
		}
	}
	// The removals beyond size-k were made for a smaller keep.
	for _, c := range e.removed[g.Size-k:] {
		keep = append(keep, c)
	}
	slices.Sort(keep)
	return keep, nil
}

// l2Keep keeps the k channels of largest filter L2 norm.
func l2Keep(g *surgery.Group, k int) []int {
	score := g.Scores(surgery.RankL2)
	idx := make([]int, g.Size)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		if len(score) != g.Size {
			return 0
		}
		switch {
		case score[a] > score[b]:
			return -1
		case score[a] < score[b]:
			return 1
		}
		return 0
	})
	keep := slices.Clone(idx[:k])
	slices.Sort(keep)
	return keep
}

func (s *Stats) newElimination(g *surgery.Group) *elimination {
	e := &elimination{size: g.Size, alive: make([]bool, g.Size)}
	for c := range e.alive {
		e.alive[c] = true
	}
	for _, l := range s.layers {
		feats := l.channelFeatures(g.ID, g.Size)
		has := false
		for _, f := range feats {
			has = has || len(f) > 0
		}
		if !has {
			continue
		}
		st := l.st
		all := make([]int, l.d)
		for i := range all {
			all[i] = i
		}
		h := sub(st.g, nil, l.d, all, 0)
		lam := rankAlpha * meanDiag(h)
		if lam <= 0 {
			lam = 1e-12
		}
		h = sub(st.g, nil, l.d, all, lam)
		var ch mat.Cholesky
		if !ch.Factorize(h) {
			continue
		}
		var inv mat.SymDense
		if err := ch.InverseTo(&inv); err != nil {
			continue
		}
		p := make([]float64, l.d*l.d)
		for i := range l.d {
			for j := range l.d {
				p[i*l.d+j] = inv.At(i, j)
			}
		}
		norm := 0.0
		for o, q := range st.q {
			norm += l.scale[o] * l.scale[o] * q
		}
		if !(norm > 0) {
			norm = 1
		}
		// With every feature in, the refit of X·W₀ is W₀ itself.
		e.parts = append(e.parts, &elimPart{l: l, feats: feats, p: p, w: slices.Clone(l.w0), lam: lam, norm: norm})
	}
	return e
}

// step removes the channel whose removal costs the least.
func (e *elimination) step() {
	best, bestCost := -1, math.Inf(1)
	for c, ok := range e.alive {
		if !ok {
			continue
		}
		cost := 0.0
		for _, pt := range e.parts {
			cost += pt.cost(c)
		}
		if cost < bestCost {
			best, bestCost = c, cost
		}
	}
	if best < 0 {
		return
	}
	e.alive[best] = false
	e.removed = append(e.removed, best)
	for _, pt := range e.parts {
		pt.remove(best)
	}
}

// cost is the increase of the part's relative error when channel c's
// features F leave: Σ_o s_o² (w_Fᵀ (P_FF)⁻¹ w_F − λ‖w₀_F‖²) / norm. The
// first term is the increase of the minimum of the regularised objective
// with w_F forced to zero; the second takes out the ridge penalty that
// forcing charges for the features that left, which no longer have
// weights to pull towards W₀.
func (pt *elimPart) cost(c int) float64 {
	F := pt.feats[c]
	if len(F) == 0 {
		return 0
	}
	l := pt.l
	d, cout := l.d, l.cout
	pen := 0.0
	for _, f := range F {
		for o := range cout {
			w0 := l.w0[f*cout+o]
			pen += l.scale[o] * l.scale[o] * w0 * w0
		}
	}
	pen *= pt.lam
	if len(F) == 1 {
		f := F[0]
		pff := pt.p[f*d+f]
		if !(pff > 0) {
			return 0
		}
		t := 0.0
		for o := range cout {
			wv := pt.w[f*cout+o]
			t += l.scale[o] * l.scale[o] * wv * wv
		}
		return (t/pff - pen) / pt.norm
	}
	m, wf := pt.block(F)
	var ch mat.Cholesky
	if !ch.Factorize(m) {
		return 0
	}
	var x mat.Dense
	if err := ch.SolveTo(&x, wf); err != nil {
		return 0
	}
	t := 0.0
	for i := range F {
		for o := range cout {
			t += l.scale[o] * l.scale[o] * wf.At(i, o) * x.At(i, o)
		}
	}
	return (t - pen) / pt.norm
}

// block returns P_FF and W_F.
func (pt *elimPart) block(F []int) (*mat.SymDense, *mat.Dense) {
	d, cout := pt.l.d, pt.l.cout
	m := mat.NewSymDense(len(F), nil)
	wf := mat.NewDense(len(F), cout, nil)
	for i, a := range F {
		for j, b := range F[i:] {
			m.SetSym(i, i+j, pt.p[a*d+b])
		}
		for o := range cout {
			wf.Set(i, o, pt.w[a*cout+o])
		}
	}
	return m, wf
}

// remove takes channel c's features out: with U = P[:,F] and M = P_FF,
// P ← P − U·M⁻¹·Uᵀ and W ← W − U·M⁻¹·W_F, the inverse and the refit over
// the remaining features (block elimination).
func (pt *elimPart) remove(c int) {
	F := pt.feats[c]
	if len(F) == 0 {
		return
	}
	d, cout := pt.l.d, pt.l.cout
	P := blas64.General{Rows: d, Cols: d, Stride: d, Data: pt.p}
	W := blas64.General{Rows: d, Cols: cout, Stride: cout, Data: pt.w}
	m, wf := pt.block(F)
	var ch mat.Cholesky
	if ch.Factorize(m) {
		u := mat.NewDense(d, len(F), nil)
		for i := range d {
			for j, f := range F {
				u.Set(i, j, pt.p[i*d+f])
			}
		}
		var mu, mw mat.Dense // M⁻¹Uᵀ, M⁻¹W_F
		if ch.SolveTo(&mu, u.T()) == nil && ch.SolveTo(&mw, wf) == nil {
			ur := u.RawMatrix()
			blas64.Gemm('N', 'N', -1, ur, mu.RawMatrix(), 1, P)
			blas64.Gemm('N', 'N', -1, ur, mw.RawMatrix(), 1, W)
		}
	}
	for _, f := range F {
		for i := range d {
			pt.p[i*d+f], pt.p[f*d+i] = 0, 0
		}
		for o := range cout {
			pt.w[f*cout+o] = 0
		}
	}
}
