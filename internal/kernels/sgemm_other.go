//go:build !amd64 || purego

package kernels

const haveSgemmAsm = false

func sgemmKernelAsm(kc int, a, b, c *float32, ldc int) { panic("kernels: no assembly sgemm") }
