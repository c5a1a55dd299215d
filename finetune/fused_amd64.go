//go:build amd64 && !purego

package finetune

import "golang.org/x/sys/cpu"

// haveAVX reports whether the AVX2+FMA loops of fused_amd64.s can run.
var haveAVX = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func bnActFwdAVX(x, y *float32, n int, a, b, lo, hi float32)

//go:noescape
func sumShiftAVX(x *float32, n int, k float32) (s1, s2 float32)

//go:noescape
func bnActGradSumsAVX(x, dy *float32, n int, a, b, lo, hi, mean float32) (sg, sgx float32)

//go:noescape
func bnActGradDxAVX(x, dy, dx *float32, n int, a, b, lo, hi, c1, c0 float32)

//go:noescape
func clipGradAVX(y, dy, dx *float32, n int, lo, hi float32)

//go:noescape
func rowAffineClampAVX(x, a, b, y *float32, n int, lo, hi float32)

//go:noescape
func rowAccumShiftAVX(x, k, s1, s2 *float32, n int)

//go:noescape
func rowAccumGradAVX(x, dy, a, b, m, sg, sgx *float32, n int, lo, hi float32)

//go:noescape
func rowGradDxAVX(x, dy, a, b, c1, c0, dx *float32, n int, lo, hi float32)
