package kernels

// BNShape is the shape of a BatchNormalization input: N×C×HW, where HW is
// the product of the spatial dimensions (1 for N×C inputs).
type BNShape struct{ N, C, HW int }

func (s BNShape) len() int { return s.N * s.C * s.HW }

// BNAttrs are the attributes of BatchNormalization.
//
// Momentum has ONNX semantics: running = running·Momentum +
// batch·(1−Momentum), so ONNX's default 0.9 equals PyTorch's momentum=0.1.
//
// The running variance is updated, as PyTorch does, with the unbiased
// batch variance (Σ(x−mean)²/(R−1), R = N·HW), while the normalization
// itself uses the biased one (Σ(x−mean)²/R) as both ONNX and PyTorch do.
// Set BiasedRunningVar to update with the biased variance instead, as the
// ONNX reference implementation of training-mode BatchNormalization does.
type BNAttrs struct {
	Epsilon          float64
	Momentum         float64
	BiasedRunningVar bool
}

// channel calls fn for each channel c in parallel with the N slices of
// channel c (one per image) of each of the given tensors.
func bnChannels(s BNShape, cost int, fn func(c int)) {
	parallelFor(s.C, parts(s.C, cost*s.N*s.HW), func(_, lo, hi int) {
		for c := lo; c < hi; c++ {
			fn(c)
		}
	})
}

func bnCheck[T Float](s BNShape, name string, ts ...[]T) {
	for _, t := range ts {
		if t != nil {
			checkLen(name, t, s.len())
		}
	}
}

// BatchNormTrain normalizes x with its batch statistics (training mode):
// y = scale·(x−mean)/sqrt(var+eps) + bias with the biased batch variance.
// It updates runMean and runVar in place (see BNAttrs) unless they are nil,
// and stores the batch mean and 1/sqrt(var+eps) per channel in saveMean and
// saveInvStd for BatchNormTrainBackward. y may alias x.
func BatchNormTrain[T Float](s BNShape, a BNAttrs, x, scale, bias, runMean, runVar, y, saveMean, saveInvStd []T) {
	bnTrain(s, a, Act{}, x, scale, bias, runMean, runVar, y, saveMean, saveInvStd)
}

func bnTrain[T Float](s BNShape, a BNAttrs, act Act, x, scale, bias, runMean, runVar, y, saveMean, saveInvStd []T) {
	bnCheck(s, "batchnorm", x, y)
	lo, hi := T(act.Lo), T(act.Hi)
	R := s.N * s.HW
	mom := T(a.Momentum)
	bnChannels(s, 3, func(c int) {
		// One pass with a shift for accuracy: Σ(x−k), Σ(x−k)².
		k := x[c*s.HW]
		var s1, s2 T
		for n := 0; n < s.N; n++ {
			xs := x[(n*s.C+c)*s.HW : (n*s.C+c+1)*s.HW]
			if is32[T]() && haveBNAsm() {
				a1, a2 := bnStats32(as32(xs), float32(k))
				s1 += T(a1)
				s2 += T(a2)
				continue
			}
			var a1, a2, b1, b2 T
			i := 0
			for ; i+2 <= len(xs); i += 2 {
				d0, d1 := xs[i]-k, xs[i+1]-k
				a1 += d0
				a2 += d0 * d0
				b1 += d1
				b2 += d1 * d1
			}
			if i < len(xs) {
				d := xs[i] - k
				a1 += d
				a2 += d * d
			}
			s1 += a1 + b1
			s2 += a2 + b2
		}
		m1 := s1 / T(R)
		mean := k + m1
		variance := s2/T(R) - m1*m1
		if variance < 0 {
			variance = 0
		}
		inv := 1 / sqrt(variance+T(a.Epsilon))
		saveMean[c], saveInvStd[c] = mean, inv
		if runMean != nil {
			runMean[c] = runMean[c]*mom + mean*(1-mom)
		}
		if runVar != nil {
			v := variance
			if !a.BiasedRunningVar && R > 1 {
				v = variance * T(R) / T(R-1)
			}
			runVar[c] = runVar[c]*mom + v*(1-mom)
		}
		mul := scale[c] * inv
		add := bias[c] - mean*mul
		for n := 0; n < s.N; n++ {
			o := (n*s.C + c) * s.HW
			affineAct(act.Kind, lo, hi, x[o:o+s.HW], y[o:o+s.HW], mul, add)
		}
	})
}

