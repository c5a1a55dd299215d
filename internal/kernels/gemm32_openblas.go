//go:build openblas

package kernels

import "github.com/onnx-adapt/onnx-adapt/internal/kernels/cblas"

// gemm32 calls OpenBLAS's cblas_sgemm (row-major), single-threaded.
func gemm32(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	cblas.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// GEMMBackend names the float32 GEMM in use.
var GEMMBackend = "openblas"
