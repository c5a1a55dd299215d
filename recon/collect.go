package recon

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/internal/kernels"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

// Options configure Collect.
type Options struct {
	// Images is the number of calibration images (default 256): a seeded
	// sample of the calibration data when it has more.
	Images int
	// RowsPerFeature is the number of sampled rows a layer aims at per
	// feature (default 8), spread over the images; a layer whose output
	// map is smaller gives all its positions.
	RowsPerFeature int
	// Seed seeds the image sample and the sampled positions.
	Seed uint64
	// Preprocess turns images into the model's input (nil: the "none"
	// preset), as for finetune.Evaluate.
	Preprocess *dataset.Preprocess
	// Threads is onnxruntime's intra-op thread count; Workers the image
	// decoding goroutines (0: their defaults).
	Threads, Workers int
	// Log receives progress (nil: none).
	Log *slog.Logger
}

// Defaults of Options.
const (
	DefaultImages         = 256
	DefaultRowsPerFeature = 8
)

// withDefaults returns o with Images and RowsPerFeature set.
func (o Options) withDefaults() Options {
	if o.Images <= 0 {
		o.Images = DefaultImages
	}
	if o.RowsPerFeature <= 0 {
		o.RowsPerFeature = DefaultRowsPerFeature
	}
	return o
}

// validEvery: one calibration image in validEvery is held apart for the
// choice of the ridge term.
const validEvery = 5

// maxBatchFloats bounds the extra outputs of one onnxruntime batch.
const maxBatchFloats = 16 << 20

// Stats are the input statistics of every consumer layer of a model over
// calibration images, from which Refit and Keep work for any plan on that
// model.
type Stats struct {
	an     *surgery.Analysis
	layers []*layer
	byKey  map[string]*layer
	// Skipped names the consumer layers that are not refitted, and why.
	Skipped map[string]string
	// Images is the number of calibration images used.
	Images int
	// Elapsed is the time Collect took.
	Elapsed time.Duration

	orders map[int]*elimination // Keep's greedy state per group
}

// gram holds one layer's statistics.
type gram struct {
	n, nv int       // rows, of which held apart
	g, gv []float64 // XᵀX over all rows and over the held-apart rows, d×d
	// gw0 = G·W₀ and gvw0 = Gᵥ·W₀ (d×cout); q and qv the diagonals of
	// W₀ᵀGW₀ and W₀ᵀGᵥW₀ (the energy of each output).
	gw0, gvw0 []float64
	q, qv     []float64
}

// Analysis returns the channel analysis of the model the statistics are
// of; plans for Refit and Keep are made against it.
func (s *Stats) Analysis() *surgery.Analysis { return s.an }

