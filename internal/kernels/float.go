package kernels

import (
	"math"
	"unsafe"
)

// Float is the element type of every kernel: float32 for training, float64
// for gradient checks.
type Float interface{ ~float32 | ~float64 }

func is32[T Float]() bool { var z T; return unsafe.Sizeof(z) == 4 }

// as32 and as64 reinterpret a []T whose element size matches.
func as32[T Float](s []T) []float32 {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&s[0])), len(s))
}

func as64[T Float](s []T) []float64 {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*float64)(unsafe.Pointer(&s[0])), len(s))
}

func sqrt[T Float](x T) T { return T(math.Sqrt(float64(x))) }

func exp[T Float](x T) T {
	if is32[T]() {
		return T(exp32(float32(x)))
	}
	return T(math.Exp(float64(x)))
}

func log[T Float](x T) T { return T(math.Log(float64(x))) }

// exp32 is math.Exp in float64 and rounded; a dedicated float32 exp was not
// worth it for the sizes (logits, SE gates) where exp is used.
func exp32(x float32) float32 { return float32(math.Exp(float64(x))) }

func checkLen[T Float](name string, s []T, n int) {
	if len(s) < n {
		panic("kernels: " + name + ": slice too short")
	}
}

func prod(dims ...int) int {
	p := 1
	for _, d := range dims {
		p *= d
	}
	return p
}

func unsafeSlice(p *float32, n int) []float32 { return unsafe.Slice(p, n) }
