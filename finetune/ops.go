package finetune

import (
	"fmt"
	"math"
	"slices"

	"github.com/onnx-adapt/onnx-adapt/internal/kernels"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// makeStep compiles nd.n into a step. nd has its run-time input and output
// slots; the constructor checks attributes and shapes, marks trainable
// initializers, and declares how gradients and buffers may be shared.
func makeStep[T Float](b *builder[T], nd *node[T]) (step[T], error) {
	switch nd.n.Op {
	case "Conv":
		return newConv(b, nd)
	case "BatchNormalization":
		return newBN(b, nd)
	case "Relu", "Sigmoid", "HardSigmoid", "HardSwish", "Clip":
		return newUnary(b, nd)
	case "Add", "Mul", "Sub", "Div":
		return newBinary(b, nd)
	case "GlobalAveragePool":
		return newGAP(b, nd)
	case "AveragePool", "MaxPool":
		return newPool(b, nd)
	case "Flatten", "Reshape", "Identity", "Squeeze", "Unsqueeze":
		return newView(b, nd)
	case "Dropout":
		return newDropout(b, nd)
	case "Gemm":
		return newGemm(b, nd)
	case "MatMul":
		return newMatMul(b, nd)
	case "Concat":
		return newConcat(b, nd)
	case "Transpose":
		return newTranspose(b, nd)
	case "Softmax", "LogSoftmax":
		return newSoftmax(b, nd)
	case "Pad":
		return newPad(b, nd)
	}
	return nil, unsupported(nd.n, "")
}

func need[T Float](nd *node[T], idx ...int) error {
	for _, i := range idx {
		if i >= len(nd.in) || nd.in[i] == nil {
			return unsupported(nd.n, "input %d is missing", i)
		}
	}
	return nil
}

func checkOut[T Float](nd *node[T], want []int) error {
	if !slices.Equal(nd.out[0].shape, want) {
		return fmt.Errorf("finetune: %v: computed output shape %v, shape inference says %v", nd.n, want, nd.out[0].shape)
	}
	return nil
}

// ---- Conv and pooling windows

// window is the spatial geometry of a Conv or pool: per spatial axis.
type window struct {
	kernel, strides, dilations []int
	begin, end                 []int
}

// readWindow reads the window of n (onnxio.ReadWindow) and resolves its
// padding for an input of the given spatial size.
func readWindow(n *onnxio.Node, spatial, kernel []int) (window, error) {
	k64 := make([]int64, len(kernel))
	for i, k := range kernel {
		k64[i] = int64(k)
	}
	ow, err := onnxio.ReadWindow(n, k64)
	if err != nil {
		return window{}, unsupported(n, "%v", err)
	}
	r := len(spatial)
	w := window{kernel: kernel, strides: make([]int, r), dilations: make([]int, r), begin: make([]int, r), end: make([]int, r)}
	for i := range r {
		begin, end := ow.Padding(i, int64(spatial[i]))
		w.strides[i], w.dilations[i] = int(ow.Strides[i]), int(ow.Dilations[i])
		w.begin[i], w.end[i] = int(begin), int(end)
	}
	return w, nil
}

type convStep[T Float] struct {
	node[T]
	s kernels.ConvShape
}

func newConv[T Float](b *builder[T], nd *node[T]) (step[T], error) {
	n := nd.n
	if err := need(nd, 0, 1); err != nil {
		return nil, err
	}
	x, w := nd.in[0], nd.in[1]
	r := len(x.shape)
	if r != 3 && r != 4 {
		return nil, unsupported(n, "only 1-D and 2-D convolutions (input rank %d)", r)
	}
	if len(w.shape) != r {
		return nil, unsupported(n, "weight rank %d for input rank %d", len(w.shape), r)
	}
	kernel := w.shape[2:]
	if ks := n.AttrInts("kernel_shape"); ks != nil {
		for i, k := range ks {
			if i >= len(kernel) || int(k) != kernel[i] {
				return nil, unsupported(n, "kernel_shape %v does not match the weight %v", ks, w.shape)
			}
		}
	}
	win, err := readWindow(n, x.shape[2:], kernel)
	if err != nil {
		return nil, err
	}
	g := int(n.AttrInt("group", 1))
	s := kernels.ConvShape{N: x.shape[0], C: x.shape[1], M: w.shape[0], Group: g}
	if r == 4 {
		s.H, s.W, s.KH, s.KW = x.shape[2], x.shape[3], kernel[0], kernel[1]
		s.StrideH, s.StrideW, s.DilH, s.DilW = win.strides[0], win.strides[1], win.dilations[0], win.dilations[1]
		s.PadT, s.PadL, s.PadB, s.PadR = win.begin[0], win.begin[1], win.end[0], win.end[1]
	} else {
		s.H, s.W, s.KH, s.KW = 1, x.shape[2], 1, kernel[0]
		s.StrideH, s.StrideW, s.DilH, s.DilW = 1, win.strides[0], 1, win.dilations[0]
		s.PadL, s.PadR = win.begin[0], win.end[0]
	}
	if err := s.Validate(); err != nil {
		return nil, unsupported(n, "%v", err)
	}
	if g <= 0 || w.shape[1]*g != s.C {
		return nil, unsupported(n, "weight %v with group %d does not fit %d input channels", w.shape, g, s.C)
	}
	want := []int{s.N, s.M, s.OutH(), s.OutW()}
	if r == 3 {
		want = []int{s.N, s.M, s.OutW()}
	}
	if err := checkOut(nd, want); err != nil {
		return nil, err
	}
	if len(nd.in) > 2 && nd.in[2] != nil && nd.in[2].n != s.M {
		return nil, unsupported(n, "bias has %d values for %d output channels", nd.in[2].n, s.M)
	}
	b.param(w, Weight)
	nd.diff[0], nd.diff[1] = true, true
	if len(nd.in) > 2 {
		b.param(nd.in[2], Bias)
		nd.diff[2] = true
	}
	return &convStep[T]{node: *nd, s: s}, nil
}

func (c *convStep[T]) bias() []T {
	if len(c.in) > 2 && c.in[2] != nil {
		return c.in[2].data
	}
	return nil
}

func (c *convStep[T]) forward(e *Engine[T], _ bool) {
	kernels.Conv2D(c.s, c.in[0].data, c.in[1].data, c.bias(), c.out[0].data, e.ws)
}

func (c *convStep[T]) saved() (ins, outs []int) {
	if c.in[1].needGrad {
		ins = append(ins, 0)
	}
	if c.in[0].needGrad {
		ins = append(ins, 1)
	}
	return ins, nil
}

func (c *convStep[T]) backward(e *Engine[T]) {
	var db []T
	if len(c.gin) > 2 {
		db = c.gin[2].out()
	}
	kernels.Conv2DBackward(c.s, c.in[0].data, c.in[1].data, c.out[0].grad,
		c.gin[0].out(), c.gin[1].out(), db, e.ws)
	for i := range c.gin {
		c.gin[i].finish()
	}
}

type poolStep[T Float] struct {
	node[T]
	max    bool
	global bool
	s      kernels.PoolShape
	nc, hw int
	argmax []int32
}

func newGAP[T Float](b *builder[T], nd *node[T]) (step[T], error) {
	if err := need(nd, 0); err != nil {
		return nil, err
	}
	x := nd.in[0]
	if len(x.shape) < 3 {
		return nil, unsupported(nd.n, "input rank %d", len(x.shape))
	}
	want := slices.Clone(x.shape)
	for i := 2; i < len(want); i++ {
		want[i] = 1
	}
	if err := checkOut(nd, want); err != nil {
		return nil, err
	}
	nd.diff[0] = true
	return &poolStep[T]{node: *nd, global: true, nc: x.shape[0] * x.shape[1], hw: prod(x.shape[2:])}, nil
}

func newPool[T Float](b *builder[T], nd *node[T]) (step[T], error) {
	n := nd.n
	if err := need(nd, 0); err != nil {
		return nil, err
	}
	x := nd.in[0]
	r := len(x.shape)
	if r != 3 && r != 4 {
		return nil, unsupported(n, "only 1-D and 2-D pooling (input rank %d)", r)
	}
	ks := n.AttrInts("kernel_shape")
	if len(ks) != r-2 {
		return nil, unsupported(n, "kernel_shape %v for input rank %d", ks, r)
	}
	kernel := make([]int, len(ks))
	for i, k := range ks {
		kernel[i] = int(k)
	}
	win, err := readWindow(n, x.shape[2:], kernel)
	if err != nil {
		return nil, err
	}
	isMax := n.Op == "MaxPool"
	if !isMax && n.Attr("dilations") != nil {
		for _, d := range win.dilations {
			if d != 1 {
				return nil, unsupported(n, "dilated average pooling")
			}
		}
	}
	if isMax && n.AttrInt("storage_order", 0) != 0 {
		return nil, unsupported(n, "storage_order 1")
	}
	s := kernels.PoolShape{N: x.shape[0], C: x.shape[1],
		CeilMode: n.AttrInt("ceil_mode", 0) != 0, CountIncludePad: n.AttrInt("count_include_pad", 0) != 0}
	if r == 4 {
		s.H, s.W, s.KH, s.KW = x.shape[2], x.shape[3], kernel[0], kernel[1]
		s.StrideH, s.StrideW, s.DilH, s.DilW = win.strides[0], win.strides[1], win.dilations[0], win.dilations[1]
		s.PadT, s.PadL, s.PadB, s.PadR = win.begin[0], win.begin[1], win.end[0], win.end[1]
	} else {
		s.H, s.W, s.KH, s.KW = 1, x.shape[2], 1, kernel[0]
		s.StrideH, s.StrideW, s.DilH, s.DilW = 1, win.strides[0], 1, win.dilations[0]
		s.PadL, s.PadR = win.begin[0], win.end[0]
	}
	if err := s.Validate(); err != nil {
		return nil, unsupported(n, "%v", err)
	}
	want := []int{s.N, s.C, s.OutH(), s.OutW()}
	if r == 3 {
		want = []int{s.N, s.C, s.OutW()}
	}
	if err := checkOut(nd, want); err != nil {
		return nil, err
	}
	nd.diff[0] = true
	p := &poolStep[T]{node: *nd, max: isMax, s: s}
	if isMax && b.e.train {
		p.argmax = make([]int32, s.YLen())
	}
	return p, nil
}

func (p *poolStep[T]) forward(e *Engine[T], train bool) {
	x, y := p.in[0].data, p.out[0].data
	switch {
	case p.global:
		kernels.GlobalAveragePool(p.nc, p.hw, x, y)
	case p.max:
		var am []int32
		if train {
			am = p.argmax
		}
		kernels.MaxPool(p.s, x, y, am)
	default:
		kernels.AveragePool(p.s, x, y)
	}
}

func (p *poolStep[T]) backward(e *Engine[T]) {
	dx := p.gin[0].out()
	if dx == nil {
		return
	}
	dy := p.out[0].grad
	switch {
	case p.global:
		kernels.GlobalAveragePoolBackward(p.nc, p.hw, dy, dx)
	case p.max:
		kernels.MaxPoolBackward(p.s, p.argmax, dy, dx)
	default:
		kernels.AveragePoolBackward(p.s, dy, dx)
	}
	p.gin[0].finish()
}

// ---- BatchNormalization

type bnStep[T Float] struct {
	node[T]
	s            kernels.BNShape
	a            kernels.BNAttrs
	nodeTraining bool // the node's own training_mode is 1 (ONNX semantics)
	freeze       bool
	mean, invStd []T  // batch statistics of the last training forward
	usedBatch    bool // the last forward used batch statistics
}

func newBN[T Float](b *builder[T], nd *node[T]) (step[T], error) {
	n := nd.n
	if err := need(nd, 0, 1, 2, 3, 4); err != nil {
		return nil, err
	}
	x := nd.in[0]
	if len(x.shape) < 2 {
		return nil, unsupported(n, "input rank %d", len(x.shape))
	}
	C := x.shape[1]
	for i := 1; i <= 4; i++ {
		if nd.in[i].n != C {
			return nil, unsupported(n, "input %d has %d values for %d channels", i, nd.in[i].n, C)
		}
	}
	if err := checkOut(nd, x.shape); err != nil {
		return nil, err
	}
	st := &bnStep[T]{
		s: kernels.BNShape{N: x.shape[0], C: C, HW: prod(x.shape[2:])},
		a: kernels.BNAttrs{Epsilon: float64(n.AttrFloat("epsilon", 1e-5)), Momentum: float64(n.AttrFloat("momentum", 0.9)),
			BiasedRunningVar: b.e.opts.BiasedRunningVar},
		nodeTraining: n.AttrInt("training_mode", 0) != 0,
		freeze:       b.e.opts.FreezeBN,
	}
	if st.nodeTraining {
		st.a.BiasedRunningVar = true
	}
	extra := false
	for _, o := range nd.out[1:] {
		if o != nil {
			extra = true
		}
	}
	if extra && (b.opset < 14 || !st.nodeTraining) {
		return nil, unsupported(n, "statistics outputs other than those of opset-14 training mode")
	}
	if b.e.train && !st.freeze {
		b.buffer(nd.in[3])
		b.buffer(nd.in[4])
	}
	b.param(nd.in[1], BNScale)
	b.param(nd.in[2], BNBias)
	nd.diff[0], nd.diff[1], nd.diff[2] = true, true, true
	nd.alias[0] = aliasInPlace
	nd.inplace = []int{0}
	st.node = *nd
	st.mean, st.invStd = make([]T, C), make([]T, C)
	if !b.e.opts.NoFusion {
		if act := b.fusedAct(n); act != nil {
			return newBNAct(b, st, act)
		}
		if !extra {
			// Alone, it runs as the fused step with the identity as
			// activation, for the same leaner passes.
			return newBNAct(b, st, nil)
		}
	}
	return st, nil
}

func (st *bnStep[T]) forward(e *Engine[T], train bool) {
	x, scale, bias, mean, vr := st.in[0].data, st.in[1].data, st.in[2].data, st.in[3].data, st.in[4].data
	y := st.out[0].data
	st.usedBatch = st.nodeTraining || (train && !st.freeze)
	if !st.usedBatch {
		kernels.BatchNormInfer(st.s, st.a, x, scale, bias, mean, vr, y)
		return
	}
	var rm, rv []T
	switch {
	case len(st.out) > 2 && st.out[1] != nil && st.out[2] != nil:
		copy(st.out[1].data, mean)
		copy(st.out[2].data, vr)
		rm, rv = st.out[1].data, st.out[2].data
	case train && st.in[3].kind == kBuffer && st.in[4].kind == kBuffer:
		rm, rv = mean, vr
	}
	kernels.BatchNormTrain(st.s, st.a, x, scale, bias, rm, rv, y, st.mean, st.invStd)
}

func (st *bnStep[T]) saved() (ins, outs []int) {
	if st.nodeTraining || !st.freeze || st.in[1].needGrad {
		return []int{0}, nil
	}
	return nil, nil
}

func (st *bnStep[T]) backward(e *Engine[T]) {
	x, scale, dy := st.in[0].data, st.in[1].data, st.out[0].grad
	dx, ds, db := st.gin[0].out(), st.gin[1].out(), st.gin[2].out()
	if st.usedBatch {
		kernels.BatchNormTrainBackward(st.s, x, scale, st.mean, st.invStd, dy, dx, ds, db)
	} else {
		kernels.BatchNormInferBackward(st.s, st.a, x, scale, st.in[3].data, st.in[4].data, dy, dx, ds, db)
	}
	for i := range st.gin {
		st.gin[i].finish()
	}
}

// ---- Element-wise activations

type unaryKind uint8

const (
	uRelu unaryKind = iota
	uSigmoid
	uHardSigmoid
	uHardSwish
	uClip
)

type unaryStep[T Float] struct {
	node[T]
	kind        unaryKind
	lo, hi      T
	alpha, beta T
}

func scalarConst(n *onnxio.Node, i int) (float64, bool, error) {
	v := n.Input(i)
	if v == nil {
		return 0, false, nil
	}
	t := onnxio.ConstValue(v)
	if t == nil {
		return 0, false, unsupported(n, "input %d (%s) must be a constant", i, v.Name)
	}
	f, err := t.Float64s()
	if err != nil || len(f) != 1 {
		return 0, false, unsupported(n, "input %d (%s) must be a scalar", i, v.Name)
	}
	return f[0], true, nil
}

func newUnary[T Float](b *builder[T], nd *node[T]) (step[T], error) {
	n := nd.n
	if err := need(nd, 0); err != nil {
		return nil, err
	}
	if err := checkOut(nd, nd.in[0].shape); err != nil {
		return nil, err
	}
	u := &unaryStep[T]{}
	switch n.Op {
	case "Relu":
		u.kind = uRelu
	case "Sigmoid":
		u.kind = uSigmoid
	case "HardSigmoid":
		u.kind = uHardSigmoid
		u.alpha, u.beta = T(n.AttrFloat("alpha", 0.2)), T(n.AttrFloat("beta", 0.5))
	case "HardSwish":
		u.kind = uHardSwish
	case "Clip":
		u.kind = uClip
		lo, hi, err := clipBounds(b, n)
		if err != nil {
			return nil, err
		}
		u.lo, u.hi = T(lo), T(hi)
	}
	nd.diff[0] = true
	nd.alias[0] = aliasInPlace
	nd.inplace = []int{0}
	u.node = *nd
	return u, nil
}

// clipBounds reads Clip's bounds: attributes below opset 11, constant
// inputs from 11 on; a missing bound is infinite.
func clipBounds[T Float](b *builder[T], n *onnxio.Node) (lo, hi float64, err error) {
	lo, hi = math.Inf(-1), math.Inf(1)
	if b.opset < 11 {
		if a := n.Attr("min"); a != nil {
			lo = float64(a.GetF())
		}
		if a := n.Attr("max"); a != nil {
			hi = float64(a.GetF())
		}
		return lo, hi, nil
	}
	if v, ok, err := scalarConst(n, 1); err != nil {
		return 0, 0, err
	} else if ok {
		lo = v
	}
	if v, ok, err := scalarConst(n, 2); err != nil {
		return 0, 0, err
	} else if ok {
		hi = v
	}
	return lo, hi, nil
}

func (u *unaryStep[T]) forward(e *Engine[T], _ bool) {
	x, y := u.in[0].data, u.out[0].data
	switch u.kind {
	case uRelu:
		kernels.Relu(x, y)
	case uSigmoid:
		kernels.Sigmoid(x, y)
	case uHardSigmoid:
		kernels.HardSigmoid(x, y, u.alpha, u.beta)
	case uHardSwish:
		kernels.HardSwish(x, y)
	case uClip:
		kernels.Clip(x, y, u.lo, u.hi)
	}
}

func (u *unaryStep[T]) saved() (ins, outs []int) {
	if u.kind == uHardSwish {
		return []int{0}, nil
	}
	return nil, []int{0}
}

func (u *unaryStep[T]) backward(e *Engine[T]) {
	dx := u.gin[0].out()
	if dx == nil {
		return
	}
	y, dy := u.out[0].data, u.out[0].grad
	switch u.kind {
	case uRelu:
		clipGrad(y, dy, dx, 0, T(math.Inf(1)))
	case uSigmoid:
		kernels.SigmoidBackward(y, dy, dx)
	case uHardSigmoid:
		kernels.HardSigmoidBackward(y, dy, dx, u.alpha)
	case uHardSwish:
		kernels.HardSwishBackward(u.in[0].data, dy, dx)
	case uClip:
		clipGrad(y, dy, dx, u.lo, u.hi)
	}
	u.gin[0].finish()
}

// ---- Add, Mul (and Sub, Div by a constant)

type binaryStep[T Float] struct {
	node[T]
	mul    bool
	as, bs []int
}

func newBinary[T Float](b *builder[T], nd *node[T]) (step[T], error) {
	n := nd.n
	if err := need(nd, 0, 1); err != nil {
		return nil, err
	}
	bin := &binaryStep[T]{mul: n.Op == "Mul" || n.Op == "Div"}
	if n.Op == "Sub" || n.Op == "Div" {
		c := nd.in[1]
		if c.kind != kConst {
			return nil, unsupported(n, "only by a constant")
		}
		neg := &slot[T]{name: c.name, value: c.value, shape: c.shape, n: c.n, kind: kConst, buf: -1, gbuf: -1, prod: -1, data: make([]T, c.n)}
		for i, v := range c.data {
			if n.Op == "Sub" {
				neg.data[i] = -v
			} else {
				neg.data[i] = 1 / v
			}
		}
		nd.in[1] = neg
	}
	a, c := nd.in[0], nd.in[1]
	bin.as, bin.bs = a.shape, c.shape
	out, err := kernels.BroadcastShape(a.shape, c.shape)
	if err != nil {
		return nil, unsupported(n, "%v", err)
	}
	if err := checkOut(nd, out); err != nil {
		return nil, err
	}
	y := nd.out[0]
	if n.Op == "Add" {
		// A constant added after MatMul or Gemm is a bias (tf2onnx's
		// MatMul+Add for Keras Dense layers).
		for i, j := range [2]int{1, 0} {
			if p := n.Input(i).Producer(); p != nil && (p.Op == "MatMul" || p.Op == "Gemm") {
				b.param(nd.in[j], Bias)
			}
		}
	}
	for i, s := range nd.in[:2] {
		nd.diff[i] = true
		if s.n == y.n {
			nd.inplace = append(nd.inplace, i)
			if !bin.mul {
				nd.alias[i] = aliasIdentity
			}
		}
	}
	bin.node = *nd
	return bin, nil
}

func (bs *binaryStep[T]) forward(e *Engine[T], _ bool) {
	a, c, y := bs.in[0], bs.in[1], bs.out[0]
	if bs.mul {
		kernels.Mul(a.data, bs.as, c.data, bs.bs, y.data)
	} else {
		kernels.Add(a.data, bs.as, c.data, bs.bs, y.data)
	}
}

func (bs *binaryStep[T]) saved() (ins, outs []int) {
	if !bs.mul {
		return nil, nil
	}
	if bs.in[1].needGrad {
		ins = append(ins, 0)
	}
	if bs.in[0].needGrad {
		ins = append(ins, 1)
	}
	return ins, nil
}

func (bs *binaryStep[T]) backward(e *Engine[T]) {
	dy := bs.out[0].grad
	if bs.mul {
		kernels.MulBackward(bs.in[0].data, bs.as, bs.in[1].data, bs.bs, dy, bs.gin[0].out(), bs.gin[1].out(), e.ws)
		bs.gin[0].finish()
		bs.gin[1].finish()
		return
	}
	for i, s := range bs.in[:2] {
		g := &bs.gin[i]
		if g.mode == gradNone {
			continue
		}
		if s.n == bs.out[0].n {
			g.identity(dy)
			continue
		}
		if i == 0 {
			kernels.AddBackward(bs.as, bs.bs, dy, g.out(), nil, e.ws)
		} else {
			kernels.AddBackward(bs.as, bs.bs, dy, nil, g.out(), e.ws)
		}
		g.finish()
	}
}

// ---- Views: Flatten, Reshape, Identity, Squeeze, Unsqueeze, inference Dropout

type viewStep[T Float] struct{ node[T] }

func newView[T Float](b *builder[T], nd *node[T]) (step[T], error) {
	if err := need(nd, 0); err != nil {
		return nil, err
	}
	if nd.out[0].n != nd.in[0].n {
		return nil, fmt.Errorf("finetune: %v: output shape %v does not hold input %v", nd.n, nd.out[0].shape, nd.in[0].shape)
	}
	nd.view = true
	nd.diff[0] = true
	nd.alias[0] = aliasIdentity
	return &viewStep[T]{*nd}, nil
}

func (v *viewStep[T]) forward(*Engine[T], bool) {}

func (v *viewStep[T]) backward(*Engine[T]) { v.gin[0].identity(v.out[0].grad) }

// ---- Dropout

type dropoutStep[T Float] struct {
	node[T]
	ratio float64
	mask  []bool
	train bool // the last forward dropped
}

func newDropout[T Float](b *builder[T], nd *node[T]) (step[T], error) {
	n := nd.n
	ratio := float64(n.AttrFloat("ratio", 0.5))
	if v, ok, err := scalarConst(n, 1); err != nil {
		return nil, err
	} else if ok {
		ratio = v
	}
	if n.Input(2) != nil {
		if v, _, err := scalarConst(n, 2); err != nil {
			return nil, err
		} else if v != 0 {
			return nil, unsupported(n, "training_mode input set: the engine decides the mode")
		}
	}
	if ratio < 0 || ratio >= 1 {
		return nil, unsupported(n, "ratio %v", ratio)
	}
	if !b.e.train || ratio == 0 {
		return newView(b, nd)
	}
	if err := checkOut(nd, nd.in[0].shape); err != nil {
		return nil, err
	}
	nd.diff[0] = true
	nd.alias[0] = aliasInPlace
	nd.inplace = []int{0}
	return &dropoutStep[T]{node: *nd, ratio: ratio, mask: make([]bool, nd.in[0].n)}, nil
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (d *dropoutStep[T]) forward(e *Engine[T], train bool) {
	d.train = train
	x, y := d.in[0].data, d.out[0].data
	if !train {
		copy(y, x)
		return
	}
	seed := splitmix(e.opts.Seed ^ splitmix(e.calls) ^ uint64(d.t)*0x9e3779b97f4a7c15)
	kernels.Dropout(x, y, d.mask, d.ratio, seed)
}

func (d *dropoutStep[T]) backward(e *Engine[T]) {
	dx := d.gin[0].out()
	if dx == nil {
		return
	}
	kernels.DropoutBackward(d.mask, d.out[0].grad, dx, d.ratio)
	d.gin[0].finish()
}

// ---- Gemm and MatMul

type gemmStep[T Float] struct {
	node[T]
	s kernels.GemmShape
}

func newGemm[T Float](b *builder[T], nd *node[T]) (step[T], error) {
	n := nd.n
	if err := need(nd, 0, 1); err != nil {
		return nil, err
	}
	a, w := nd.in[0], nd.in[1]
	if len(a.shape) != 2 || len(w.shape) != 2 {
		return nil, unsupported(n, "operands of rank %d and %d", len(a.shape), len(w.shape))
	}
	s := kernels.GemmShape{TransA: n.AttrInt("transA", 0) != 0, TransB: n.AttrInt("transB", 0) != 0,
		Alpha: float64(n.AttrFloat("alpha", 1)), Beta: float64(n.AttrFloat("beta", 1))}
	s.M, s.K = a.shape[0], a.shape[1]
	if s.TransA {
		s.M, s.K = s.K, s.M
	}
	k2, N := w.shape[0], w.shape[1]
	if s.TransB {
		k2, N = N, k2
	}
	if k2 != s.K {
		return nil, unsupported(n, "inner dimensions %d and %d differ", s.K, k2)
	}
	s.N = N
	if len(nd.in) > 2 && nd.in[2] != nil {
		s.CShape = nd.in[2].shape
		if s.CShape == nil {
			s.CShape = []int{}
		}
		if len(s.CShape) > 2 {
			return nil, unsupported(n, "C of rank %d", len(s.CShape))
		}
		if _, err := kernels.BroadcastShape([]int{s.M, s.N}, s.CShape); err != nil {
			return nil, unsupported(n, "C %v does not broadcast to [%d %d]", s.CShape, s.M, s.N)
		}
		b.param(nd.in[2], Bias)
		nd.diff[2] = true
	}
	if err := checkOut(nd, []int{s.M, s.N}); err != nil {
		return nil, err
	}
	b.param(w, Weight)
	nd.diff[0], nd.diff[1] = true, true
	return &gemmStep[T]{node: *nd, s: s}, nil
}

func (g *gemmStep[T]) c() []T {
	if len(g.in) > 2 && g.in[2] != nil {
		return g.in[2].data
	}
	return nil
}

func (g *gemmStep[T]) forward(e *Engine[T], _ bool) {
	kernels.Gemm(g.s, g.in[0].data, g.in[1].data, g.c(), g.out[0].data)
}

func (g *gemmStep[T]) saved() (ins, outs []int) {
	if g.in[1].needGrad {
		ins = append(ins, 0)
	}
	if g.in[0].needGrad {
		ins = append(ins, 1)
	}
	return ins, nil
}

func (g *gemmStep[T]) backward(e *Engine[T]) {
	var dc []T
	if len(g.gin) > 2 {
		dc = g.gin[2].out()
	}
	kernels.GemmBackward(g.s, g.in[0].data, g.in[1].data, g.out[0].grad, g.gin[0].out(), g.gin[1].out(), dc, e.ws)
	for i := range g.gin {
		g.gin[i].finish()
	}
}

type matmulStep[T Float] struct {
	node[T]
	as, bs  []int
	M, K, N int
}

func newMatMul[T Float](b *builder[T], nd *node[T]) (step[T], error) {
	n := nd.n
	if err := need(nd, 0, 1); err != nil {
		return nil, err
	}
	a, w := nd.in[0], nd.in[1]
	out, err := kernels.MatMulShape(a.shape, w.shape)
	if err != nil {
		return nil, unsupported(n, "%v", err)
	}
	if err := checkOut(nd, out); err != nil {
		return nil, err
	}
	m := &matmulStep[T]{as: a.shape, bs: w.shape}
	if len(a.shape) == 2 && len(w.shape) == 2 {
		m.M, m.K, m.N = a.shape[0], a.shape[1], w.shape[1]
		nd.diff[0], nd.diff[1] = true, true
		b.param(w, Weight)
	} else {
		nd.noBackward = true
	}
	m.node = *nd
	return m, nil
}

func (m *matmulStep[T]) forward(e *Engine[T], _ bool) {
	kernels.MatMul(m.in[0].data, m.as, m.in[1].data, m.bs, m.out[0].data)
}

func (m *matmulStep[T]) saved() (ins, outs []int) {
	if m.in[1].needGrad {
		ins = append(ins, 0)
	}
	if m.in[0].needGrad {
		ins = append(ins, 1)
	}
	return ins, nil
}

func (m *matmulStep[T]) backward(e *Engine[T]) {
	kernels.MatMulBackward(m.M, m.K, m.N, m.in[0].data, m.in[1].data, m.out[0].grad, m.gin[0].out(), m.gin[1].out())
	m.gin[0].finish()
	m.gin[1].finish()
}

// ---- Concat and Transpose

type concatStep[T Float] struct {
	node[T]
	outer int
	inner []int // per input: elements per outer index
	total int
}

func newConcat[T Float](b *builder[T], nd *node[T]) (step[T], error) {
	n := nd.n
	if len(nd.in) == 0 {
		return nil, unsupported(n, "no inputs")
	}
	r := len(nd.out[0].shape)
	axis, err := onnxio.NormAxis(n.AttrInt("axis", 0), r)
	if err != nil {
		return nil, unsupported(n, "%v", err)
	}
	c := &concatStep[T]{outer: prod(nd.out[0].shape[:axis])}
	for i, s := range nd.in {
		if s == nil || len(s.shape) != r {
			return nil, unsupported(n, "input %d missing or of another rank", i)
		}
		c.inner = append(c.inner, prod(s.shape[axis:]))
		c.total += c.inner[i]
		nd.diff[i] = true
	}
	if c.outer*c.total != nd.out[0].n {
		return nil, fmt.Errorf("finetune: %v: inputs do not fill the output %v", n, nd.out[0].shape)
	}
	c.node = *nd
	return c, nil
}

func (c *concatStep[T]) forward(e *Engine[T], _ bool) {
	y := c.out[0].data
	off := 0
	for i, s := range c.in {
		in := c.inner[i]
		for o := 0; o < c.outer; o++ {
			copy(y[o*c.total+off:o*c.total+off+in], s.data[o*in:(o+1)*in])
		}
		off += in
	}
}

func (c *concatStep[T]) backward(e *Engine[T]) {
	dy := c.out[0].grad
	off := 0
	for i := range c.in {
		in := c.inner[i]
		if dx := c.gin[i].out(); dx != nil {
			for o := 0; o < c.outer; o++ {
				copy(dx[o*in:(o+1)*in], dy[o*c.total+off:o*c.total+off+in])
			}
			c.gin[i].finish()
		}
		off += in
	}
}

type transposeStep[T Float] struct {
	node[T]
	outShape []int // output shape
	stride   []int // input stride of each output axis
	idx      []int // scratch multi-index
}

func newTranspose[T Float](b *builder[T], nd *node[T]) (step[T], error) {
	n := nd.n
	if err := need(nd, 0); err != nil {
		return nil, err
	}
	x := nd.in[0]
	r := len(x.shape)
	perm := make([]int, r)
	if p := n.AttrInts("perm"); p != nil {
		if len(p) != r {
			return nil, unsupported(n, "perm %v for rank %d", p, r)
		}
		for i, v := range p {
			perm[i] = int(v)
		}
	} else {
		for i := range perm {
			perm[i] = r - 1 - i
		}
	}
	want := make([]int, r)
	for i, p := range perm {
		if p < 0 || p >= r {
			return nil, unsupported(n, "perm %v", perm)
		}
		want[i] = x.shape[p]
	}
	if err := checkOut(nd, want); err != nil {
		return nil, err
	}
	inStride := make([]int, r)
	acc := 1
	for i := r - 1; i >= 0; i-- {
		inStride[i] = acc
		acc *= x.shape[i]
	}
	st := make([]int, r)
	for i, p := range perm {
		st[i] = inStride[p]
	}
	nd.diff[0] = true
	return &transposeStep[T]{node: *nd, outShape: want, stride: st, idx: make([]int, r)}, nil
}

// permute walks the output in order, visiting the matching input offset;
// back scatters into the input instead.
func (t *transposeStep[T]) permute(src, dst []T, back bool) {
	r := len(t.outShape)
	if r == 0 {
		copy(dst, src)
		return
	}
	idx := t.idx
	clear(idx)
	off := 0
	for o := range t.in[0].n {
		if back {
			dst[off] = src[o]
		} else {
			dst[o] = src[off]
		}
		for k := r - 1; k >= 0; k-- {
			idx[k]++
			off += t.stride[k]
			if idx[k] < t.outShape[k] {
				break
			}
			off -= t.stride[k] * t.outShape[k]
			idx[k] = 0
		}
	}
}

func (t *transposeStep[T]) forward(e *Engine[T], _ bool) {
	t.permute(t.in[0].data, t.out[0].data, false)
}

func (t *transposeStep[T]) backward(e *Engine[T]) {
	if dx := t.gin[0].out(); dx != nil {
		t.permute(t.out[0].grad, dx, true)
		t.gin[0].finish()
	}
}

// ---- Softmax and LogSoftmax (inference only; training stops at the logits)

type softmaxStep[T Float] struct {
	node[T]
	log             bool
	outer, k, inner int
}

func newSoftmax[T Float](b *builder[T], nd *node[T]) (step[T], error) {
	n := nd.n
	if err := need(nd, 0); err != nil {
		return nil, err
	}
	shape := nd.in[0].shape
	r := len(shape)
	def := int64(-1)
	if b.opset < 13 {
		def = 1
	}
	axis, err := onnxio.NormAxis(n.AttrInt("axis", def), r)
	if err != nil {
		return nil, unsupported(n, "%v", err)
	}
	s := &softmaxStep[T]{log: n.Op == "LogSoftmax", outer: prod(shape[:axis])}
	if b.opset < 13 {
		s.k, s.inner = prod(shape[axis:]), 1
	} else {
		s.k, s.inner = shape[axis], prod(shape[axis+1:])
	}
	nd.noBackward = true
	nd.inplace = []int{0}
	s.node = *nd
	return s, nil
}

func (s *softmaxStep[T]) forward(e *Engine[T], _ bool) {
	x, y := s.in[0].data, s.out[0].data
	for o := 0; o < s.outer; o++ {
		for j := 0; j < s.inner; j++ {
			base := o*s.k*s.inner + j
			m := math.Inf(-1)
			for i := 0; i < s.k; i++ {
				m = max(m, float64(x[base+i*s.inner]))
			}
			sum := 0.0
			for i := 0; i < s.k; i++ {
				sum += math.Exp(float64(x[base+i*s.inner]) - m)
			}
			lse := m + math.Log(sum)
			for i := 0; i < s.k; i++ {
				v := float64(x[base+i*s.inner]) - lse
				if !s.log {
					v = math.Exp(v)
				}
				y[base+i*s.inner] = T(v)
			}
		}
	}
}

func (s *softmaxStep[T]) backward(*Engine[T]) { panic("finetune: softmax has no backward") }

// ---- Pad (constant mode)

type padStep[T Float] struct {
	node[T]
	value        T
	inS, outS    []int // shapes
	begin        []int
	outer, inner int   // the rows copied: outer rows of inner elements
	idx          []int // scratch multi-index
}

func newPad[T Float](b *builder[T], nd *node[T]) (step[T], error) {
	n := nd.n
	if err := need(nd, 0); err != nil {
		return nil, err
	}
	if mode := n.AttrString("mode", "constant"); mode != "constant" {
		return nil, unsupported(n, "mode %q (only constant)", mode)
	}
	x := nd.in[0]
	r := len(x.shape)
	var pads []int64
	value := float64(n.AttrFloat("value", 0))
	if b.opset < 11 {
		pads = n.AttrInts("pads")
	} else {
		t := onnxio.ConstValue(n.Input(1))
		if t == nil {
			return nil, unsupported(n, "pads must be a constant")
		}
		var err error
		if pads, err = t.Int64s(); err != nil {
			return nil, unsupported(n, "pads: %v", err)
		}
		if v, ok, err := scalarConst(n, 2); err != nil {
			return nil, err
		} else if ok {
			value = v
		}
		if n.Input(3) != nil {
			return nil, unsupported(n, "axes input")
		}
	}
	if len(pads) != 2*r {
		return nil, unsupported(n, "%d pads for rank %d", len(pads), r)
	}
	p := &padStep[T]{value: T(value), inS: x.shape, begin: make([]int, r)}
	want := make([]int, r)
	for i := range r {
		if pads[i] < 0 || pads[r+i] < 0 {
			return nil, unsupported(n, "negative pads")
		}
		p.begin[i] = int(pads[i])
		want[i] = x.shape[i] + int(pads[i]+pads[r+i])
	}
	if err := checkOut(nd, want); err != nil {
		return nil, err
	}
	p.outS = want
	p.idx = make([]int, r)
	p.inner = x.shape[r-1]
	p.outer = x.n / max(p.inner, 1)
	nd.diff[0] = true
	p.node = *nd
	return p, nil
}

// rows calls fn(src, dst) with the offsets of each input row (last axis)
// in the input and in the padded output.
func (p *padStep[T]) rows(fn func(src, dst int)) {
	r := len(p.inS)
	idx := p.idx
	clear(idx)
	for row := 0; row < p.outer; row++ {
		dst := 0
		for i := 0; i < r; i++ {
			dst = dst*p.outS[i] + idx[i] + p.begin[i]
		}
		fn(row*p.inner, dst)
		for k := r - 2; k >= 0; k-- {
			idx[k]++
			if idx[k] < p.inS[k] {
				break
			}
			idx[k] = 0
		}
	}
}

func (p *padStep[T]) forward(e *Engine[T], _ bool) {
	x, y := p.in[0].data, p.out[0].data
	for i := range y {
		y[i] = p.value
	}
	p.rows(func(src, dst int) { copy(y[dst:dst+p.inner], x[src:src+p.inner]) })
}

func (p *padStep[T]) backward(e *Engine[T]) {
	dx := p.gin[0].out()
	if dx == nil {
		return
	}
	dy := p.out[0].grad
	p.rows(func(src, dst int) { copy(dx[src:src+p.inner], dy[dst:dst+p.inner]) })
	p.gin[0].finish()
}
