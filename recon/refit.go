package recon

import (
	"fmt"
	"slices"

	"gonum.org/v1/gonum/mat"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

// Refit refits, in m, the layers that read channels plan removes. m is the
// model the statistics were collected on after surgery.Apply of plan;
// plan is resolved against s.Analysis() (kept channels listed). It returns
// one report per refitted layer, in graph order.
func (s *Stats) Refit(m *onnxio.Model, plan surgery.Plan) ([]Fit, error) {
	for _, gp := range plan.Groups {
		if gp.Keep == nil && gp.Drop != 0 {
			return nil, fmt.Errorf("recon: refit: group %d has a drop count; resolve the plan first", gp.Group)
		}
	}
	sel := plan.Selection()
	nodes := map[string]*onnxio.Node{}
	for _, n := range m.Graph.Nodes {
		if o := n.Output(0); o != nil {
			nodes[o.Name] = n
		}
	}
	var fits []Fit
	for _, l := range s.layers {
		if !l.in.Touches(sel) {
			continue // its inputs are whole; a cut of its outputs needs no refit
		}
		n := nodes[l.key]
		if n == nil {
			return nil, fmt.Errorf("recon: refit: the pruned model has no node computing %q", l.key)
		}
		K := l.positionFeatures(l.in.Positions(sel))
		O := make([]int, l.cout)
		for o := range O {
			O[o] = o
		}
		if l.out != nil {
			O = l.out.Positions(sel)
		}
		w, f := l.refit(K, O)
		if f.Alpha != 0 {
			if err := l.write(n, w, len(K), len(O)); err != nil {
				return nil, err
			}
		}
		fits = append(fits, f)
	}
	return fits, nil
}

// write stores refitted weights w (features × outputs, the bias row last)
// into node n of the pruned model, whose weight tensor must already have
// the pruned shape.
func (l *layer) write(n *onnxio.Node, w *mat.Dense, k, nout int) error {
	nf := k
	if l.hasBias() {
		nf--
	}
	wv := n.Input(1)
	if wv == nil || wv.Const == nil {
		return fmt.Errorf("recon: refit %q: its weights are not an initializer", l.key)
	}
	dims := slices.Clone(wv.Const.Dims)
	var want []int64
	switch {
	case l.op == opConv:
		want = []int64{int64(nout), int64(nf / l.kk()), int64(l.kh), int64(l.kw)}
	case l.op == opGemm && l.transB:
		want = []int64{int64(nout), int64(nf)}
	default:
		want = []int64{int64(nf), int64(nout)}
	}
	if !slices.Equal(dims, want) {
		return fmt.Errorf("recon: refit %q: its pruned weights are %v, the plan gives %v", l.key, dims, want)
	}
	data := make([]float32, nf*nout)
	for f := range nf {
		for o := range nout {
			v := float32(w.At(f, o))
			switch {
			case l.op == opConv || (l.op == opGemm && l.transB):
				data[o*nf+f] = v
			default:
				data[f*nout+o] = v
			}
		}
	}
	t, err := onnxio.NewFloat32Tensor(dims, data)
	if err != nil {
		return err
	}
	wv.Const = t
	if !l.hasBias() {
		return nil
	}
	bv := biasValue(n, l)
	if bv == nil || bv.Const == nil || bv.Const.NumElements() != int64(nout) {
		return fmt.Errorf("recon: refit %q: its bias %q is not an initializer of %d values", l.key, l.biasName, nout)
	}
	b, err := bv.Const.Float32()
	if err != nil {
		return err
	}
	b = slices.Clone(b)
	for o := range nout {
		fit := float32(w.At(nf, o))
		if l.bias == biasOwn {
			b[o] = fit
		} else {
			// BN(x + β) with mean μ is BN(x) with mean μ − β.
			b[o] -= fit
		}
	}
	t, err = onnxio.NewFloat32Tensor(bv.Const.Dims, b)
	if err != nil {
		return err
	}
	bv.Const = t
	return nil
}

// biasValue returns the value that holds the layer's bias in the pruned
// model: the node's bias input, or the mean of the BatchNormalization
// after it.
func biasValue(n *onnxio.Node, l *layer) *onnxio.Value {
	if l.bias == biasOwn {
		return n.Input(2)
	}
	if bn := onlyBN(n.Output(0)); bn != nil {
		return bn.Input(3)
	}
	return nil
}
