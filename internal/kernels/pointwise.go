package kernels

// Pointwise (1×1, stride 1, unpadded, ungrouped) convolutions on small
// planes run as one GEMM over the whole batch instead of one per image. With
// NCHW data, Y[n] = W·X[n] has only H·W columns, which wastes most of a
// 32-wide GEMM tile on 4×4 planes; worse, the weight gradient
// Σ_n dY[n]·X[n]ᵀ then re-reads and re-writes the whole M×C gradient once
// per image for a GEMM only H·W deep. Gathering the batch into C×(N·HW)
// layout makes both one deep GEMM. The copies cost O(N·C·HW) next to
// O(M·C·N·HW) flops. The GEMMs are split across workers by rows.

// batchedPointwiseMaxP is the largest plane (H·W) that takes the batched
// path: measured faster for 4×4 and 7×7 planes, slower for 8×8 and up.
const batchedPointwiseMaxP = 49

func useBatchedPointwise(s ConvShape) bool {
	return s.IsPointwise() && s.Group == 1 && s.H*s.W <= batchedPointwiseMaxP && s.N > 1
}

// toCNP gathers x (N×C×P) into xt (C×N·P). For P = 1 it is a transpose.
func toCNP[T Float](x []T, N, C, P int, xt []T) {
	NP := N * P
	if P == 1 {
		// Blocks of 8 images: x (N×C) → xt (C×N).
		nb := (N + 7) / 8
		parallelFor(nb, parts(nb, 8*C), func(_, lo, hi int) {
			n0, n1 := lo*8, min(hi*8, N)
			transpose(xt[n0:], N, x[n0*C:], C, n1-n0, C)
		})
		return
	}
	parallelFor(C, parts(C, N*P), func(_, lo, hi int) {
		for c := lo; c < hi; c++ {
			for n := 0; n < N; n++ {
				copySmall(xt[c*NP+n*P:c*NP+(n+1)*P], x[(n*C+c)*P:(n*C+c+1)*P])
			}
		}
	})
}

// copySmall is copy for the short rows of small planes, where a call of
// runtime.memmove costs more than the moves: the plane sizes of 4×4 and
// 2×2 are array copies, which the compiler turns into vector moves.
func copySmall[T Float](dst, src []T) {
	switch len(src) {
	case 4:
		*(*[4]T)(dst) = *(*[4]T)(src)
	case 16:
		*(*[16]T)(dst) = *(*[16]T)(src)
	default:
		if len(src) >= 16 {
			copy(dst, src)
			return
		}
		dst = dst[:len(src)]
		for i, v := range src {
			dst[i] = v
		}
	}
}

// fromCNP scatters xt (C×N·P) into x (N×C×P), adding bias[c] if not nil.
// For P = 1 it is a transpose.
func fromCNP[T Float](xt []T, N, C, P int, x, bias []T) {
	NP := N * P
	if P == 1 {
		// Blocks of 8 channels: xt (C×N) → x (N×C), then the bias.
		cb := (C + 7) / 8
		parallelFor(cb, parts(cb, 8*N), func(_, lo, hi int) {
			c0, c1 := lo*8, min(hi*8, C)
			transpose(x[c0:], C, xt[c0*N:], N, c1-c0, N)
		})
		if bias != nil {
			parallelFor(N, parts(N, C), func(_, lo, hi int) {
				for n := lo; n < hi; n++ {
					axpyUnit(1, bias[:C], x[n*C:(n+1)*C])
				}
			})
		}
		return
	}
	parallelFor(C, parts(C, N*P), func(_, lo, hi int) {
		for c := lo; c < hi; c++ {
			for n := 0; n < N; n++ {
				src, dst := xt[c*NP+n*P:c*NP+(n+1)*P], x[(n*C+c)*P:(n*C+c+1)*P]
				if bias != nil {
					affine(src, dst, 1, bias[c])
				} else {
					copySmall(dst, src)
				}
			}
		}
	})
}

func batchedPointwiseForward[T Float](s ConvShape, x, w, b, y []T, ws *Workspace[T]) {
	P := s.H * s.W
	NP := s.N * P
	mk := ws.mark()
	defer ws.release(mk)
	xt := ws.get(s.C*NP, false)
	yt := ws.get(s.M*NP, false)
	toCNP(x, s.N, s.C, P, xt)
	gemmPar(false, false, s.M, NP, s.C, 1, w, s.C, xt, NP, 0, yt, NP)
	fromCNP(yt, s.N, s.M, P, y, b)
}

func batchedPointwiseBackward[T Float](s ConvShape, x, w, dy, dx, dw []T, ws *Workspace[T]) {
	P := s.H * s.W
	NP := s.N * P
	mk := ws.mark()
	defer ws.release(mk)
	dyt := ws.get(s.M*NP, false)
	toCNP(dy, s.N, s.M, P, dyt)
	if dw != nil {
		xt := ws.get(s.C*NP, false)
		toCNP(x, s.N, s.C, P, xt)
		// dW (M×C) = dYt (M×NP) · Xtᵀ.
		gemmPar(false, true, s.M, s.C, NP, 1, dyt, NP, xt, NP, 0, dw, s.C)
	}
	if dx != nil {
		dxt := ws.get(s.C*NP, false)
		// dXt (C×NP) = Wᵀ (C×M) · dYt.
		gemmPar(true, false, s.C, NP, s.M, 1, w, s.C, dyt, NP, 0, dxt, NP)
		fromCNP(dxt, s.N, s.C, P, dx, nil)
	}
}
