package kernels

import "fmt"

// GemmShape describes ONNX Gemm: Y (M×N) = Alpha·op(A)·op(B) + Beta·C,
// where op(A) is M×K (A is K×M when TransA) and op(B) is K×N (B is N×K when
// TransB). CShape is the shape of C: nil (no C), [] or [1] (scalar), [N],
// [1,N], [M,1], [M] with M==N ambiguity resolved as NumPy does (trailing
// axis), or [M,N].
type GemmShape struct {
	M, N, K        int
	TransA, TransB bool
	Alpha, Beta    float64
	CShape         []int
}

func (s GemmShape) lda() int {
	if s.TransA {
		return s.M
	}
	return s.K
}

func (s GemmShape) ldb() int {
	if s.TransB {
		return s.K
	}
	return s.N
}

func (s GemmShape) cPlan() (bplan, bool) {
	if s.CShape == nil {
		return bplan{}, false
	}
	if _, err := BroadcastShape([]int{s.M, s.N}, s.CShape); err != nil || len(s.CShape) > 2 {
		panic(fmt.Sprintf("kernels: gemm: C shape %v does not broadcast to [%d %d]", s.CShape, s.M, s.N))
	}
	return newPlan([]int{s.M, s.N}, s.CShape), true
}

// Gemm computes ONNX Gemm. c may be nil when CShape is nil.
func Gemm[T Float](s GemmShape, a, b, c, y []T) {
	checkLen("gemm a", a, s.M*s.K)
	checkLen("gemm b", b, s.K*s.N)
	checkLen("gemm y", y, s.M*s.N)
	beta := T(0)
	if p, ok := s.cPlan(); ok && s.Beta != 0 {
		checkShape("gemm c", c, s.CShape)
		// y = C broadcast, then y = αAB + 1·y.
		p.run(p.workers(1), func(_, yo, _, bo, l, _, bs int) {
			if bs == 1 {
				copy(y[yo:yo+l], c[bo:bo+l])
			} else {
				fill(y[yo:yo+l], c[bo])
			}
		})
		beta = T(s.Beta)
	}
	gemmPar(s.TransA, s.TransB, s.M, s.N, s.K, T(s.Alpha), a, s.lda(), b, s.ldb(), beta, y, s.N)
}

// gemmPar runs a GEMM across workers, splitting C by rows when it has at
// least as many rows as columns and by columns otherwise. Each worker packs
// only its share of the operand that is split, and the whole of the other,
// so splitting the larger dimension keeps the redundant packing small.
func gemmPar[T Float](tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m >= n {
		nw := parts(m, 2*n*k)
		parallelFor(m, nw, func(_, lo, hi int) {
			ao := lo * lda
			if tA {
				ao = lo
			}
			gemm(tA, tB, hi-lo, n, k, alpha, a[ao:], lda, b, ldb, beta, c[lo*ldc:], ldc)
		})
		return
	}
	// Split columns in chunks of 32 (one micro-kernel tile width).
	const q = 32
	nq := (n + q - 1) / q
	nw := parts(nq, 2*m*k*q)
	parallelFor(nq, nw, func(_, lo, hi int) {
		lo, hi = lo*q, min(hi*q, n)
		bo := lo
		if tB {
			bo = lo * ldb
		}
		gemm(tA, tB, m, hi-lo, k, alpha, a, lda, b[bo:], ldb, beta, c[lo:], ldc)
	})
}

