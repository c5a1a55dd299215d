package finetune

import (
	"math"
	"slices"

	"github.com/onnx-adapt/onnx-adapt/internal/kernels"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// BatchNormalization followed by its only consumer, a Relu, Clip or
// HardSwish, runs as one fused step:
//
//   - forward: batch statistics, then y = act(a·x + b) in one pass, with
//     a = γ/σ and b = β − μ·a; the normalised z = a·x + b is never stored
//     (one activation buffer less per layer);
//   - backward: g = dy·act'(z), with z recomputed from x, feeds the
//     batch-norm gradient directly, so the activation's gradient pass and
//     buffer disappear. The derivative masks are computed from sign bits,
//     without branches: with ReLU6 about half the elements are clamped, and
//     a branch per element mispredicts half the time (it made the separate
//     Clip backward the costliest kernel of a MobileNetV2 step).
//
// z is computed with one FMA in the assembly and as a rounded product plus
// b in Go (the explicit conversion keeps the compiler from fusing it on
// some architectures and not others), the same way in the forward and
// backward passes, so the masks agree with the forward clamp exactly.
//
// The convention at the kinks is the kernels' (and PyTorch's): the
// gradient of Relu and Clip is 0 where z is at a bound; HardSwish uses
// z/3 + 1/2 on [−3, 3].

// fusedAct returns the activation node that may be fused into the
// BatchNormalization n, or nil.
func (b *builder[T]) fusedAct(n *onnxio.Node) *onnxio.Node {
	out := n.Output(0)
	if out == nil || len(out.Consumers()) != 1 || b.outputs[out] {
		return nil
	}
	for _, o := range n.Outputs()[1:] {
		if o != nil {
			return nil
		}
	}
	a := out.Consumers()[0]
	if !a.DefaultDomain() || a.Input(0) != out || a.Output(0) == nil {
		return nil
	}
	switch a.Op {
	case "Relu", "HardSwish":
		return a
	case "Clip":
		for i := 1; i <= 2; i++ {
			if a.Input(i) != nil && a.Input(i) == out {
				return nil
			}
		}
		return a
	}
	return nil
}

type bnActStep[T Float] struct {
	bnStep[T]
	act      unaryKind
	identity bool // no activation (Clip to ±Inf)
	lo, hi   T
	mul      []T // a = γ/σ per channel, of the last forward
	add      []T // b = β − μ·a
	// Per-channel scratch of the small-plane path (see smallHW).
	acc1, acc2 []T
	// Per-element scratch of its vector form (float32 with AVX2, Relu or
	// Clip): the per-channel a, b, shift or mean, accumulators and dx
	// coefficients expanded over the plane, C·HW values each.
	ea, eb, ek, es1, es2, ec1, ec0 []float32
}

// smallHW is the plane size up to which the fused step walks the tensor
// image by image across channels (contiguous memory, per-channel
// accumulators) instead of channel by channel: for the 1×1 to 4×4 planes
// at the end of a network the per-plane loop and call overhead would cost
// more than the arithmetic.
const smallHW = 16

// newBNAct builds the fused step from the BN step st and its activation
// node (whose output becomes the step's output); a nil act is the
// identity (Clip with infinite bounds).
func newBNAct[T Float](b *builder[T], st *bnStep[T], act *onnxio.Node) (step[T], error) {
	f := &bnActStep[T]{bnStep: *st, lo: T(math.Inf(-1)), hi: T(math.Inf(1)), act: uClip}
	if act == nil {
		f.identity = true
		return f.finish(b, st.out[0])
	}
	y, err := b.slot(act.Output(0))
	if err != nil {
		return nil, err
	}
	switch act.Op {
	case "Relu":
		f.act, f.lo = uRelu, 0
	case "HardSwish":
		f.act = uHardSwish
	case "Clip":
		f.act = uClip
		lo, hi, err := clipBounds(b, act)
		if err != nil {
			return nil, err
		}
		f.lo, f.hi = T(lo), T(hi)
	}
	if !slices.Equal(y.shape, st.in[0].shape) {
		return nil, unsupported(act, "output shape %v differs from its input %v", y.shape, st.in[0].shape)
	}
	b.fused[act] = true
	return f.finish(b, y)
}

// finish sets the fused step's output and buffers.
func (f *bnActStep[T]) finish(b *builder[T], y *slot[T]) (step[T], error) {
	st := &f.bnStep
	f.out = []*slot[T]{y}
	// In place when the input is not needed afterwards (inference; in
	// training the backward pass reads it, so the planner keeps it apart):
	// every pass reads a channel's input before writing its output.
	f.inplace = []int{0}
	f.alias = make([]aliasKind, len(f.in))
	f.alias[0] = aliasInPlace
	f.mul, f.add = make([]T, st.s.C), make([]T, st.s.C)
	f.acc1, f.acc2 = make([]T, st.s.C), make([]T, st.s.C)
	if f.vecSmall() {
		n := st.s.C * st.s.HW
		f.ea, f.eb, f.ek, f.es1, f.es2, f.ec1, f.ec0 = make([]float32, n), make([]float32, n),
			make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	}
	return f, nil
}

func (f *bnActStep[T]) saved() (ins, outs []int) { return []int{0}, nil }

func (f *bnActStep[T]) forward(e *Engine[T], train bool) {
	x, scale, bias, mean, vr := f.in[0].data, f.in[1].data, f.in[2].data, f.in[3].data, f.in[4].data
	y := f.out[0].data
	f.usedBatch = f.nodeTraining || (train && !f.freeze)
	update := f.usedBatch && train && f.in[3].kind == kBuffer && f.in[4].kind == kBuffer
	s := f.s
	R := s.N * s.HW
	if s.HW <= smallHW {
		f.forwardSmall(x, y, scale, bias, mean, vr, update)
		return
	}
	kernels.Parallel(s.C, 4*s.N*s.HW, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			var s1, s2, k T
			if f.usedBatch {
				s1, s2, k = channelSums(x, s, c)
			}
			f.setStats(c, s1, s2, k, R, scale, bias, mean, vr, update)
			a, bb := f.mul[c], f.add[c]
			for n := 0; n < s.N; n++ {
				o := (n*s.C + c) * s.HW
				actForward(f.act, x[o:o+s.HW], y[o:o+s.HW], a, bb, f.lo, f.hi)
			}
		}
	})
}

