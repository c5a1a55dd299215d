//go:build !amd64 || purego

package kernels

// sgemmKernelFor returns nil: there is no assembly micro-kernel.
func sgemmKernelFor(l isa) *sgemmKernel { return nil }
