//go:build !openblas

package kernels

// gemm32 is the float32 GEMM of the default (pure Go + assembly) build: the
// packed AVX-512 GEMM where the CPU has AVX-512, gonum's Sgemm elsewhere.
func gemm32(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if haveSgemmAsm && !forceGonumSgemm {
		sgemmBlocked(sgemmKernelAsm, sgemmKernelAsmRA, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	gonumImpl.Sgemm(trans(tA), trans(tB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// forceGonumSgemm routes float32 GEMMs to gonum (for comparisons).
var forceGonumSgemm = false

// GEMMBackend names the float32 GEMM in use: "go-avx512" or "gonum" in
// the default build, "openblas" with the openblas tag.
var GEMMBackend = func() string {
	if haveSgemmAsm {
		return "go-avx512"
	}
	return "gonum"
}()