// channelStats returns the mean and biased variance of channel c, from
// channelSums as setStats computes them.
func channelStats[T Float](x []T, s kernels.BNShape, c int) (mean, variance T) {
	s1, s2, k := channelSums(x, s, c)
	R := T(s.N * s.HW)
	m1 := s1 / R
	variance = s2/R - m1*m1
	if variance < 0 {
		variance = 0
	}
	return k + m1, variance
}

// channelSums returns the sums s1 and s2 of the differences of channel c's
// values from a shift k, and of their squares (the kernels' one-pass
// formula, shifted for accuracy).
func channelSums[T Float](x []T, s kernels.BNShape, c int) (s1, s2, k T) {
	k = x[c*s.HW]
	for n := 0; n < s.N; n++ {
		xs := x[(n*s.C+c)*s.HW : (n*s.C+c+1)*s.HW]
		if x32, ok := any(xs).([]float32); ok && haveAVX && len(xs) > 0 {
			a, b := sumShiftAVX(&x32[0], len(xs), float32(k))
			s1 += T(a)
			s2 += T(b)
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
	return s1, s2, k
}

// actForward sets y = act(a·x + b).
func actForward[T Float](act unaryKind, x, y []T, a, b, lo, hi T) {
	y = y[:len(x)]
	if x32, ok := any(x).([]float32); ok && haveAVX && act != uHardSwish && len(x) > 0 {
		bnActFwdAVX(&x32[0], &any(y).([]float32)[0], len(x), float32(a), float32(b), float32(lo), float32(hi))
		return
	}
	switch act {
	case uHardSwish:
		for i, v := range x {
			z := T(v*a) + b
			y[i] = z * min(max(z*(1.0/6)+0.5, 0), 1)
		}
	default: // Relu is Clip(0, +Inf)
		for i, v := range x {
			y[i] = min(max(T(v*a)+b, lo), hi)
		}
	}
}

func (f *bnActStep[T]) backward(e *Engine[T]) {
	x, scale, dy := f.in[0].data, f.in[1].data, f.out[0].grad
	dx, dscale, dbias := f.gin[0].out(), f.gin[1].out(), f.gin[2].out()
	s := f.s
	R := T(s.N * s.HW)
	if s.HW <= smallHW {
		f.backwardSmall(x, dy, dx, dscale, dbias)
		for i := range f.gin {
			f.gin[i].finish()
		}
		return
	}
	kernels.Parallel(s.C, 6*s.N*s.HW, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			a, b, mean, inv := f.mul[c], f.add[c], f.mean[c], f.invStd[c]
			var sdy, sdyx T
			for n := 0; n < s.N; n++ {
				o := (n*s.C + c) * s.HW
				p, q := actGradSums(f.act, x[o:o+s.HW], dy[o:o+s.HW], a, b, mean, f.lo, f.hi)
				sdy += p
				sdyx += q
			}
			ds := sdyx * inv
			if dscale != nil {
				dscale[c] = ds
			}
			if dbias != nil {
				dbias[c] = sdy
			}
			if dx == nil {
				continue
			}
			// Batch statistics: dx = a·(g − sdy/R − x̂·ds/R) = a·g + c1·x + c0.
			// Running statistics: dx = a·g.
			_ = scale
			var c1, c0 T
			if f.usedBatch {
				c1 = -a * inv * ds / R
				c0 = -a*sdy/R - c1*mean
			}
			for n := 0; n < s.N; n++ {
				o := (n*s.C + c) * s.HW
				actGradDx(f.act, x[o:o+s.HW], dy[o:o+s.HW], dx[o:o+s.HW], a, b, c1, c0, f.lo, f.hi)
			}
		}
	})
	for i := range f.gin {
		f.gin[i].finish()
	}
}

