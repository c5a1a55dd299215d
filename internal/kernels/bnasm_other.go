//go:build !amd64 || purego

package kernels

func haveBNAsm() bool { return false }

func bnStats32(x []float32, k float32) (float32, float32) { panic("kernels: no assembly") }

func bnAffineClamp32(x, y []float32, mul, add, lo, hi float32) { panic("kernels: no assembly") }

func bnMaskGrad32(y, dy, x, g []float32, lo, hi, mean float32) (float32, float32) {
	panic("kernels: no assembly")
}

func bnFinish32(x, g, dx []float32, a, c1, c0 float32) { panic("kernels: no assembly") }
