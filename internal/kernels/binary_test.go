package kernels

import (
	"fmt"
	"testing"
)

// naiveBroadcast applies op elementwise with NumPy broadcasting by index.
func naiveBroadcast(a []float64, as []int, b []float64, bs []int, op func(x, y float64) float64) ([]float64, []int) {
	out, err := BroadcastShape(as, bs)
	if err != nil {
		panic(err)
	}
	n := prod(out...)
	y := make([]float64, n)
	sa, sb := stridesFor(as, out), stridesFor(bs, out)
	for i := 0; i < n; i++ {
		r, ia, ib := i, 0, 0
		for d := len(out) - 1; d >= 0; d-- {
			idx := r % out[d]
			r /= out[d]
			ia += idx * sa[d]
			ib += idx * sb[d]
		}
		y[i] = op(a[ia], b[ib])
	}
	return y, out
}

var broadcastCases = [][2][]int{
	{{2, 3, 4, 5}, {2, 3, 4, 5}},
	{{2, 3, 4, 5}, {2, 3, 1, 1}}, // squeeze-excite
	{{2, 3, 1, 1}, {2, 3, 4, 5}},
	{{2, 3, 4, 5}, {1, 3, 1, 1}}, // per-channel constant
	{{2, 3, 4, 5}, {3, 1, 1}},
	{{2, 3, 4, 5}, {}}, // scalar
	{{1}, {2, 3, 4, 5}},
	{{2, 3, 4, 5}, {5}},
	{{2, 1, 4, 1}, {1, 3, 1, 5}}, // both broadcast
	{{2, 3, 4100}, {2, 1, 4100}}, // inner rows longer than one block
	{{3, 1}, {1, 4}},
}

func TestBroadcastAddMul(t *testing.T) {
	for i, tc := range broadcastCases {
		for _, par := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v*%v/par=%v", tc[0], tc[1], par), func(t *testing.T) {
				if par {
					forceParallel(t)
				}
				as, bs := tc[0], tc[1]
				rng := newRNG(uint64(500 + i))
				a, b := randSlice(rng, prod(as...)), randSlice(rng, prod(bs...))
				a0, b0 := clone(a), clone(b)
				for _, mul := range []bool{false, true} {
					op := func(x, y float64) float64 { return x + y }
					fwd, name := Add[float64], "add"
					if mul {
						op = func(x, y float64) float64 { return x * y }
						fwd, name = Mul[float64], "mul"
					}
					want, out := naiveBroadcast(a, as, b, bs, op)
					y := make([]float64, prod(out...))
					fwd(a, as, b, bs, y)
					if e := relErr(y, want); e > 0 {
						t.Errorf("%s forward error %.3g", name, e)
					}
					unchanged(t, "a", a, a0)
					unchanged(t, "b", b, b0)
					r := randSlice(rng, len(y))
					da, db := make([]float64, len(a)), make([]float64, len(b))
					fill(da, 3)
					fill(db, 3)
					ws := NewWorkspace[float64](0)
					if mul {
						MulBackward(a, as, b, bs, r, da, db, ws)
					} else {
						AddBackward(as, bs, r, da, db, ws)
					}
					if !mul && prod(as...) == len(y) {
						// Aliasing dy as da is allowed for a full-shape operand.
						r2 := clone(r)
						AddBackward(as, bs, r2, r2, nil, ws)
						if relErr(r2, r) != 0 {
							t.Errorf("aliased AddBackward changed dy")
						}
					}
					if len(y) > 5000 {
						continue // the gradient check is the same code; keep it fast
					}
					fdCheck(t, func() float64 { fwd(a, as, b, bs, y); return dotf(r, y) },
						gradInput{"a", a, da}, gradInput{"b", b, db})
				}
			})
		}
	}
}

func TestBroadcastShapeError(t *testing.T) {
	if _, err := BroadcastShape([]int{2, 3}, []int{4, 3}); err == nil {
		t.Error("BroadcastShape([2 3],[4 3]) = nil error")
	}
}