// actGradSums returns Σg and Σg·(x−mean) with g = dy·act'(a·x + b).
func actGradSums[T Float](act unaryKind, x, dy []T, a, b, mean, lo, hi T) (T, T) {
	dy = dy[:len(x)]
	var s0, s1, t0, t1 T
	if act == uHardSwish {
		for i, v := range x {
			g := dy[i] * hswishGrad(T(v*a)+b)
			s0 += g
			t0 += g * (v - mean)
		}
		return s0, t0
	}
	switch xs := any(x).(type) {
	case []float32:
		g32, l32, h32 := any(dy).([]float32), float32(lo), float32(hi)
		a32, b32, m32 := float32(a), float32(b), float32(mean)
		if haveAVX && len(xs) > 0 {
			p, q := bnActGradSumsAVX(&xs[0], &g32[0], len(xs), a32, b32, l32, h32, m32)
			return T(p), T(q)
		}
		var u0, u1, w0, w1 float32
		i := 0
		for ; i+2 <= len(xs); i += 2 {
			g0 := maskF32(float32(xs[i]*a32)+b32, l32, h32, g32[i])
			g1 := maskF32(float32(xs[i+1]*a32)+b32, l32, h32, g32[i+1])
			u0 += g0
			u1 += g1
			w0 += g0 * (xs[i] - m32)
			w1 += g1 * (xs[i+1] - m32)
		}
		if i < len(xs) {
			g0 := maskF32(float32(xs[i]*a32)+b32, l32, h32, g32[i])
			u0 += g0
			w0 += g0 * (xs[i] - m32)
		}
		return T(u0 + u1), T(w0 + w1)
	default:
		for i, v := range x {
			g := maskF64(float64(T(v*a)+b), float64(lo), float64(hi), float64(dy[i]))
			s0 += T(g)
			t0 += T(g) * (v - mean)
		}
		_, _ = s1, t1
		return s0, t0
	}
}

// actGradDx sets dx = a·g + c1·x + c0 with g = dy·act'(a·x + b). dx may
// alias dy.
func actGradDx[T Float](act unaryKind, x, dy, dx []T, a, b, c1, c0, lo, hi T) {
	dy, dx = dy[:len(x)], dx[:len(x)]
	if act == uHardSwish {
		for i, v := range x {
			dx[i] = a*dy[i]*hswishGrad(T(v*a)+b) + c1*v + c0
		}
		return
	}
	switch xs := any(x).(type) {
	case []float32:
		g32, d32 := any(dy).([]float32), any(dx).([]float32)
		a32, b32, l32, h32 := float32(a), float32(b), float32(lo), float32(hi)
		k1, k0 := float32(c1), float32(c0)
		if haveAVX && len(xs) > 0 {
			bnActGradDxAVX(&xs[0], &g32[0], &d32[0], len(xs), a32, b32, l32, h32, k1, k0)
			return
		}
		for i, v := range xs {
			d32[i] = a32*maskF32(float32(v*a32)+b32, l32, h32, g32[i]) + k1*v + k0
		}
	default:
		for i, v := range x {
			dx[i] = a*T(maskF64(float64(T(v*a)+b), float64(lo), float64(hi), float64(dy[i]))) + c1*v + c0
		}
	}
}

