package kernels

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

var gonumImpl gonum.Implementation

func trans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// gemm computes, in row-major storage, C = alpha·op(A)·op(B) + beta·C with
// op(A) m×k, op(B) k×n and C m×n. It runs on the calling goroutine only
// when the backend allows it (see gemm32).
func gemm[T Float](tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		if beta == 0 {
			for i := 0; i < m; i++ {
				clear(c[i*ldc : i*ldc+n])
			}
		} else if beta != 1 {
			for i := 0; i < m; i++ {
				for j := range c[i*ldc : i*ldc+n] {
					c[i*ldc+j] *= beta
				}
			}
		}
		return
	}
	if is32[T]() {
		gemm32(tA, tB, m, n, k, float32(alpha), as32(a), lda, as32(b), ldb, float32(beta), as32(c), ldc)
		return
	}
	gonumImpl.Dgemm(trans(tA), trans(tB), m, n, k, float64(alpha), as64(a), lda, as64(b), ldb, float64(beta), as64(c), ldc)
}
