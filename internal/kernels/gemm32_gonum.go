//go:build !openblas

package kernels

// gemm32 is the float32 GEMM of the default build.
func gemm32(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gonumImpl.Sgemm(trans(tA), trans(tB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// GEMMBackend names the float32 GEMM in use.
const GEMMBackend = "gonum"