// maskF32 returns g when lo < z < hi and 0 otherwise, without a branch:
// lo − z and z − hi are both negative (sign bit set) exactly then; at a
// bound one of them is +0.
func maskF32(z, lo, hi, g float32) float32 {
	m := uint32(int32(math.Float32bits(lo-z)&math.Float32bits(z-hi)) >> 31)
	return math.Float32frombits(math.Float32bits(g) & m)
}

func maskF64(z, lo, hi, g float64) float64 {
	m := uint64(int64(math.Float64bits(lo-z)&math.Float64bits(z-hi)) >> 63)
	return math.Float64frombits(math.Float64bits(g) & m)
}

// hswishGrad is d/dz of z·clamp(z/6 + 1/2, 0, 1), with PyTorch's branches.
func hswishGrad[T Float](z T) T {
	switch {
	case z < -3:
		return 0
	case z <= 3:
		return z*(1.0/3) + 0.5
	}
	return 1
}

// clipGrad sets dx = dy where lo < y < hi, else 0 (Relu: lo = 0, hi = +Inf),
// branch-free; dx may alias dy.
func clipGrad[T Float](y, dy, dx []T, lo, hi T) {
	kernels.Parallel(len(y), 1, func(s, e int) {
		switch ys := any(y[s:e]).(type) {
		case []float32:
			g, d := any(dy[s:e]).([]float32), any(dx[s:e]).([]float32)
			l, h := float32(lo), float32(hi)
			g, d = g[:len(ys)], d[:len(ys)]
			if haveAVX && len(ys) > 0 {
				clipGradAVX(&ys[0], &g[0], &d[0], len(ys), l, h)
				return
			}
			for i, v := range ys {
				d[i] = maskF32(v, l, h, g[i])
			}
		default:
			g, d := dy[s:e], dx[s:e]
			for i, v := range y[s:e] {
				d[i] = T(maskF64(float64(v), float64(lo), float64(hi), float64(g[i])))
			}
		}
	})
}

// setStats computes channel c's normalisation from the shifted sums s1,
// s2 (about shift k) of R values, updates the running statistics when
// asked, and stores mean, 1/σ, a and b.
func (f *bnActStep[T]) setStats(c int, s1, s2, k T, R int, scale, bias, mean, vr []T, update bool) {
	eps := T(f.a.Epsilon)
	var mu, inv T
	if f.usedBatch {
		m1 := s1 / T(R)
		v := s2/T(R) - m1*m1
		if v < 0 {
			v = 0
		}
		m := k + m1
		mu, inv = m, 1/T(math.Sqrt(float64(v+eps)))
		if update {
			mom := T(f.a.Momentum)
			uv := v
			if !f.a.BiasedRunningVar && R > 1 {
				uv = v * T(R) / T(R-1)
			}
			mean[c] = mean[c]*mom + m*(1-mom)
			vr[c] = vr[c]*mom + uv*(1-mom)
		}
	} else {
		mu, inv = mean[c], 1/T(math.Sqrt(float64(vr[c]+eps)))
	}
	f.mean[c], f.invStd[c] = mu, inv
	a := scale[c] * inv
	f.mul[c], f.add[c] = a, bias[c]-mu*a
}

// actValue is act(z) for the fused activations.
func actValue[T Float](act unaryKind, z, lo, hi T) T {
	if act == uHardSwish {
		return z * min(max(z*(1.0/6)+0.5, 0), 1)
	}
	return min(max(z, lo), hi)
}

// actDeriv is dy·act'(z), branch-free for Relu and Clip.
func actDeriv[T Float](act unaryKind, z, dy, lo, hi T) T {
	if act == uHardSwish {
		return dy * hswishGrad(z)
	}
	if z32, ok := any(z).(float32); ok {
		return T(maskF32(z32, float32(lo), float32(hi), float32(dy)))
	}
	return T(maskF64(float64(z), float64(lo), float64(hi), float64(dy)))
}

