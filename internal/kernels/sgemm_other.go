//go:build !amd64 || purego

package kernels

const haveSgemmAsm = false

func sgemmKernelAsm(kc int, a, b, c *float32, ldc int) { panic("kernels: no assembly sgemm") }

func sgemmKernelAsmRA(kc int, a *float32, lda int, b, c *float32, ldc int) {
	panic("kernels: no assembly sgemm")
}
