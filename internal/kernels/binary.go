package kernels

import "fmt"

// Add and Mul with NumPy broadcasting. Shapes are collapsed first (size-1
// dimensions dropped, adjacent dimensions merged when both operands are
// contiguous or both broadcast across them), so the CNN cases become short
// plans with long inner loops: same shape → one flat loop; (N,C,H,W)⊙(N,C,1,1)
// → rows of H·W times one value; per-channel (1,C,1,1) or (C,1,1) → the same
// with a channel index; scalars → one flat loop with a constant.

// BroadcastShape returns the NumPy broadcast of shapes a and b.
func BroadcastShape(a, b []int) ([]int, error) {
	r := max(len(a), len(b))
	out := make([]int, r)
	for i := 0; i < r; i++ {
		da, db := 1, 1
		if j := len(a) - r + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - r + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db, db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("kernels: shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}

// bplan is a collapsed broadcast iteration: output dims with the strides of
// the two operands (0 where broadcast). The output is contiguous.
type bplan struct {
	dims, sa, sb []int
	n            int // output elements
}

func stridesFor(shape, out []int) []int {
	r := len(out)
	st := make([]int, r)
	acc := 1
	for i := r - 1; i >= 0; i-- {
		j := len(shape) - r + i
		d := 1
		if j >= 0 {
			d = shape[j]
		}
		if d == 1 {
			st[i] = 0
		} else {
			st[i] = acc
		}
		acc *= d
	}
	return st
}

func newPlan(aShape, bShape []int) bplan {
	out, err := BroadcastShape(aShape, bShape)
	if err != nil {
		panic(err.Error())
	}
	sa, sb := stridesFor(aShape, out), stridesFor(bShape, out)
	p := bplan{n: prod(out...)}
	for i, d := range out {
		if d == 1 {
			continue
		}
		if k := len(p.dims) - 1; k >= 0 && p.sa[k] == sa[i]*d && p.sb[k] == sb[i]*d {
			p.dims[k] *= d
			p.sa[k], p.sb[k] = sa[i], sb[i]
			continue
		}
		p.dims = append(p.dims, d)
		p.sa = append(p.sa, sa[i])
		p.sb = append(p.sb, sb[i])
	}
	if len(p.dims) == 0 {
		p.dims, p.sa, p.sb = []int{1}, []int{0}, []int{0}
	}
	return p
}

const bBlock = 4096

// rows calls fn for each inner row segment [o, o+l) of the output in
// [lo,hi) (virtual row indices), with the operand offsets and inner strides.
func (p bplan) nrows() (rows, blocks, inner int) {
	inner = p.dims[len(p.dims)-1]
	blocks = (inner + bBlock - 1) / bBlock
	rows = p.n / inner
	return rows * blocks, blocks, inner
}

func (p bplan) row(v, blocks, inner int) (yo, ao, bo, l int) {
	r, blk := v/blocks, v%blocks
	k := len(p.dims) - 1
	for j := k - 1; j >= 0; j-- {
		idx := r % p.dims[j]
		r /= p.dims[j]
		ao += idx * p.sa[j]
		bo += idx * p.sb[j]
	}
	start := blk * bBlock
	l = min(bBlock, inner-start)
	yo = (v/blocks)*inner + start
	ao += start * p.sa[k]
	bo += start * p.sb[k]
	return
}

// workers is the worker count run uses for a per-element cost.
func (p bplan) workers(cost int) int {
	nv, _, inner := p.nrows()
	return parts(nv, cost*min(inner, bBlock))
}

func (p bplan) run(nw int, fn func(worker, yo, ao, bo, l, as, bs int)) {
	nv, blocks, inner := p.nrows()
	k := len(p.dims) - 1
	parallelFor(nv, nw, func(w, lo, hi int) {
		for v := lo; v < hi; v++ {
			yo, ao, bo, l := p.row(v, blocks, inner)
			fn(w, yo, ao, bo, l, p.sa[k], p.sb[k])
		}
	})
}

// runSlots is run over ns fixed slots of rows (slotFor): fn's first
// argument is the slot, not the worker.
func (p bplan) runSlots(ns int, fn func(slot, yo, ao, bo, l, as, bs int)) {
	nv, blocks, inner := p.nrows()
	k := len(p.dims) - 1
	slotFor(nv, ns, func(_, slot, lo, hi int) {
		for v := lo; v < hi; v++ {
			yo, ao, bo, l := p.row(v, blocks, inner)
			fn(slot, yo, ao, bo, l, p.sa[k], p.sb[k])
		}
	})
}

func checkShape[T Float](name string, s []T, shape []int) {
	checkLen(name, s, prod(shape...))
}

// Add sets y = a + b with broadcasting; y has the broadcast shape and may
// alias a or b if that operand has the broadcast shape.
func Add[T Float](a []T, aShape []int, b []T, bShape []int, y []T) {
	binary(a, aShape, b, bShape, y, false)
}

// Mul sets y = a ⊙ b with broadcasting; aliasing as for Add.
func Mul[T Float](a []T, aShape []int, b []T, bShape []int, y []T) {
	binary(a, aShape, b, bShape, y, true)
}

func binary[T Float](a []T, aShape []int, b []T, bShape []int, y []T, mul bool) {
	checkShape("binary a", a, aShape)
	checkShape("binary b", b, bShape)
	p := newPlan(aShape, bShape)
	checkLen("binary y", y, p.n)
	p.run(p.workers(1), func(_, yo, ao, bo, l, as, bs int) {
		ys := y[yo : yo+l]
		switch {
		case as == 1 && bs == 1:
			ax, bx := a[ao:ao+l], b[bo:bo+l]
			if mul {
				for i := range ys {
					ys[i] = ax[i] * bx[i]
				}
			} else {
				for i := range ys {
					ys[i] = ax[i] + bx[i]
				}
			}
		case as == 1:
			ax, bv := a[ao:ao+l], b[bo]
			if mul {
				for i := range ys {
					ys[i] = ax[i] * bv
				}
			} else {
				for i := range ys {
					ys[i] = ax[i] + bv
				}
			}
		case bs == 1:
			av, bx := a[ao], b[bo:bo+l]
			if mul {
				for i := range ys {
					ys[i] = av * bx[i]
				}
			} else {
				for i := range ys {
					ys[i] = av + bx[i]
				}
			}
		default:
			if mul {
				fill(ys, a[ao]*b[bo])
			} else {
				fill(ys, a[ao]+b[bo])
			}
		}
	})
}

// AddBackward sets da and db (either may be nil) to dy reduced over the
// axes along which a and b were broadcast. For an operand of the output's
// shape the gradient is dy itself: a caller may pass dy as that operand's
// gradient (no copy is made) or simply use dy in its place.
func AddBackward[T Float](aShape, bShape []int, dy, da, db []T, ws *Workspace[T]) {
	p := newPlan(aShape, bShape)
	checkLen("add dy", dy, p.n)
	if da != nil {
		reduceTo(p, p.sa, nil, nil, dy, da, prod(aShape...), ws)
	}
	if db != nil {
		reduceTo(p, p.sb, nil, nil, dy, db, prod(bShape...), ws)
	}
}

// MulBackward sets da = reduce(dy⊙b) and db = reduce(dy⊙a) (either may be
// nil), reducing over the broadcast axes.
func MulBackward[T Float](a []T, aShape []int, b []T, bShape []int, dy, da, db []T, ws *Workspace[T]) {
	p := newPlan(aShape, bShape)
	checkLen("mul dy", dy, p.n)
	if da != nil {
		checkShape("mul b", b, bShape)
		reduceTo(p, p.sa, b, p.sb, dy, da, prod(aShape...), ws)
	}
	if db != nil {
		checkShape("mul a", a, aShape)
		reduceTo(p, p.sb, a, p.sa, dy, db, prod(bShape...), ws)
	}
}

// reduceTo sets dst (strides st in the plan) to Σ dy ⊙ other (strides so),
// summing over broadcast axes; other == nil means ones.
func reduceTo[T Float](p bplan, st []int, other []T, so []int, dy, dst []T, n int, ws *Workspace[T]) {
	checkLen("broadcast grad", dst, n)
	// A plan with the target as first operand.
	q := bplan{dims: p.dims, sa: st, sb: so, n: p.n}
	if so == nil {
		q.sb = make([]int, len(st))
	}
	if n == p.n {
		// Not broadcast: element-wise.
		q.run(q.workers(1), func(_, yo, ao, bo, l, _, bs int) {
			d, g := dst[ao:ao+l], dy[yo:yo+l]
			switch {
			case other == nil:
				if &d[0] != &g[0] { // dst may alias dy
					copy(d, g)
				}
			case bs == 1:
				o := other[bo : bo+l]
				for i := range d {
					d[i] = g[i] * o[i]
				}
			default:
				ov := other[bo]
				for i := range d {
					d[i] = g[i] * ov
				}
			}
		})
		return
	}
	// A sum over broadcast rows: fixed slots of rows each sum into their
	// own partial, added in slot order (slotFor).
	nv, _, inner := q.nrows()
	ns := slots(nv, min(inner, bBlock))
	mk := ws.mark()
	defer ws.release(mk)
	partial := make([][]T, ns)
	partial[0] = dst[:n]
	clear(partial[0])
	for i := 1; i < ns; i++ {
		partial[i] = ws.get(n, true)
	}
	q.runSlots(ns, func(w, yo, ao, bo, l, as, bs int) {
		d, g := partial[w], dy[yo:yo+l]
		switch {
		case as == 1:
			dd := d[ao : ao+l]
			switch {
			case other == nil:
				axpyUnit(1, g, dd)
			case bs == 1:
				o := other[bo : bo+l]
				for i := range dd {
					dd[i] += g[i] * o[i]
				}
			default:
				axpyUnit(other[bo], g, dd)
			}
		default:
			switch {
			case other == nil:
				d[ao] += sum(g)
			case bs == 1:
				d[ao] += dot(g, other[bo:bo+l])
			default:
				d[ao] += other[bo] * sum(g)
			}
		}
	})
	if ns > 1 {
		reducePartials(dst[:n], partial[1:])
	}
}