// vecSmall reports whether the small-plane path runs in its vector form.
func (f *bnActStep[T]) vecSmall() bool {
	var z T
	_, is32 := any(z).(float32)
	return is32 && haveAVX && f.act != uHardSwish && f.s.HW <= smallHW
}

// expand writes v[c] over channel c's plane in dst, for channels [lo,hi).
func expand[T Float](dst []float32, v []T, lo, hi, hw int) {
	for c := lo; c < hi; c++ {
		d := dst[c*hw : (c+1)*hw]
		for i := range d {
			d[i] = float32(v[c])
		}
	}
}

// forwardSmall is the forward pass for planes of at most smallHW values:
// image by image, across a worker's channels.
func (f *bnActStep[T]) forwardSmall(x, y, scale, bias, mean, vr []T, update bool) {
	if f.vecSmall() {
		f.forwardSmallVec(any(x).([]float32), any(y).([]float32), scale, bias, mean, vr, update)
		return
	}
	s := f.s
	C, HW := s.C, s.HW
	kernels.Parallel(C, 4*s.N*HW, func(lo, hi int) {
		if f.usedBatch {
			s1, s2 := f.acc1[lo:hi], f.acc2[lo:hi]
			clear(s1)
			clear(s2)
			for n := 0; n < s.N; n++ {
				row := x[(n*C+lo)*HW : (n*C+hi)*HW]
				for j := range hi - lo {
					k := x[(lo+j)*HW]
					var a1, a2 T
					for _, v := range row[j*HW : (j+1)*HW] {
						d := v - k
						a1 += d
						a2 += d * d
					}
					s1[j] += a1
					s2[j] += a2
				}
			}
		}
		for c := lo; c < hi; c++ {
			f.setStats(c, f.acc1[c], f.acc2[c], x[c*HW], s.N*HW, scale, bias, mean, vr, update)
		}
		for n := 0; n < s.N; n++ {
			o := (n*C + lo) * HW
			xr, yr := x[o:o+(hi-lo)*HW], y[o:o+(hi-lo)*HW]
			for j := range hi - lo {
				a, b := f.mul[lo+j], f.add[lo+j]
				for i := j * HW; i < (j+1)*HW; i++ {
					yr[i] = actValue(f.act, T(xr[i]*a)+b, f.lo, f.hi)
				}
			}
		}
	})
}

// backwardSmall is the backward pass for planes of at most smallHW values.
func (f *bnActStep[T]) backwardSmall(x, dy, dx, dscale, dbias []T) {
	if f.vecSmall() {
		var dx32 []float32
		if dx != nil {
			dx32 = any(dx).([]float32)
		}
		f.backwardSmallVec(any(x).([]float32), any(dy).([]float32), dx32, dscale, dbias)
		return
	}
	s := f.s
	C, HW := s.C, s.HW
	R := T(s.N * HW)
	kernels.Parallel(C, 6*s.N*HW, func(lo, hi int) {
		sg, sgx := f.acc1[lo:hi], f.acc2[lo:hi]
		clear(sg)
		clear(sgx)
		for n := 0; n < s.N; n++ {
			o := (n*C + lo) * HW
			xr, gr := x[o:o+(hi-lo)*HW], dy[o:o+(hi-lo)*HW]
			for j := range hi - lo {
				a, b, mean := f.mul[lo+j], f.add[lo+j], f.mean[lo+j]
				var p, q T
				for i := j * HW; i < (j+1)*HW; i++ {
					v := xr[i]
					g := actDeriv(f.act, T(v*a)+b, gr[i], f.lo, f.hi)
					p += g
					q += g * (v - mean)
				}
				sg[j] += p
				sgx[j] += q
			}
		}
		// Reuse the accumulators for the coefficients c1, c0 of dx.
		for j := range hi - lo {
			c := lo + j
			a, mean, inv := f.mul[c], f.mean[c], f.invStd[c]
			ds := sgx[j] * inv
			if dscale != nil {
				dscale[c] = ds
			}
			if dbias != nil {
				dbias[c] = sg[j]
			}
			var c1, c0 T
			if f.usedBatch {
				c1 = -a * inv * ds / R
				c0 = -a*sg[j]/R - c1*mean
			}
			sg[j], sgx[j] = c1, c0
		}
		if dx == nil {
			return
		}
		for n := 0; n < s.N; n++ {
			o := (n*C + lo) * HW
			xr, gr, dr := x[o:o+(hi-lo)*HW], dy[o:o+(hi-lo)*HW], dx[o:o+(hi-lo)*HW]
			for j := range hi - lo {
				a, b, c1, c0 := f.mul[lo+j], f.add[lo+j], sg[j], sgx[j]
				for i := j * HW; i < (j+1)*HW; i++ {
					v := xr[i]
					dr[i] = a*actDeriv(f.act, T(v*a)+b, gr[i], f.lo, f.hi) + c1*v + c0
				}
			}
		}
	})
}

