package kernels

// Dropout in training mode zeroes each element with probability ratio and
// scales the survivors by 1/(1−ratio) (PyTorch and ONNX semantics). The
// mask is a pure function of (seed, element index), computed by a
// counter-based generator (SplitMix64), so it does not depend on the worker
// count and a step can be replayed. In inference mode Dropout is the
// identity and needs no kernel.

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Dropout sets y = x·mask/(1−ratio) and mask[i] = element i is kept.
// ratio must be in [0,1). y may alias x.
func Dropout[T Float](x, y []T, mask []bool, ratio float64, seed uint64) {
	checkLen("dropout y", y, len(x))
	if len(mask) < len(x) {
		panic("kernels: dropout: mask too short")
	}
	if ratio < 0 || ratio >= 1 {
		panic("kernels: dropout: ratio must be in [0,1)")
	}
	scale := T(1 / (1 - ratio))
	// Keep when the top 53 bits, as a uniform in [0,1), are >= ratio.
	thr := uint64(ratio * (1 << 53))
	base := splitmix(seed)
	elementwise(len(x), 8, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			keep := splitmix(base^uint64(i)*0xd1342543de82ef95)>>11 >= thr
			mask[i] = keep
			if keep {
				y[i] = x[i] * scale
			} else {
				y[i] = 0
			}
		}
	})
}

// DropoutBackward sets dx = dy·mask/(1−ratio). dx may alias dy.
func DropoutBackward[T Float](mask []bool, dy, dx []T, ratio float64) {
	checkLen("dropout dx", dx, len(dy))
	scale := T(1 / (1 - ratio))
	elementwise(len(dy), 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if mask[i] {
				dx[i] = dy[i] * scale
			} else {
				dx[i] = 0
			}
		}
	})
}
