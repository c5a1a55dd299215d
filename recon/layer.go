package recon

import (
	"fmt"
	"math"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

// maxFeatures bounds the features of a layer that is refitted: its Gram
// matrices take 16·d² bytes (a 3×3 conv over 256 channels: 85 MB). Wider
// layers are left as the cut makes them.
const maxFeatures = 2304

type opKind uint8

const (
	opConv opKind = iota
	opGemm
	opMatMul
)

// biasKind says where a layer's bias lives.
type biasKind uint8

const (
	biasNone biasKind = iota // no bias is fitted
	biasOwn                  // the node's own bias input (Conv B, Gemm C)
	biasBN                   // none; folded into the mean of the BatchNormalization that follows
)

// layer is one consumer: a node whose constant weights contract over an
// axis that carries group channels.
type layer struct {
	key   string // the node's first output: names survive pruning
	op    opKind
	input string // the activation it reads
	bias  biasKind
	// biasName is the bias initializer (biasOwn) or the BatchNormalization
	// mean (biasBN).
	biasName string

	// The contracted axis has c positions (channels, or features after a
	// Flatten), each kh·kw features wide.
	c, kh, kw int
	// Conv geometry: strides, dilations, leading pads, input and output
	// sizes.
	sh, sw, dh, dw, pt, pl int
	h, w, oh, ow           int
	// rowsPer is the number of rows one image gives (output positions).
	rowsPer int
	transB  bool
	cout    int

	in  surgery.Layout  // group channels along the contracted axis
	out *surgery.Layout // group channels along the output axis, if any

	// scale[o] weighs output o's error: the scale of a
	// BatchNormalization that follows, else 1.
	scale []float64
	// d = c·kh·kw (+1 with a bias) features; w0 is the layer's weights,
	// d×cout, feature-major (the bias last).
	d  int
	w0 []float64

	st *gram // statistics, once collected
}

// kk is the number of features per position of the contracted axis.
func (l *layer) kk() int { return l.kh * l.kw }

// hasBias reports whether the last feature is the constant 1.
func (l *layer) hasBias() bool { return l.bias != biasNone }

// findLayers lists the consumers of g's prunable groups, in graph order.
// Layers that cannot be refitted (shared or computed weights, grouped
// convs, unusual Gemm attributes, too many features) are left out, with
// the reason in skipped.
func findLayers(g *onnxio.Graph, an *surgery.Analysis) (layers []*layer, skipped map[string]string) {
	skipped = map[string]string{}
	prunable := map[int]bool{}
	for _, gr := range an.Prunable() {
		prunable[gr.ID] = true
	}
	order, err := g.Topo()
	if err != nil {
		order = g.Nodes
	}
	for _, n := range order {
		if n.Domain != "" || (n.Op != "Conv" && n.Op != "Gemm" && n.Op != "MatMul") || n.Output(0) == nil {
			continue
		}
		x := n.Input(0)
		if x == nil {
			continue
		}
		al, ok := an.Channels(x.Name)
		if !ok || !touchesAny(al.Layout, prunable) {
			continue
		}
		l, err := newLayer(n, an, al)
		if err != nil {
			skipped[n.Output(0).Name] = err.Error()
			continue
		}
		if l != nil {
			layers = append(layers, l)
		}
	}
	return layers, skipped
}

func touchesAny(l surgery.Layout, groups map[int]bool) bool {
	for _, s := range l.Segs {
		if groups[s.Group] {
			return true
		}
	}
	return false
}

// newLayer describes node n, whose input's channels run along al. It
// returns nil, nil when n does not contract over that axis (a depthwise
// conv: its channels are pruned with the group, nothing to refit).
func newLayer(n *onnxio.Node, an *surgery.Analysis, al surgery.AxisLayout) (*layer, error) {
	w := n.Input(1)
	if w == nil || w.Const == nil || w.Const.DataType != onnxio.Float {
		return nil, fmt.Errorf("its weights are not a float32 initializer")
	}
	if len(w.Consumers()) != 1 {
		return nil, fmt.Errorf("its weights %q are shared with another node", w.Name)
	}
	l := &layer{key: n.Output(0).Name, input: n.Input(0).Name, in: al.Layout, kh: 1, kw: 1}
	wd := w.Const.Dims
	xd := an.Shape(n.Input(0).Name)
	switch n.Op {
	case "Conv":
		if len(wd) != 4 || len(xd) != 4 || al.Axis != 1 {
			return nil, fmt.Errorf("only 2-D convolutions over the channel axis are refitted")
		}
		if grp := n.AttrInt("group", 1); grp != 1 {
			if grp == xd[1] && wd[1] == 1 {
				return nil, nil // depthwise
			}
			return nil, fmt.Errorf("grouped convolutions are not refitted")
		}
		l.op = opConv
		l.cout, l.c, l.kh, l.kw = int(wd[0]), int(wd[1]), int(wd[2]), int(wd[3])
		l.h, l.w = int(xd[2]), int(xd[3])
		if err := l.convGeometry(n, an.Shape(n.Output(0).Name)); err != nil {
			return nil, err
		}
		l.rowsPer = l.oh * l.ow
	case "Gemm":
		if len(wd) != 2 || len(xd) != 2 || al.Axis != 1 {
			return nil, fmt.Errorf("only Gemm over the feature axis of a 2-D input is refitted")
		}
		if n.AttrInt("transA", 0) != 0 || n.AttrFloat("alpha", 1) != 1 || n.AttrFloat("beta", 1) != 1 {
			return nil, fmt.Errorf("only Gemm with transA 0 and alpha = beta = 1 is refitted")
		}
		l.op = opGemm
		l.transB = n.AttrInt("transB", 0) == 1
		l.c, l.cout = int(wd[0]), int(wd[1])
		if l.transB {
			l.c, l.cout = l.cout, l.c
		}
		l.rowsPer = 1
	case "MatMul":
		if len(wd) != 2 || len(xd) < 2 || al.Axis != len(xd)-1 {
			return nil, fmt.Errorf("only MatMul by a 2-D constant over the last axis is refitted")
		}
		l.op = opMatMul
		l.c, l.cout = int(wd[0]), int(wd[1])
		l.rowsPer = 1
		for _, d := range xd[1 : len(xd)-1] {
			l.rowsPer *= int(d)
		}
	}
	if l.c != al.Layout.Len() || l.rowsPer < 1 {
		return nil, fmt.Errorf("its input has %d channels, the analysis %d", l.c, al.Layout.Len())
	}
	l.findBias(n)
	l.d = l.c * l.kk()
	if l.hasBias() {
		l.d++
	}
	if l.d > maxFeatures {
		return nil, fmt.Errorf("%d features are more than the %d refitted", l.d, maxFeatures)
	}
	for _, ax := range an.TensorAxes(w.Name) {
		outAxis := 0
		if l.op != opConv && !(l.op == opGemm && l.transB) {
			outAxis = 1
		}
		if ax.Axis == outAxis {
			lay := ax.Layout
			l.out = &lay
		}
	}
	return l, l.readWeights(n)
}

// convGeometry reads strides, dilations and leading pads (onnxio's
// window semantics), and the output size shape inference found.
func (l *layer) convGeometry(n *onnxio.Node, ys []int64) error {
	w, err := onnxio.ReadWindow(n, []int64{int64(l.kh), int64(l.kw)})
	if err != nil {
		return err
	}
	pt, _ := w.Padding(0, int64(l.h))
	pl, _ := w.Padding(1, int64(l.w))
	l.sh, l.sw, l.dh, l.dw, l.pt, l.pl = int(w.Strides[0]), int(w.Strides[1]), int(w.Dilations[0]), int(w.Dilations[1]), int(pt), int(pl)
	if len(ys) != 4 || ys[2] <= 0 || ys[3] <= 0 {
		return fmt.Errorf("its output shape %v is not known", ys)
	}
	l.oh, l.ow = int(ys[2]), int(ys[3])
	return nil
}

// findBias decides where the layer's bias is fitted: its own bias input
// when it has a constant one, else the mean of a BatchNormalization that is
// its only consumer.
func (l *layer) findBias(n *onnxio.Node) {
	if l.op == opMatMul {
		return
	}
	if b := n.Input(2); b != nil {
		if b.Const != nil && b.Const.DataType == onnxio.Float && b.Const.NumElements() == int64(l.cout) && len(b.Consumers()) == 1 {
			l.bias, l.biasName = biasOwn, b.Name
		}
		return
	}
	if bn := onlyBN(n.Output(0)); bn != nil && l.op == opConv {
		if m := bn.Input(3); m != nil && m.Const != nil && len(m.Consumers()) == 1 && m.Const.NumElements() == int64(l.cout) {
			l.bias, l.biasName = biasBN, m.Name
		}
	}
}

// onlyBN returns the BatchNormalization that is v's only consumer, or nil.
func onlyBN(v *onnxio.Value) *onnxio.Node {
	if cs := v.Consumers(); len(cs) == 1 && cs[0].Op == "BatchNormalization" && cs[0].Domain == "" && cs[0].Input(0) == v {
		return cs[0]
	}
	return nil
}

// readWeights fills w0 (d×cout) and scale.
func (l *layer) readWeights(n *onnxio.Node) error {
	w, err := n.Input(1).Const.Float32()
	if err != nil {
		return err
	}
	kk, cout := l.kk(), l.cout
	l.w0 = make([]float64, l.d*cout)
	nf := l.c * kk
	for f := 0; f < nf; f++ {
		for o := 0; o < cout; o++ {
			var v float32
			switch {
			case l.op == opConv:
				v = w[o*nf+f]
			case l.op == opGemm && l.transB:
				v = w[o*l.c+f]
			default:
				v = w[f*cout+o]
			}
			l.w0[f*cout+o] = float64(v)
		}
	}
	if l.bias == biasOwn {
		b, err := n.Input(2).Const.Float32()
		if err != nil {
			return err
		}
		for o := range cout {
			l.w0[nf*cout+o] = float64(b[o])
		}
	}
	l.scale = make([]float64, cout)
	for o := range l.scale {
		l.scale[o] = 1
	}
	if bn := onlyBN(n.Output(0)); bn != nil {
		gamma, variance := constFloats(bn.Input(1)), constFloats(bn.Input(4))
		eps := float64(bn.AttrFloat("epsilon", 1e-5))
		if len(gamma) == cout && len(variance) == cout {
			for o := range l.scale {
				l.scale[o] = math.Abs(gamma[o]) / math.Sqrt(math.Max(variance[o], 0)+eps)
			}
		}
	}
	return nil
}

func constFloats(v *onnxio.Value) []float64 {
	if v == nil || v.Const == nil {
		return nil
	}
	f, err := v.Const.Float64s()
	if err != nil {
		return nil
	}
	return f
}

// row writes the features of output position (oy, ox) of image x (the
// layer's input for one image, C×H×W for a conv, c values per row
// otherwise) into dst (d values).
func (l *layer) row(x []float32, pos int, dst []float32) {
	switch l.op {
	case opConv:
		oy, ox := pos/l.ow, pos%l.ow
		hw := l.h * l.w
		i := 0
		for c := 0; c < l.c; c++ {
			plane := x[c*hw : (c+1)*hw]
			for ky := 0; ky < l.kh; ky++ {
				iy := oy*l.sh - l.pt + ky*l.dh
				for kx := 0; kx < l.kw; kx++ {
					ix := ox*l.sw - l.pl + kx*l.dw
					if iy < 0 || iy >= l.h || ix < 0 || ix >= l.w {
						dst[i] = 0
					} else {
						dst[i] = plane[iy*l.w+ix]
					}
					i++
				}
			}
		}
	default:
		copy(dst, x[pos*l.c:(pos+1)*l.c])
	}
	if l.hasBias() {
		dst[l.d-1] = 1
	}
}

// positionFeatures returns the features of the given positions of the
// contracted axis (sorted), followed by the bias feature.
func (l *layer) positionFeatures(pos []int) []int {
	kk := l.kk()
	out := make([]int, 0, len(pos)*kk+1)
	for _, p := range pos {
		for k := range kk {
			out = append(out, p*kk+k)
		}
	}
	if l.hasBias() {
		out = append(out, l.d-1)
	}
	return out
}

// channelFeatures returns, for each channel of group gid along the
// contracted axis, its features (nil for channels the axis does not hold).
func (l *layer) channelFeatures(gid, size int) [][]int {
	out := make([][]int, size)
	kk, period := l.kk(), l.in.Period()
	for o := 0; o < l.in.Outer; o++ {
		off := o * period
		for _, s := range l.in.Segs {
			if s.Group == gid {
				for c := s.Lo; c < s.Hi; c++ {
					for i := 0; i < s.Inner; i++ {
						p := off + (c-s.Lo)*s.Inner + i
						for k := range kk {
							out[c] = append(out[c], p*kk+k)
						}
					}
				}
			}
			off += s.Len()
		}
	}
	return out
}
