//go:build amd64 && !purego

package kernels

//go:generate sh -c "python3 gen_sgemm_amd64.py > sgemm_amd64.s"

import "golang.org/x/sys/cpu"

//go:noescape
func sgemmKernel12x32(kc int, a, b, c *float32, ldc int)

//go:noescape
func sgemmKernel12x32RA(kc int, a *float32, lda int, b, c *float32, ldc int)

// haveSgemmAsm reports whether the AVX-512 micro-kernel can run here.
var haveSgemmAsm = cpu.X86.HasAVX512F

func sgemmKernelAsm(kc int, a, b, c *float32, ldc int) { sgemmKernel12x32(kc, a, b, c, ldc) }

func sgemmKernelAsmRA(kc int, a *float32, lda int, b, c *float32, ldc int) {
	sgemmKernel12x32RA(kc, a, lda, b, c, ldc)
}