// forwardSmallVec is forwardSmall with the AVX2 row kernels: each image's
// slice of a worker's channels is one contiguous row with per-element
// parameters.
func (f *bnActStep[T]) forwardSmallVec(x, y []float32, scale, bias, mean, vr []T, update bool) {
	s := f.s
	C, HW := s.C, s.HW
	lo32, hi32 := float32(f.lo), float32(f.hi)
	kernels.Parallel(C, 4*s.N*HW, func(lo, hi int) {
		L, H := lo*HW, hi*HW
		n := H - L
		if f.usedBatch {
			for c := lo; c < hi; c++ {
				k := x[c*HW]
				for i := c * HW; i < (c+1)*HW; i++ {
					f.ek[i] = k
				}
			}
			clear(f.es1[L:H])
			clear(f.es2[L:H])
			for img := 0; img < s.N; img++ {
				o := img * C * HW
				rowAccumShiftAVX(&x[o+L], &f.ek[L], &f.es1[L], &f.es2[L], n)
			}
		}
		for c := lo; c < hi; c++ {
			var s1, s2 float32
			for i := c * HW; i < (c+1)*HW; i++ {
				s1 += f.es1[i]
				s2 += f.es2[i]
			}
			f.setStats(c, T(s1), T(s2), T(x[c*HW]), s.N*HW, scale, bias, mean, vr, update)
		}
		expand(f.ea, f.mul, lo, hi, HW)
		expand(f.eb, f.add, lo, hi, HW)
		for img := 0; img < s.N; img++ {
			o := img * C * HW
			rowAffineClampAVX(&x[o+L], &f.ea[L], &f.eb[L], &y[o+L], n, lo32, hi32)
		}
	})
}

// backwardSmallVec is backwardSmall with the AVX2 row kernels; it reuses
// the a and b the forward pass expanded.
func (f *bnActStep[T]) backwardSmallVec(x, dy, dx []float32, dscale, dbias []T) {
	s := f.s
	C, HW := s.C, s.HW
	R := T(s.N * HW)
	lo32, hi32 := float32(f.lo), float32(f.hi)
	kernels.Parallel(C, 6*s.N*HW, func(lo, hi int) {
		L, H := lo*HW, hi*HW
		n := H - L
		expand(f.ek, f.mean, lo, hi, HW)
		clear(f.es1[L:H])
		clear(f.es2[L:H])
		for img := 0; img < s.N; img++ {
			o := img * C * HW
			rowAccumGradAVX(&x[o+L], &dy[o+L], &f.ea[L], &f.eb[L], &f.ek[L], &f.es1[L], &f.es2[L], n, lo32, hi32)
		}
		for c := lo; c < hi; c++ {
			var sg, sgx float32
			for i := c * HW; i < (c+1)*HW; i++ {
				sg += f.es1[i]
				sgx += f.es2[i]
			}
			a, mean, inv := f.mul[c], f.mean[c], f.invStd[c]
			ds := T(sgx) * inv
			if dscale != nil {
				dscale[c] = ds
			}
			if dbias != nil {
				dbias[c] = T(sg)
			}
			var c1, c0 T
			if f.usedBatch {
				c1 = -a * inv * ds / R
				c0 = -a*T(sg)/R - c1*mean
			}
			f.acc1[c], f.acc2[c] = c1, c0
		}
		if dx == nil {
			return
		}
		expand(f.ec1, f.acc1, lo, hi, HW)
		expand(f.ec0, f.acc2, lo, hi, HW)
		for img := 0; img < s.N; img++ {
			o := img * C * HW
			rowGradDxAVX(&x[o+L], &dy[o+L], &f.ea[L], &f.eb[L], &f.ec1[L], &f.ec0[L], &dx[o+L], n, lo32, hi32)
		}
	})
}
