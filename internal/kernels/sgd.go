package kernels

// SGDParams are the hyper-parameters of SGD with momentum, with the
// semantics of torch.optim.SGD (maximize=False):
//
//	g   = grad + WeightDecay·p                       (if WeightDecay ≠ 0)
//	buf = g                                          (first step)
//	buf = Momentum·buf + (1−Dampening)·g             (later steps)
//	g   = g + Momentum·buf   if Nesterov, else buf   (if Momentum ≠ 0)
//	p   = p − LR·g
//
// Weight decay is applied to exactly the tensors the caller passes a
// non-zero WeightDecay for (typically conv/linear weights, not BN
// parameters or biases). Nesterov requires Momentum > 0 and Dampening = 0,
// as in PyTorch.
type SGDParams struct {
	LR, Momentum, Dampening, WeightDecay float64
	Nesterov                             bool
}

// SGDStep updates p in place from grad (not modified). buf is the momentum
// buffer, updated in place; it is ignored (and may be nil) when Momentum is
// 0. first must be true on the first step for this tensor, when PyTorch
// initializes the buffer to the gradient.
func SGDStep[T Float](h SGDParams, p, grad, buf []T, first bool) {
	checkLen("sgd grad", grad, len(p))
	if h.Nesterov && (h.Momentum <= 0 || h.Dampening != 0) {
		panic("kernels: sgd: Nesterov momentum requires a momentum and zero dampening")
	}
	mom := T(h.Momentum)
	if mom != 0 {
		checkLen("sgd buf", buf, len(p))
	}
	lr, wd, damp := T(h.LR), T(h.WeightDecay), 1-T(h.Dampening)
	elementwise(len(p), 4, func(lo, hi int) {
		if n := (hi - lo) &^ 7; n > 0 && is32[T]() && asmISA >= isaAVX2 && mom != 0 && !first {
			// The common step in assembly, the same floats as below.
			flags := 0
			if wd != 0 {
				flags |= 1
			}
			if h.Nesterov {
				flags |= 2
			}
			p32, g32, b32 := as32(p[lo:hi]), as32(grad[lo:hi]), as32(buf[lo:hi])
			sgdMomentumAVX(&p32[0], &g32[0], &b32[0], n, float32(lr), float32(wd), float32(mom), float32(damp), flags)
			lo += n
		}
		for i := lo; i < hi; i++ {
			g := grad[i]
			if wd != 0 {
				g += wd * p[i]
			}
			if mom != 0 {
				b := g
				if !first {
					b = mom*buf[i] + damp*g
				}
				buf[i] = b
				if h.Nesterov {
					g += mom * b
				} else {
					g = b
				}
			}
			p[i] -= lr * g
		}
	})
}
