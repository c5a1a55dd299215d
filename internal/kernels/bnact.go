package kernels

import "math"

// Fused BatchNormalization + activation. The activation of a BN output is
// the common CNN pattern (Conv→BN→ReLU/ReLU6/HardSwish), and both ops are
// memory-bound, so fusing them saves whole passes over the tensor: the
// forward writes act(BN(x)) directly, and the backward recomputes the
// pre-activation from x (one multiply-add) instead of storing it, turning
// dy into the BN output gradient on the fly. Unfused BN + Clip + their
// backwards make 13 tensor passes; fused, 8.

// ActKind selects the activation fused after batch normalization.
type ActKind int

const (
	ActNone      ActKind = iota // identity
	ActRelu                     // max(u, 0)
	ActClip                     // min(max(u, Lo), Hi); ReLU6 is Clip(0, 6)
	ActHardSwish                // u·clip(u/6 + 1/2, 0, 1)
)

// Act is an activation with its parameters.
type Act struct {
	Kind   ActKind
	Lo, Hi float64 // ActClip bounds (±Inf for a missing one)
}

func actFwd[T Float](k ActKind, lo, hi, u T) T {
	switch k {
	case ActRelu:
		return max(u, 0)
	case ActClip:
		return min(max(u, lo), hi)
	case ActHardSwish:
		return u * min(max(u*(1.0/6)+0.5, 0), 1)
	}
	return u
}

// actGrad returns dy·act'(u), with the conventions of the unfused
// backward kernels at the kinks.
func actGrad[T Float](k ActKind, lo, hi, u, dy T) T {
	switch k {
	case ActRelu:
		if u <= 0 {
			return 0
		}
	case ActClip:
		if u <= lo || u >= hi {
			return 0
		}
	case ActHardSwish:
		switch {
		case u < -3:
			return 0
		case u <= 3:
			return dy * (u*(1.0/3) + 0.5)
		}
	}
	return dy
}

// affineAct sets y = act(x·mul + add), with the activation switch hoisted
// out of the loops.
func affineAct[T Float](k ActKind, lo, hi T, x, y []T, mul, add T) {
	y = y[:len(x)]
	if is32[T]() && haveBNAsm() && k != ActHardSwish {
		l, h := float32(math.Inf(-1)), float32(math.Inf(1))
		switch k {
		case ActRelu:
			l = 0
		case ActClip:
			l, h = float32(lo), float32(hi)
		}
		bnAffineClamp32(as32(x), as32(y), float32(mul), float32(add), l, h)
		return
	}
	switch k {
	case ActRelu:
		for i, v := range x {
			y[i] = max(v*mul+add, 0)
		}
	case ActClip:
		for i, v := range x {
			y[i] = min(max(v*mul+add, lo), hi)
		}
	case ActHardSwish:
		for i, v := range x {
			u := v*mul + add
			y[i] = u * min(max(u*(1.0/6)+0.5, 0), 1)
		}
	default:
		for i, v := range x {
			y[i] = v*mul + add
		}
	}
}

// actGradBlock sets g = dy·act'(x·mul + add), branch-free where it can be.
func actGradBlock[T Float](k ActKind, lo, hi T, x, dy, g []T, mul, add T) {
	dy, g = dy[:len(x)], g[:len(x)]
	switch k {
	case ActRelu:
		for i, v := range x {
			d := dy[i]
			if v*mul+add <= 0 {
				d = 0
			}
			g[i] = d
		}
	case ActClip:
		for i, v := range x {
			u, d := v*mul+add, dy[i]
			if u <= lo {
				d = 0
			}
			if u >= hi {
				d = 0
			}
			g[i] = d
		}
	case ActHardSwish:
		for i, v := range x {
			g[i] = actGrad(k, lo, hi, v*mul+add, dy[i])
		}
	default:
		copy(g, dy)
	}
}

// BatchNormTrainAct is BatchNormTrain fused with act:
// y = act(scale·(x−mean)/sqrt(var+eps) + bias), with the same running
// statistics update and saved statistics. y must not alias x when a
// backward follows (BatchNormTrainActBackward reads x).
func BatchNormTrainAct[T Float](s BNShape, a BNAttrs, act Act, x, scale, bias, runMean, runVar, y, saveMean, saveInvStd []T) {
	bnTrain(s, a, act, x, scale, bias, runMean, runVar, y, saveMean, saveInvStd)
}

