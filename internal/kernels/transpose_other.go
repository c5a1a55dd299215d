//go:build !amd64 || purego

package kernels

func interleave8(dst *float32, ldd int, src *float32, lds, n int) {
	panic("kernels: no assembly transposition")
}

func deinterleave8(dst *float32, ldd int, src *float32, n int) {
	panic("kernels: no assembly transposition")
}