// GemmBackward computes dA, dB, dC (any may be nil) of Gemm given dy.
// dC is Beta·dy reduced to CShape.
func GemmBackward[T Float](s GemmShape, a, b, dy, da, db, dc []T, ws *Workspace[T]) {
	checkLen("gemm dy", dy, s.M*s.N)
	al := T(s.Alpha)
	if da != nil {
		checkLen("gemm b", b, s.K*s.N)
		checkLen("gemm da", da, s.M*s.K)
		if !s.TransA { // dA (M×K) = α dY·op(B)ᵀ
			gemmPar(false, !s.TransB, s.M, s.K, s.N, al, dy, s.N, b, s.ldb(), 0, da, s.K)
		} else { // dA (K×M) = α op(B)·dYᵀ
			gemmPar(s.TransB, true, s.K, s.M, s.N, al, b, s.ldb(), dy, s.N, 0, da, s.M)
		}
	}
	if db != nil {
		checkLen("gemm a", a, s.M*s.K)
		checkLen("gemm db", db, s.K*s.N)
		if !s.TransB { // dB (K×N) = α op(A)ᵀ·dY
			gemmPar(!s.TransA, false, s.K, s.N, s.M, al, a, s.lda(), dy, s.N, 0, db, s.N)
		} else { // dB (N×K) = α dYᵀ·op(A)
			gemmPar(true, s.TransA, s.N, s.K, s.M, al, dy, s.N, a, s.lda(), 0, db, s.K)
		}
	}
	if dc != nil {
		p, ok := s.cPlan()
		if !ok {
			panic("kernels: gemm: dc given without CShape")
		}
		reduceTo(p, p.sb, nil, nil, dy, dc, prod(s.CShape...), ws)
		if s.Beta != 1 {
			for i := range dc[:prod(s.CShape...)] {
				dc[i] *= T(s.Beta)
			}
		}
	}
}

// MatMulShape returns the output shape of ONNX MatMul (NumPy matmul) for
// inputs of rank ≥ 1, with batch dimensions broadcast.
func MatMulShape(aShape, bShape []int) ([]int, error) {
	a, b := aShape, bShape
	if len(a) == 0 || len(b) == 0 {
		return nil, fmt.Errorf("kernels: matmul: scalar operand")
	}
	if len(a) == 1 {
		a = []int{1, a[0]}
	}
	if len(b) == 1 {
		b = []int{b[0], 1}
	}
	if a[len(a)-1] != b[len(b)-2] {
		return nil, fmt.Errorf("kernels: matmul: inner dimensions of %v and %v differ", aShape, bShape)
	}
	batch, err := BroadcastShape(a[:len(a)-2], b[:len(b)-2])
	if err != nil {
		return nil, err
	}
	out := append(batch, a[len(a)-2], b[len(b)-1])
	if len(aShape) == 1 {
		out = append(out[:len(out)-2], out[len(out)-1])
	}
	if len(bShape) == 1 {
		out = out[:len(out)-1]
	}
	return out, nil
}

// MatMul computes ONNX MatMul with NumPy semantics (rank-1 operands are
// promoted, batch dimensions broadcast).
func MatMul[T Float](a []T, aShape []int, b []T, bShape []int, y []T) {
	if _, err := MatMulShape(aShape, bShape); err != nil {
		panic(err.Error())
	}
	as, bs := aShape, bShape
	if len(as) == 1 {
		as = []int{1, as[0]}
	}
	if len(bs) == 1 {
		bs = []int{bs[0], 1}
	}
	M, K, N := as[len(as)-2], as[len(as)-1], bs[len(bs)-1]
	checkLen("matmul a", a, prod(as...))
	checkLen("matmul b", b, prod(bs...))
	ab, bb := as[:len(as)-2], bs[:len(bs)-2]
	if len(ab) == 0 && len(bb) == 0 {
		checkLen("matmul y", y, M*N)
		gemmPar(false, false, M, N, K, 1, a, K, b, N, 0, y, N)
		return
	}
	p := newPlan(ab, bb)
	checkLen("matmul y", y, p.n*M*N)
	nb := p.n
	parallelFor(nb, parts(nb, 2*M*N*K), func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			// Offsets of batch i in a and b.
			ao, bo := 0, 0
			r := i
			for j := len(p.dims) - 1; j >= 0; j-- {
				idx := r % p.dims[j]
				r /= p.dims[j]
				ao += idx * p.sa[j]
				bo += idx * p.sb[j]
			}
			gemm(false, false, M, N, K, 1, a[ao*M*K:], K, b[bo*K*N:], N, 0, y[i*M*N:], N)
		}
	})
}

// MatMulBackward computes dA = dY·Bᵀ and dB = Aᵀ·dY (either may be nil)
// for 2-D MatMul (A M×K, B K×N).
func MatMulBackward[T Float](M, K, N int, a, b, dy, da, db []T) {
	s := GemmShape{M: M, N: N, K: K, Alpha: 1}
	GemmBackward(s, a, b, dy, da, db, nil, nil)
}