// Collect runs m (whose shapes are inferred) over calibration images from
// calib and gathers the statistics of every layer that reads a prunable
// group's channels.
func Collect(ctx context.Context, m *onnxio.Model, calib dataset.Dataset, opts Options) (*Stats, error) {
	start := time.Now()
	opts = opts.withDefaults()
	an, err := surgery.Analyze(m.Graph)
	if err != nil {
		return nil, err
	}
	layers, skipped := findLayers(m.Graph, an)
	s := &Stats{an: an, layers: layers, byKey: map[string]*layer{}, Skipped: skipped, orders: map[int]*elimination{}}
	for _, l := range layers {
		s.byKey[l.key] = l
	}
	if len(layers) == 0 {
		s.Elapsed = time.Since(start)
		return s, nil
	}
	ds := calib
	if ds.Len() > opts.Images {
		if _, ds, err = dataset.HoldOut(calib, float64(opts.Images), opts.Seed); err != nil {
			return nil, err
		}
	}
	s.Images = ds.Len()

	// A copy of m whose outputs are the layers' inputs.
	c := m.Clone()
	var outs []*onnxio.Value
	slot := map[string]int{}
	perImage := 0
	for _, l := range layers {
		if _, ok := slot[l.input]; ok {
			continue
		}
		v := c.Graph.Value(l.input)
		if v == nil {
			return nil, fmt.Errorf("recon: no value %q in the model", l.input)
		}
		slot[l.input] = len(outs)
		outs = append(outs, v)
		if l.op == opConv {
			perImage += l.c * l.h * l.w
		} else {
			perImage += l.c * l.rowsPer
		}
	}
	c.Graph.Outputs = outs
	c.Graph.RemoveUnused()
	data, err := onnxio.Encode(c)
	if err != nil {
		return nil, err
	}
	batch := max(1, min(32, maxBatchFloats/max(perImage, 1)))

	acc := make([]*accumulator, len(layers))
	perLayer := make([]int, len(layers))
	for i, l := range layers {
		p := (opts.RowsPerFeature*l.d + s.Images - 1) / s.Images
		perLayer[i] = min(max(p, 1), l.rowsPer)
		acc[i] = newAccumulator(l, false)
		l.st = acc[i].st
	}
	err = finetune.RunBatches(ctx, data, ds, finetune.EvalOptions{Batch: batch, Threads: opts.Threads, Preprocess: opts.Preprocess, Workers: opts.Workers},
		func(b *dataset.Batch, vals []ort.Tensor, _ int) error {
			for li, l := range layers {
				x, err := vals[slot[l.input]].Float32()
				if err != nil {
					return fmt.Errorf("recon: %w", err)
				}
				per := len(x) / max(1, int(vals[slot[l.input]].Shape[0]))
				for r := 0; r < b.N; r++ {
					idx := b.Indices[r]
					pos := samplePositions(l.rowsPer, perLayer[li], opts.Seed, idx, li)
					acc[li].image(x[r*per:(r+1)*per], pos, nil, idx%validEvery == validEvery-1)
				}
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	for i, l := range layers {
		acc[i].flush()
		l.st.finish(l)
	}
	s.Elapsed = time.Since(start)
	if opts.Log != nil {
		opts.Log.Debug("recon statistics", "layers", len(layers), "skipped", len(skipped), "images", s.Images, "seconds", s.Elapsed.Seconds())
	}
	return s, nil
}

// accumulator gathers one layer's rows into float32 blocks and adds their
// Gram matrices into the layer's float64 statistics (st): XᵀX, and, for a
// fit towards given targets T (Anchor), XᵀT and the targets' energy.
type accumulator struct {
	l          *layer
	st         *gram
	fit, val   block
	tmpG, tmpC []float32
}

// block is a buffer of rows (and their targets) and the sums they go to.
type block struct {
	rows, t []float32
	n       int
	g, c, q []float64
	count   *int
}

// blockRows is the number of rows buffered before a Gram update.
const blockRows = 512

// newAccumulator returns an accumulator of l's rows, and of targets for
// its cout outputs with targets.
func newAccumulator(l *layer, targets bool) *accumulator {
	d, cout := l.d, l.cout
	st := &gram{g: make([]float64, d*d), gv: make([]float64, d*d)}
	a := &accumulator{l: l, st: st, tmpG: make([]float32, d*d)}
	a.fit = block{rows: make([]float32, blockRows*d), g: st.g, count: &st.n}
	a.val = block{rows: make([]float32, blockRows*d), g: st.gv, count: &st.nv}
	if targets {
		st.gw0, st.gvw0 = make([]float64, d*cout), make([]float64, d*cout)
		st.q, st.qv = make([]float64, cout), make([]float64, cout)
		a.tmpC = make([]float32, d*cout)
		a.fit.t, a.fit.c, a.fit.q = make([]float32, blockRows*cout), st.gw0, st.q
		a.val.t, a.val.c, a.val.q = make([]float32, blockRows*cout), st.gvw0, st.qv
	}
	return a
}

// samplePositions returns the output positions layer li samples in image
// idx: every one of the rowsPer when perImage covers them, else the first
// perImage of a seeded shuffle.
func samplePositions(rowsPer, perImage int, seed uint64, idx, li int) []int {
	if perImage >= rowsPer {
		pos := make([]int, rowsPer)
		for p := range pos {
			pos[p] = p
		}
		return pos
	}
	rng := rand.New(rand.NewPCG(seed^0x5851f42d4c957f2d, uint64(idx)<<20|uint64(li)))
	return rng.Perm(rowsPer)[:perImage]
}

// image adds the rows of one image's input x at positions pos, with their
// targets t (len(pos)×cout; nil without targets), held apart or not.
func (a *accumulator) image(x []float32, pos []int, t []float32, held bool) {
	cout := a.l.cout
	for i, p := range pos {
		var ti []float32
		if t != nil {
			ti = t[i*cout : (i+1)*cout]
		}
		a.add(&a.fit, x, p, ti)
		if held {
			a.add(&a.val, x, p, ti)
		}
	}
}

func (a *accumulator) add(b *block, x []float32, p int, t []float32) {
	d, cout := a.l.d, a.l.cout
	a.l.row(x, p, b.rows[b.n*d:(b.n+1)*d])
	if t != nil {
		copy(b.t[b.n*cout:(b.n+1)*cout], t)
		for o, v := range t {
			b.q[o] += float64(v) * float64(v)
		}
	}
	b.n++
	if b.n == blockRows {
		a.update(b)
	}
}

// update adds the block's Gram matrix (and its products with the
// targets), computed in float32 with the training engine's GEMM, into
// their float64 sums.
func (a *accumulator) update(b *block) {
	if b.n == 0 {
		return
	}
	d, cout := a.l.d, a.l.cout
	rows := b.rows[:b.n*d]
	kernels.Gemm(kernels.GemmShape{M: d, N: d, K: b.n, TransA: true, Alpha: 1}, rows, rows, nil, a.tmpG)
	for i, v := range a.tmpG {
		b.g[i] += float64(v)
	}
	if b.t != nil {
		kernels.Gemm(kernels.GemmShape{M: d, N: cout, K: b.n, TransA: true, Alpha: 1}, rows, b.t[:b.n*cout], nil, a.tmpC)
		for i, v := range a.tmpC {
			b.c[i] += float64(v)
		}
	}
	*b.count += b.n
	b.n = 0
}

func (a *accumulator) flush() {
	a.update(&a.fit)
	a.update(&a.val)
}

// finish computes the products with the layer's weights.
func (st *gram) finish(l *layer) {
	d, cout := l.d, l.cout
	st.gw0, st.gvw0 = make([]float64, d*cout), make([]float64, d*cout)
	w0 := blas64.General{Rows: d, Cols: cout, Stride: cout, Data: l.w0}
	for _, p := range []struct{ g, out []float64 }{{st.g, st.gw0}, {st.gv, st.gvw0}} {
		blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, blas64.General{Rows: d, Cols: d, Stride: d, Data: p.g}, w0,
			0, blas64.General{Rows: d, Cols: cout, Stride: cout, Data: p.out})
	}
	st.q, st.qv = make([]float64, cout), make([]float64, cout)
	for f := range d {
		for o := range cout {
			st.q[o] += l.w0[f*cout+o] * st.gw0[f*cout+o]
			st.qv[o] += l.w0[f*cout+o] * st.gvw0[f*cout+o]
		}
	}
}
