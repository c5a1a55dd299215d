package recon

import (
	"context"
	"fmt"
	"image"
	"math"
	"time"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

// Anchor refits, front to back, every refittable layer of m (a model
// pruned from src by plan, its composed plan relative to src, resolved)
// so that the layer's output reproduces the source's output at the same
// layer (its kept channels, in m's BatchNormalization coordinates) from
// the inputs m itself now gives it: the whole-model reconstruction of He
// et al. 2017, which corrects the drift that per-cut refits, each towards
// the model it cut, let accumulate over a NetAdapt path.
//
// Front to back is what makes it sound: every layer is fitted on its
// inputs after every layer before it was refitted, so no drift is
// compensated twice (see the package documentation). Each layer costs
// one onnxruntime pass of m up to that layer over the calibration images;
// the source runs once. As in Refit, the ridge term is chosen on the
// held-apart images and the layer's current weights are a candidate, so
// no layer fits worse than it did on images it was not fitted on. It
// returns one report per layer, in graph order; CutError is then the
// error of the current weights.
func Anchor(ctx context.Context, m, src *onnxio.Model, plan surgery.Plan, calib dataset.Dataset, opts Options) ([]Fit, error) {
	start := time.Now()
	opts = opts.withDefaults()
	anM, err := surgery.Analyze(m.Graph)
	if err != nil {
		return nil, err
	}
	anS, err := surgery.Analyze(src.Graph)
	if err != nil {
		return nil, err
	}
	layersM, _ := findLayers(m.Graph, anM)
	layersS, _ := findLayers(src.Graph, anS)
	byKey := map[string]*layer{}
	for _, l := range layersS {
		byKey[l.key] = l
	}
	sel := plan.Selection()
	byKeyM := map[string]*layer{}
	for _, l := range layersM {
		byKeyM[l.key] = l
	}
	order, err := m.Graph.Topo()
	if err != nil {
		return nil, err
	}
	var todo []*anchored
	for _, n := range order {
		if n.Output(0) == nil {
			continue
		}
		key := n.Output(0).Name
		var a *anchored
		if l := byKeyM[key]; l != nil {
			if ls := byKey[key]; ls != nil {
				a, err = newAnchored(m, src, l, ls, sel)
			}
		} else if n.Op == "Conv" && n.Domain == "" {
			a, err = newDepthwise(m, src, n, anM, anS, sel)
		}
		if err != nil {
			return nil, err
		}
		if a != nil {
			todo = append(todo, a)
		}
	}
	ds := calib
	if ds.Len() > opts.Images {
		if _, ds, err = dataset.HoldOut(calib, float64(opts.Images), opts.Seed); err != nil {
			return nil, err
		}
	}
	images := ds.Len()
	if images == 0 || len(todo) == 0 {
		return nil, nil
	}
	// Every layer runs the images again: decode them once.
	if ds, err = decoded(ds); err != nil {
		return nil, err
	}
	for li, a := range todo {
		p := (opts.RowsPerFeature*a.l.d + images - 1) / images
		if a.subs != nil {
			p = depthwiseRows
		}
		a.perImage, a.li = min(max(p, 1), a.l.rowsPer), li
		a.targets = make(map[int][]float32, images)
	}
	eval := finetune.EvalOptions{Threads: opts.Threads, Preprocess: opts.Preprocess, Workers: opts.Workers}

	// The source's outputs at every layer, at the positions each layer samples.
	sc := src.Clone()
	var outs []*onnxio.Value
	perImage := 0
	for _, a := range todo {
		outs = append(outs, typed(sc.Graph.Value(a.l.key), anS))
		perImage += a.l.cout * a.l.rowsPer
	}
	sc.Graph.Outputs = outs
	sc.Graph.RemoveUnused()
	data, err := onnxio.Encode(sc)
	if err != nil {
		return nil, err
	}
	eval.Batch = max(1, min(32, maxBatchFloats/max(perImage, 1)))
	err = finetune.RunBatches(ctx, data, ds, eval, func(b *dataset.Batch, vals []ort.Tensor, _ int) error {
		for li, a := range todo {
			y, err := vals[li].Float32()
			if err != nil {
				return fmt.Errorf("recon: anchor: %w", err)
			}
			per := len(y) / max(1, int(vals[li].Shape[0]))
			for r := 0; r < b.N; r++ {
				a.target(b.Indices[r], y[r*per:(r+1)*per], opts.Seed)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	nodes := map[string]*onnxio.Node{}
	for _, n := range m.Graph.Nodes {
		if o := n.Output(0); o != nil {
			nodes[o.Name] = n
		}
	}
	var fits []Fit
	for _, a := range todo {
		l := a.l
		c := m.Clone()
		v := c.Graph.Value(l.input)
		if v == nil {
			return nil, fmt.Errorf("recon: anchor: no value %q in the model", l.input)
		}
		c.Graph.Outputs = []*onnxio.Value{typed(v, anM)}
		c.Graph.RemoveUnused()
		data, err := onnxio.Encode(c)
		if err != nil {
			return nil, err
		}
		per := l.c * l.h * l.w
		if l.op != opConv {
			per = l.c * l.rowsPer
		}
		eval.Batch = max(1, min(32, maxBatchFloats/max(per, 1)))
		if a.subs != nil {
			f, err := a.anchorDepthwise(ctx, data, ds, eval, nodes[l.key], opts.Seed)
			if err != nil {
				return nil, err
			}
			fits = append(fits, f)
			a.targets = nil
			continue
		}
		acc := newAccumulator(l, true)
		err = eachInput(ctx, data, ds, eval, func(idx int, x []float32) {
			acc.image(x, a.positions(idx, opts.Seed), a.targets[idx], idx%validEvery == validEvery-1)
		})
		if err != nil {
			return nil, err
		}
		acc.flush()
		l.st = acc.st
		K, O := seq(l.d), seq(l.cout)
		w, f := l.refit(K, O)
		if f.Alpha != 0 {
			n := nodes[l.key]
			if n == nil {
				return nil, fmt.Errorf("recon: anchor: the model has no node computing %q", l.key)
			}
			if err := l.write(n, w, len(K), len(O)); err != nil {
				return nil, err
			}
		}
		fits = append(fits, f)
		a.targets = nil
		if opts.Log != nil {
			opts.Log.Debug("anchor", "layer", l.key, "alpha", f.Alpha, "error_before", f.CutError, "error_after", f.FitError)
		}
	}
	if opts.Log != nil {
		opts.Log.Info("anchored", "layers", len(fits), "images", images, "seconds", time.Since(start).Seconds())
	}
	return fits, nil
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// anchored is a layer of the pruned model and how its source's output maps
// to it: output o of the pruned layer is source output srcOut[o], turned
// into the pruned layer's coordinates (before its BatchNormalization) as
// scale[o]·y + shift[o].
type anchored struct {
	l *layer
	// subs, for a depthwise conv, are its channels as one-channel layers
	// (l is then their geometry: c = cout = the channel count).
	subs          []*layer
	li            int
	srcCout       int
	srcOut        []int
	scale, shift  []float64
	perImage      int
	targets       map[int][]float32 // image → perImage×cout targets
	srcRowsPerImg int
}

// newAnchored pairs layer l of m with its source layer ls. It returns nil
// when their outputs cannot be matched (a BatchNormalization on one side
// only, or channel counts the plan does not explain).
func newAnchored(m, src *onnxio.Model, l, ls *layer, sel surgery.Selection) (*anchored, error) {
	if l.op != ls.op || l.rowsPer != ls.rowsPer {
		return nil, nil
	}
	out := seq(ls.cout)
	if ls.out != nil {
		out = ls.out.Positions(sel)
	}
	if len(out) != l.cout {
		return nil, nil
	}
	a := &anchored{l: l, srcCout: ls.cout, srcOut: out, srcRowsPerImg: ls.rowsPer}
	if !a.mapBN(m, src, l.key) {
		return nil, nil
	}
	return a, nil
}

type bnP struct{ gamma, beta, mean, sigma []float64 }

func bnParams(bn *onnxio.Node, n int) (bnP, bool) {
	p := bnP{gamma: constFloats(bn.Input(1)), beta: constFloats(bn.Input(2)), mean: constFloats(bn.Input(3))}
	variance := constFloats(bn.Input(4))
	if len(p.gamma) != n || len(p.beta) != n || len(p.mean) != n || len(variance) != n {
		return p, false
	}
	eps := float64(bn.AttrFloat("epsilon", 1e-5))
	p.sigma = make([]float64, n)
	for i, v := range variance {
		p.sigma[i] = math.Sqrt(math.Max(v, 0) + eps)
	}
	return p, true
}

// positions returns the output positions the layer samples in image idx.
func (a *anchored) positions(idx int, seed uint64) []int {
	return samplePositions(a.l.rowsPer, a.perImage, seed, idx, a.li)
}

// typed gives v, about to be a graph output, the type the analysis
// inferred when the model carries none, and returns it.
func typed(v *onnxio.Value, an *surgery.Analysis) *onnxio.Value {
	if v != nil && v.Type.Elem == onnxio.Undefined {
		v.Type = onnxio.Type{Elem: onnxio.Float, Shape: onnxio.ShapeOf(an.Shape(v.Name)...), HasShape: true}
	}
	return v
}

// target keeps the source's outputs y (one image, cout×positions for a
// conv, positions×cout otherwise) at the sampled positions, mapped.
func (a *anchored) target(idx int, y []float32, seed uint64) {
	pos := a.positions(idx, seed)
	cout := a.l.cout
	t := make([]float32, len(pos)*cout)
	for i, p := range pos {
		for o := range cout {
			so := a.srcOut[o]
			var v float32
			if a.l.op == opConv {
				v = y[so*a.srcRowsPerImg+p]
			} else {
				v = y[p*a.srcCout+so]
			}
			t[i*cout+o] = float32(a.scale[o]*float64(v) + a.shift[o])
		}
	}
	a.targets[idx] = t
}

// depthwiseRows is the number of output positions a depthwise layer
// samples per calibration image: each of its channels is fitted alone, on
// kh·kw features (and a bias), from every sampled row.
const depthwiseRows = 16

// newDepthwise describes depthwise conv n of m, matched by its output
// name with the source's; nil when n is not a depthwise conv or has no
// match.
func newDepthwise(m, src *onnxio.Model, n *onnxio.Node, anM, anS *surgery.Analysis, sel surgery.Selection) (*anchored, error) {
	key := n.Output(0).Name
	w, x := n.Input(1), n.Input(0)
	if w == nil || x == nil || w.Const == nil || w.Const.DataType != onnxio.Float || len(w.Consumers()) != 1 || n.Input(2) != nil && n.Input(2).Const == nil {
		return nil, nil
	}
	wd, xd := w.Const.Dims, anM.Shape(x.Name)
	if len(wd) != 4 || len(xd) != 4 || wd[1] != 1 || n.AttrInt("group", 1) != xd[1] || wd[0] != xd[1] || xd[1] < 2 {
		return nil, nil
	}
	vs := src.Graph.Value(key)
	if vs == nil || vs.Producer() == nil || vs.Producer().Op != "Conv" {
		return nil, nil
	}
	srcShape := anS.Shape(key)
	if len(srcShape) != 4 {
		return nil, nil
	}
	l := &layer{key: key, op: opConv, input: x.Name, kh: int(wd[2]), kw: int(wd[3])}
	l.c, l.cout, l.h, l.w = int(xd[1]), int(wd[0]), int(xd[2]), int(xd[3])
	if err := l.convGeometry(n, anM.Shape(key)); err != nil {
		return nil, nil
	}
	l.rowsPer = l.oh * l.ow
	if int(srcShape[2])*int(srcShape[3]) != l.rowsPer {
		return nil, nil
	}
	l.findBias(n)
	l.d = l.kk()
	if l.hasBias() {
		l.d++
	}
	srcCout := int(srcShape[1])
	out := seq(srcCout)
	if al, ok := anS.Channels(key); ok && al.Axis == 1 {
		out = al.Layout.Positions(sel)
	}
	if len(out) != l.cout {
		return nil, nil
	}
	a := &anchored{l: l, srcCout: srcCout, srcOut: out, srcRowsPerImg: l.rowsPer}
	if !a.mapBN(m, src, key) {
		return nil, nil
	}
	wv, err := w.Const.Float32()
	if err != nil {
		return nil, err
	}
	var bv []float32
	if l.bias == biasOwn {
		if bv, err = n.Input(2).Const.Float32(); err != nil {
			return nil, err
		}
	}
	scale := make([]float64, l.cout)
	for o := range scale {
		scale[o] = 1
	}
	if bn := onlyBN(n.Output(0)); bn != nil {
		if p, ok := bnParams(bn, l.cout); ok {
			for o := range scale {
				scale[o] = math.Abs(p.gamma[o]) / p.sigma[o]
			}
		}
	}
	kk := l.kk()
	for ch := range l.cout {
		sub := *l
		sub.c, sub.cout = 1, 1
		sub.w0 = make([]float64, sub.d)
		for k := range kk {
			sub.w0[k] = float64(wv[ch*kk+k])
		}
		if bv != nil {
			sub.w0[kk] = float64(bv[ch])
		}
		sub.scale = []float64{scale[ch]}
		a.subs = append(a.subs, &sub)
	}
	return a, nil
}

// mapBN sets scale and shift, which read the source's output at key
// through m's own BatchNormalization after the same layer. It reports
// false when only one of the two has one.
func (a *anchored) mapBN(m, src *onnxio.Model, key string) bool {
	n := a.l.cout
	a.scale, a.shift = make([]float64, n), make([]float64, n)
	for o := range a.scale {
		a.scale[o] = 1
	}
	bnM, bnS := onlyBN(m.Graph.Value(key)), onlyBN(src.Graph.Value(key))
	switch {
	case bnM == nil && bnS == nil:
		return true
	case bnM == nil || bnS == nil:
		return false
	}
	pm, okM := bnParams(bnM, n)
	ps, okS := bnParams(bnS, a.srcCout)
	if !okM || !okS {
		return false
	}
	for o := range n {
		so := a.srcOut[o]
		// The source's normalised output γs(y−μs)/σs + βs, read back
		// through the pruned model's own normalisation.
		if pm.gamma[o] == 0 {
			return false
		}
		ks, km := ps.gamma[so]/ps.sigma[so], pm.sigma[o]/pm.gamma[o]
		a.scale[o] = ks * km
		a.shift[o] = (ps.beta[so]-ks*ps.mean[so]-pm.beta[o])*km + pm.mean[o]
	}
	return true
}

// anchorDepthwise fits every channel of depthwise layer a alone, from the
// model data (m up to the layer's input), and writes the fitted weights
// into node n. Its report averages the channels' held-apart errors.
func (a *anchored) anchorDepthwise(ctx context.Context, data []byte, ds dataset.Dataset, eval finetune.EvalOptions, n *onnxio.Node, seed uint64) (Fit, error) {
	l := a.l
	f := Fit{Layer: l.key, Features: l.d, Of: l.d, CutError: -1, FitError: -1}
	if n == nil {
		return f, fmt.Errorf("recon: anchor: the model has no node computing %q", l.key)
	}
	accs := make([]*accumulator, len(a.subs))
	for ch, sub := range a.subs {
		accs[ch] = newAccumulator(sub, true)
	}
	hw, C := l.h*l.w, l.cout
	var tc []float32
	err := eachInput(ctx, data, ds, eval, func(idx int, img []float32) {
		pos, t := a.positions(idx, seed), a.targets[idx]
		for ch, acc := range accs {
			tc = tc[:0]
			for i := range pos {
				tc = append(tc, t[i*C+ch])
			}
			acc.image(img[ch*hw:(ch+1)*hw], pos, tc, idx%validEvery == validEvery-1)
		}
	})
	if err != nil {
		return f, err
	}
	w, err := n.Input(1).Const.Float32()
	if err != nil {
		return f, err
	}
	w = append([]float32(nil), w...)
	bv := biasValue(n, l)
	var bias []float32
	if l.hasBias() {
		if bv == nil || bv.Const == nil {
			return f, fmt.Errorf("recon: anchor %q: its bias %q is not an initializer", l.key, l.biasName)
		}
		if bias, err = bv.Const.Float32(); err != nil {
			return f, err
		}
		bias = append([]float32(nil), bias...)
	}
	kk := l.kk()
	var cutSum, fitSum float64
	changed := false
	for ch, sub := range a.subs {
		accs[ch].flush()
		sub.st = accs[ch].st
		fw, sf := sub.refit(seq(sub.d), []int{0})
		f.Rows = sub.st.n
		cutSum += sf.CutError
		fitSum += sf.FitError
		f.Alpha = max(f.Alpha, sf.Alpha)
		if sf.Alpha == 0 {
			continue
		}
		changed = true
		for k := range kk {
			w[ch*kk+k] = float32(fw.At(k, 0))
		}
		if l.hasBias() {
			if l.bias == biasOwn {
				bias[ch] = float32(fw.At(kk, 0))
			} else {
				bias[ch] -= float32(fw.At(kk, 0)) // BN(x + β) with mean μ is BN(x) with mean μ − β
			}
		}
	}
	f.CutError, f.FitError = cutSum/float64(len(a.subs)), fitSum/float64(len(a.subs))
	if !changed {
		return f, nil
	}
	wt, err := onnxio.NewFloat32Tensor(n.Input(1).Const.Dims, w)
	if err != nil {
		return f, err
	}
	n.Input(1).Const = wt
	if l.hasBias() {
		bt, err := onnxio.NewFloat32Tensor(bv.Const.Dims, bias)
		if err != nil {
			return f, err
		}
		bv.Const = bt
	}
	return f, nil
}

// decoded returns ds's images decoded in memory, in ds's order.
func decoded(ds dataset.Dataset) (dataset.Dataset, error) {
	imgs := make([]image.Image, ds.Len())
	for i := range imgs {
		img, err := ds.Image(i, nil)
		if err != nil {
			return nil, err
		}
		imgs[i] = img
	}
	return dataset.NewImages("calibration", imgs), nil
}

// eachInput runs the model data (one output: a layer's input) over ds and
// calls fn with every image's index and output.
func eachInput(ctx context.Context, data []byte, ds dataset.Dataset, eval finetune.EvalOptions, fn func(idx int, x []float32)) error {
	return finetune.RunBatches(ctx, data, ds, eval, func(b *dataset.Batch, vals []ort.Tensor, _ int) error {
		x, err := vals[0].Float32()
		if err != nil {
			return fmt.Errorf("recon: anchor: %w", err)
		}
		per := len(x) / max(1, int(vals[0].Shape[0]))
		for r := 0; r < b.N; r++ {
			fn(b.Indices[r], x[r*per:(r+1)*per])
		}
		return nil
	})
}
