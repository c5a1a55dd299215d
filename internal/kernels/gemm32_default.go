//go:build !openblas

package kernels

// gemm32 is the float32 GEMM of the default (pure Go + assembly) build: the
// packed GEMM with the micro-kernel of asmISA (AVX-512 or AVX2+FMA), gonum's
// Sgemm where there is none.
func gemm32(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if kern := sgemmKernelFor(asmISA); kern != nil {
		sgemmBlocked(kern, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	gonumImpl.Sgemm(trans(tA), trans(tB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// GEMMBackend names the float32 GEMM in use: "go-avx512", "go-avx2" or
// "gonum" in the default build, "openblas" with the openblas tag.
var GEMMBackend = func() string {
	if kern := sgemmKernelFor(cpuISA); kern != nil {
		return kern.name
	}
	return "gonum"
}()
