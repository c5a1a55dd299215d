//go:build !amd64 || purego

package kernels

// dwBlkKernelsFor returns nil: there is no assembly.
func dwBlkKernelsFor(l isa) *dwBlkKernels { return nil }
