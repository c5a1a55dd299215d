//go:build !amd64 || purego

package kernels

func sgdMomentumAVX(p, grad, buf *float32, n int, lr, wd, mom, damp float32, flags int) {
	panic("kernels: no assembly sgd")
}
