package kernels

import "math"

// Element-wise activations. Forward functions allow y to alias x; backward
// functions allow dx to alias dy. Where the derivative can be read off the
// output (Relu, Clip, HardSigmoid, Sigmoid) the backward takes y rather than
// x, so the caller may run the forward in place and drop x.

// elementwise runs fn over [0,n) in parallel chunks.
func elementwise(n, cost int, fn func(lo, hi int)) {
	parallelFor(n, parts(n, cost), func(_, lo, hi int) { fn(lo, hi) })
}

// Relu sets y = max(x, 0).
func Relu[T Float](x, y []T) {
	checkLen("relu y", y, len(x))
	elementwise(len(x), 1, func(lo, hi int) {
		if is32[T]() && haveBNAsm() {
			bnAffineClamp32(as32(x[lo:hi]), as32(y[lo:hi]), 1, 0, 0, float32(math.Inf(1)))
			return
		}
		ys := y[lo:hi]
		for i, v := range x[lo:hi] {
			ys[i] = max(v, 0)
		}
	})
}

// ReluBackward sets dx = dy where y > 0, else 0.
func ReluBackward[T Float](y, dy, dx []T) {
	checkLen("relu dy", dy, len(y))
	checkLen("relu dx", dx, len(y))
	elementwise(len(y), 1, func(lo, hi int) {
		dys, dxs := dy[lo:hi], dx[lo:hi]
		for i, v := range y[lo:hi] {
			// Conditional moves, not branches: the sign of a
			// pre-activation is unpredictable.
			d := dys[i]
			if v <= 0 {
				d = 0
			}
			dxs[i] = d
		}
	})
}

// Clip sets y = min(max(x, lo), hi) (ONNX Clip; ReLU6 is Clip(0, 6)).
// Pass ±Inf for a missing bound.
func Clip[T Float](x, y []T, lo, hi T) {
	checkLen("clip y", y, len(x))
	elementwise(len(x), 1, func(a, b int) {
		if is32[T]() && haveBNAsm() {
			bnAffineClamp32(as32(x[a:b]), as32(y[a:b]), 1, 0, float32(lo), float32(hi))
			return
		}
		ys := y[a:b]
		for i, v := range x[a:b] {
			ys[i] = min(max(v, lo), hi)
		}
	})
}

// ClipBackward sets dx = dy where lo < y < hi, else 0, as PyTorch's
// hardtanh does (the gradient is 0 at the bounds).
func ClipBackward[T Float](y, dy, dx []T, lo, hi T) {
	checkLen("clip dy", dy, len(y))
	checkLen("clip dx", dx, len(y))
	elementwise(len(y), 1, func(a, b int) {
		dys, dxs := dy[a:b], dx[a:b]
		for i, v := range y[a:b] {
			d := dys[i]
			if v <= lo {
				d = 0
			}
			if v >= hi {
				d = 0
			}
			dxs[i] = d
		}
	})
}

// HardSigmoid sets y = max(0, min(1, alpha·x + beta)) (ONNX defaults
// alpha = 0.2, beta = 0.5; PyTorch's hardsigmoid is alpha = 1/6).
func HardSigmoid[T Float](x, y []T, alpha, beta T) {
	checkLen("hardsigmoid y", y, len(x))
	elementwise(len(x), 2, func(lo, hi int) {
		ys := y[lo:hi]
		for i, v := range x[lo:hi] {
			ys[i] = min(max(alpha*v+beta, 0), 1)
		}
	})
}

// HardSigmoidBackward sets dx = alpha·dy where 0 < y < 1, else 0.
func HardSigmoidBackward[T Float](y, dy, dx []T, alpha T) {
	checkLen("hardsigmoid dy", dy, len(y))
	checkLen("hardsigmoid dx", dx, len(y))
	elementwise(len(y), 1, func(lo, hi int) {
		dys, dxs := dy[lo:hi], dx[lo:hi]
		for i, v := range y[lo:hi] {
			d := alpha * dys[i]
			if v <= 0 {
				d = 0
			}
			if v >= 1 {
				d = 0
			}
			dxs[i] = d
		}
	})
}

// HardSwish sets y = x·max(0, min(1, x/6 + 1/2)) (ONNX HardSwish).
func HardSwish[T Float](x, y []T) {
	checkLen("hardswish y", y, len(x))
	elementwise(len(x), 3, func(lo, hi int) {
		ys := y[lo:hi]
		for i, v := range x[lo:hi] {
			ys[i] = v * min(max(v*(1.0/6)+0.5, 0), 1)
		}
	})
}

// HardSwishBackward sets dx = dy·d/dx hardswish(x): 0 for x < −3, 1 for
// x > 3 and x/3 + 1/2 for −3 ≤ x ≤ 3, the branches PyTorch's
// hardswish_backward uses at the kinks.
func HardSwishBackward[T Float](x, dy, dx []T) {
	checkLen("hardswish dy", dy, len(x))
	checkLen("hardswish dx", dx, len(x))
	elementwise(len(x), 2, func(lo, hi int) {
		dys, dxs := dy[lo:hi], dx[lo:hi]
		for i, v := range x[lo:hi] {
			switch {
			case v < -3:
				dxs[i] = 0
			case v <= 3:
				dxs[i] = dys[i] * (v*(1.0/3) + 0.5)
			default:
				dxs[i] = dys[i]
			}
		}
	})
}

// Sigmoid sets y = 1/(1+exp(−x)).
func Sigmoid[T Float](x, y []T) {
	checkLen("sigmoid y", y, len(x))
	elementwise(len(x), 20, func(lo, hi int) {
		ys := y[lo:hi]
		for i, v := range x[lo:hi] {
			ys[i] = 1 / (1 + exp(-v))
		}
	})
}

// SigmoidBackward sets dx = dy·y·(1−y).
func SigmoidBackward[T Float](y, dy, dx []T) {
	checkLen("sigmoid dy", dy, len(y))
	checkLen("sigmoid dx", dx, len(y))
	elementwise(len(y), 2, func(lo, hi int) {
		dys, dxs := dy[lo:hi], dx[lo:hi]
		for i, v := range y[lo:hi] {
			dxs[i] = dys[i] * v * (1 - v)
		}
	})
}
