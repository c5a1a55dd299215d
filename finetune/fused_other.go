//go:build !amd64 || purego

package finetune

const haveAVX = false

func bnActFwdAVX(x, y *float32, n int, a, b, lo, hi float32)    { panic("unreachable") }
func sumShiftAVX(x *float32, n int, k float32) (s1, s2 float32) { panic("unreachable") }
func bnActGradSumsAVX(x, dy *float32, n int, a, b, lo, hi, mean float32) (sg, sgx float32) {
	panic("unreachable")
}
func bnActGradDxAVX(x, dy, dx *float32, n int, a, b, lo, hi, c1, c0 float32) { panic("unreachable") }
func clipGradAVX(y, dy, dx *float32, n int, lo, hi float32)                  { panic("unreachable") }

func rowAffineClampAVX(x, a, b, y *float32, n int, lo, hi float32) { panic("unreachable") }
func rowAccumShiftAVX(x, k, s1, s2 *float32, n int)                { panic("unreachable") }
func rowAccumGradAVX(x, dy, a, b, m, sg, sgx *float32, n int, lo, hi float32) {
	panic("unreachable")
}
func rowGradDxAVX(x, dy, a, b, c1, c0, dx *float32, n int, lo, hi float32) { panic("unreachable") }