// bnBlock is the stack block size of the fused backward when dx is nil.
const bnBlock = 256

// maskGrad sets g = dy where lo < y < hi, else 0, and returns Σg and
// Σg·(x−mean). g may alias dy.
func maskGrad[T Float](y, dy, x, g []T, lo, hi, mean T) (T, T) {
	if is32[T]() && haveBNAsm() && len(y) >= 16 {
		a, b := bnMaskGrad32(as32(y), as32(dy), as32(x), as32(g), float32(lo), float32(hi), float32(mean))
		return T(a), T(b)
	}
	dy, x, g = dy[:len(y)], x[:len(y)], g[:len(y)]
	var s0, s1 T
	for i, v := range y {
		d := dy[i]
		if v <= lo {
			d = 0
		}
		if v >= hi {
			d = 0
		}
		g[i] = d
		s0 += d
		s1 += d * (x[i] - mean)
	}
	return s0, s1
}

// BatchNormTrainActBackward computes the gradients of
// y = act(BatchNormTrain(x)) (BatchNormTrainAct) given dy. For ActRelu and
// ActClip the activation mask is read from the output y, and the masked
// gradient is kept in dx between the two passes; for ActHardSwish and
// ActNone y is not used (may be nil) and the pre-activation is recomputed
// from x. Any of dx, dscale, dbias may be nil. dx may alias dy.
func BatchNormTrainActBackward[T Float](s BNShape, act Act, x, y, scale, bias, saveMean, saveInvStd, dy, dx, dscale, dbias []T) {
	bnCheck(s, "batchnorm backward", x, dy, dx)
	R := T(s.N * s.HW)
	lo, hi := T(act.Lo), T(act.Hi)
	k := act.Kind
	if k == ActRelu {
		lo, hi = 0, T(math.Inf(1))
	}
	masked := (k == ActRelu || k == ActClip) && dx != nil
	if masked {
		bnCheck(s, "batchnorm backward y", y)
	}
	bnChannels(s, 6, func(c int) {
		var gb [bnBlock]T
		mean, inv := saveMean[c], saveInvStd[c]
		mul := scale[c] * inv
		add := bias[c] - mean*mul
		var sg, sgx T
		for n := 0; n < s.N; n++ {
			o := (n*s.C + c) * s.HW
			if masked {
				a0, a1 := maskGrad(y[o:o+s.HW], dy[o:o+s.HW], x[o:o+s.HW], dx[o:o+s.HW], lo, hi, mean)
				sg += a0
				sgx += a1
				continue
			}
			for b := 0; b < s.HW; b += bnBlock {
				e := min(b+bnBlock, s.HW)
				g := gb[:e-b]
				actGradBlock(k, lo, hi, x[o+b:o+e], dy[o+b:o+e], g, mul, add)
				a0, a1 := sumDotCentered(g, x[o+b:o+e], mean)
				sg += a0
				sgx += a1
			}
		}
		ds := sgx * inv
		if dscale != nil {
			dscale[c] = ds
		}
		if dbias != nil {
			dbias[c] = sg
		}
		if dx == nil {
			return
		}
		c1 := -mul * inv * ds / R
		c0 := -mul*sg/R - c1*mean
		for n := 0; n < s.N; n++ {
			o := (n*s.C + c) * s.HW
			if masked {
				// dx holds the masked gradient g: dx = mul·g + c1·x + c0.
				bnFinish(x[o:o+s.HW], dx[o:o+s.HW], dx[o:o+s.HW], mul, c1, c0)
				continue
			}
			for b := 0; b < s.HW; b += bnBlock {
				e := min(b+bnBlock, s.HW)
				g := gb[:e-b]
				xs := x[o+b : o+e]
				actGradBlock(k, lo, hi, xs, dy[o+b:o+e], g, mul, add)
				bnFinish(xs, g, dx[o+b:o+e], mul, c1, c0)
			}
		}
	})
}

// bnFinish sets dx = a·g + c1·x + c0 (dx may alias g).
func bnFinish[T Float](x, g, dx []T, a, c1, c0 T) {
	if is32[T]() && haveBNAsm() && len(x) >= 16 {
		bnFinish32(as32(x), as32(g), as32(dx), float32(a), float32(c1), float32(c0))
		return
	}
	g, dx = g[:len(x)], dx[:len(x)]
	for i, v := range x {
		dx[i] = a*g[i] + c1*v + c0
	}
}