// affine sets y = x·a + b.
func affine[T Float](x, y []T, a, b T) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = v*a + b
	}
}

// BatchNormTrainBackward computes the gradients of training-mode batch
// normalization, with the batch statistics treated as functions of x.
// Any of dx, dscale, dbias may be nil. dx may alias dy.
func BatchNormTrainBackward[T Float](s BNShape, x, scale, saveMean, saveInvStd, dy, dx, dscale, dbias []T) {
	bnCheck(s, "batchnorm backward", x, dy, dx)
	R := T(s.N * s.HW)
	bnChannels(s, 4, func(c int) {
		mean, inv := saveMean[c], saveInvStd[c]
		var sdy, sdyx T
		for n := 0; n < s.N; n++ {
			o := (n*s.C + c) * s.HW
			a, b := sumDotCentered(dy[o:o+s.HW], x[o:o+s.HW], mean)
			sdy += a
			sdyx += b
		}
		ds := sdyx * inv // dscale
		if dscale != nil {
			dscale[c] = ds
		}
		if dbias != nil {
			dbias[c] = sdy
		}
		if dx == nil {
			return
		}
		// dx = a·(dy − sdy/R − xhat·ds/R) = a·dy + c1·x + c0.
		a := scale[c] * inv
		c1 := -a * inv * ds / R
		c0 := -a*sdy/R - c1*mean
		for n := 0; n < s.N; n++ {
			o := (n*s.C + c) * s.HW
			bnFinish(x[o:o+s.HW], dy[o:o+s.HW], dx[o:o+s.HW], a, c1, c0)
		}
	})
}

// sumDotCentered returns Σdy and Σdy·(x−mean).
func sumDotCentered[T Float](dy, x []T, mean T) (T, T) {
	x = x[:len(dy)]
	var a0, a1, b0, b1 T
	i := 0
	for ; i+2 <= len(dy); i += 2 {
		a0 += dy[i]
		a1 += dy[i+1]
		b0 += dy[i] * (x[i] - mean)
		b1 += dy[i+1] * (x[i+1] - mean)
	}
	if i < len(dy) {
		a0 += dy[i]
		b0 += dy[i] * (x[i] - mean)
	}
	return a0 + a1, b0 + b1
}

// BatchNormInfer normalizes x with the given (running) statistics:
// y = scale·(x−mean)/sqrt(variance+eps) + bias. y may alias x.
func BatchNormInfer[T Float](s BNShape, a BNAttrs, x, scale, bias, mean, variance, y []T) {
	bnCheck(s, "batchnorm", x, y)
	bnChannels(s, 2, func(c int) {
		mul := scale[c] / sqrt(variance[c]+T(a.Epsilon))
		add := bias[c] - mean[c]*mul
		for n := 0; n < s.N; n++ {
			o := (n*s.C + c) * s.HW
			affine(x[o:o+s.HW], y[o:o+s.HW], mul, add)
		}
	})
}

// BatchNormInferBackward computes the gradients of frozen (inference-mode)
// batch normalization, whose statistics are constants. Any of dx, dscale,
// dbias may be nil; x is needed only for dscale. dx may alias dy.
func BatchNormInferBackward[T Float](s BNShape, a BNAttrs, x, scale, mean, variance, dy, dx, dscale, dbias []T) {
	bnCheck(s, "batchnorm backward", x, dy, dx)
	bnChannels(s, 3, func(c int) {
		inv := 1 / sqrt(variance[c]+T(a.Epsilon))
		if dscale != nil || dbias != nil {
			var sdy, sdyx T
			for n := 0; n < s.N; n++ {
				o := (n*s.C + c) * s.HW
				if dscale != nil {
					a, b := sumDotCentered(dy[o:o+s.HW], x[o:o+s.HW], mean[c])
					sdy += a
					sdyx += b
				} else {
					sdy += sum(dy[o : o+s.HW])
				}
			}
			if dscale != nil {
				dscale[c] = sdyx * inv
			}
			if dbias != nil {
				dbias[c] = sdy
			}
		}
		if dx != nil {
			mul := scale[c] * inv
			for n := 0; n < s.N; n++ {
				o := (n*s.C + c) * s.HW
				affine(dy[o:o+s.HW], dx[o:o+s.HW], mul, 0)
			}
		}
	})
}
