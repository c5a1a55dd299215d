//go:build !amd64 || purego

package kernels

// dwBlkKernelsFor returns nil: there is no assembly.
func dwBlkKernelsFor(l isa) *dwBlkKernels { return nil }

func dwTiny4AVX2(y, x, cols, bias *float32, pairs, n, stride int) { panic("kernels: no assembly") }

func dwTiny4GradAVX2(gr, dy, x *float32, pairs, n, stride int) { panic("kernels: no assembly") }
