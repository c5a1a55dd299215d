package recon

import (
	"math"

	"gonum.org/v1/gonum/mat"
)

// alphas are the relative ridge terms a refit chooses from (λ = α times
// the mean diagonal of the Gram matrix of the kept features).
var alphas = []float64{1e-6, 1e-4, 1e-2, 1}

// noHeldAlpha is the ridge term when no rows were held apart to choose one
// (fewer than five calibration images).
const noHeldAlpha = 1e-2

// Fit reports one layer's refit.
type Fit struct {
	// Layer is the layer's output value.
	Layer string `json:"layer"`
	// Features kept of the layer's input features; Rows the sampled rows
	// the Gram matrix sums.
	Features int `json:"features"`
	Of       int `json:"of"`
	Rows     int `json:"rows"`
	// Alpha is the chosen relative ridge term; 0 when the plain cut was
	// best on the held-apart rows (the weights are then left as cut).
	Alpha float64 `json:"alpha"`
	// CutError and FitError are the squared errors of the layer's output
	// on the held-apart rows, relative to its energy, with the plain cut
	// and with the refit (weighted by the scale of a BatchNormalization
	// that follows). -1 when no rows were held apart.
	CutError float64 `json:"cut_error"`
	FitError float64 `json:"fit_error"`
}

// Refitted counts the fits that changed their layer's weights (a ridge
// term was chosen over the weights as they were).
func Refitted(fits []Fit) int {
	n := 0
	for _, f := range fits {
		if f.Alpha != 0 {
			n++
		}
	}
	return n
}

// sub returns the k×k submatrix of the d×d matrix g at rows and columns
// K, minus the same submatrix of h when h is not nil, plus lambda on the
// diagonal.
func sub(g, h []float64, d int, K []int, lambda float64) *mat.SymDense {
	k := len(K)
	out := make([]float64, k*k)
	for i, a := range K {
		row := g[a*d:]
		for j, b := range K {
			out[i*k+j] = row[b]
		}
		if h != nil {
			hr := h[a*d:]
			for j, b := range K {
				out[i*k+j] -= hr[b]
			}
		}
		out[i*k+i] += lambda
	}
	return mat.NewSymDense(k, out)
}

// meanDiag is the mean of the diagonal of a symmetric matrix.
func meanDiag(s *mat.SymDense) float64 {
	n := s.SymmetricDim()
	t := 0.0
	for i := range n {
		t += s.At(i, i)
	}
	return t / float64(max(n, 1))
}

// rows returns the rows K and columns O of the d×cout matrix a, minus those
// of b when b is not nil, plus lambda times those of c when c is not nil.
func rows(a, b, c []float64, cout int, K, O []int, lambda float64) *mat.Dense {
	out := mat.NewDense(len(K), len(O), nil)
	for i, f := range K {
		for j, o := range O {
			v := a[f*cout+o]
			if b != nil {
				v -= b[f*cout+o]
			}
			if c != nil {
				v += lambda * c[f*cout+o]
			}
			out.Set(i, j, v)
		}
	}
	return out
}

// ridge solves (H + λ'I)·W = rhs where H already holds λ on its diagonal.
func ridge(h *mat.SymDense, rhs *mat.Dense) (*mat.Dense, bool) {
	var ch mat.Cholesky
	if !ch.Factorize(h) {
		return nil, false
	}
	var w mat.Dense
	if err := ch.SolveTo(&w, rhs); err != nil {
		return nil, false
	}
	return &w, true
}

// heldError is the weighted squared error, on the held-apart rows, of the
// layer's outputs O computed from features K with weights w (|K|×|O|),
// relative to those outputs' energy.
func (l *layer) heldError(K, O []int, w *mat.Dense) float64 {
	st := l.st
	gv := sub(st.gv, nil, l.d, K, 0)
	var t mat.Dense
	t.Mul(gv, w)
	num, den := 0.0, 0.0
	for j, o := range O {
		e := st.qv[o]
		for i, f := range K {
			wi := w.At(i, j)
			e += wi*t.At(i, j) - 2*wi*st.gvw0[f*l.cout+o]
		}
		s2 := l.scale[o] * l.scale[o]
		num += s2 * math.Max(e, 0)
		den += s2 * st.qv[o]
	}
	if den <= 0 {
		return 0
	}
	return num / den
}

// refit returns the refitted weights (|K|×|O|, rows in K's order) of the
// layer's outputs O from its features K, and its report.
func (l *layer) refit(K, O []int) (*mat.Dense, Fit) {
	st := l.st
	f := Fit{Layer: l.key, Features: len(K), Of: l.d, Rows: st.n, CutError: -1, FitError: -1}
	cut := rows(l.w0, nil, nil, l.cout, K, O, 0)
	alpha := noHeldAlpha
	if st.nv > 0 {
		// Choose α on the held-apart rows, fitted on the others.
		f.CutError = l.heldError(K, O, cut)
		best := f.CutError
		alpha = 0
		gf := sub(st.g, st.gv, l.d, K, 0)
		m := meanDiag(gf)
		for _, a := range alphas {
			lam := a * m
			w, ok := ridge(sub(st.g, st.gv, l.d, K, lam), rows(st.gw0, st.gvw0, l.w0, l.cout, K, O, lam))
			if !ok {
				continue
			}
			if e := l.heldError(K, O, w); e < best {
				best, alpha = e, a
			}
		}
		f.FitError = best
	}
	f.Alpha = alpha
	if alpha == 0 {
		return cut, f
	}
	w, ok := l.solve(K, O, alpha)
	if !ok {
		f.Alpha, f.FitError = 0, f.CutError
		return cut, f
	}
	return w, f
}

// solve is the refit over all rows with relative ridge term alpha.
func (l *layer) solve(K, O []int, alpha float64) (*mat.Dense, bool) {
	st := l.st
	lam := alpha * meanDiag(sub(st.g, nil, l.d, K, 0))
	return ridge(sub(st.g, nil, l.d, K, lam), rows(st.gw0, nil, l.w0, l.cout, K, O, lam))
}
