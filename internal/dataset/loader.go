package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// Config configures a Loader.
type Config struct {
	BatchSize int  // samples per batch; must be positive
	Shuffle   bool // shuffle the order each epoch (seeded by Seed and the epoch)
	DropLast  bool // drop a last batch smaller than BatchSize
	Seed      uint64
	// Workers is the number of decoding goroutines; 0 means
	// runtime.GOMAXPROCS(0).
	Workers int
	// Prefetch is how many batches may be decoded ahead of the one the
	// consumer holds; 0 means 2. The loader holds Prefetch+1 batch buffers.
	Prefetch   int
	Preprocess Preprocess
	// Augment, when set, is applied to every sample (training). Leave it
	// nil, with Shuffle off, for evaluation.
	Augment *Augment
}

// Batch is a batch of preprocessed samples. Its slices belong to the
// Loader: a Batch is valid until the next call to Next or Close on the
// Iterator that returned it (for Loader.Batches, until the loop body
// returns), after which its buffers are reused. Copy what must outlive it.
type Batch struct {
	X       []float32 // N·C·H·W values, NCHW
	Labels  []int     // N class indices
	Indices []int     // N dataset indices of the samples
	N       int       // samples in this batch (≤ BatchSize; the last may be short)
	C, H, W int       // sample shape
}

// Loader produces batches from a Dataset: shuffled per epoch when asked,
// decoded and preprocessed by a pool of workers that stays at most
// Prefetch batches ahead of the consumer, with reused buffers. A Loader
// runs one epoch at a time.
type Loader struct {
	ds      Dataset
	cfg     Config
	pl      *pipeline
	workers []*worker
	bufs    []*batchBuf
	order   []int
	busy    atomic.Bool
}

type batchBuf struct {
	Batch
	remaining atomic.Int32  // chunks not yet done
	done      chan struct{} // receives one token when remaining reaches 0
	failed    atomic.Bool
	mu        sync.Mutex
	err       error // error of the failed sample at the lowest position
	errPos    int
}

func (b *batchBuf) setErr(pos int, err error) {
	b.mu.Lock()
	if b.err == nil || pos < b.errPos {
		b.err, b.errPos = err, pos
	}
	b.mu.Unlock()
	b.failed.Store(true)
}

// NewLoader returns a Loader over ds.
func NewLoader(ds Dataset, cfg Config) (*Loader, error) {
	if cfg.BatchSize <= 0 {
		return nil, errf("loader: batch size %d is not positive", cfg.BatchSize)
	}
	if cfg.Workers < 0 || cfg.Prefetch < 0 {
		return nil, errf("loader: negative workers (%d) or prefetch (%d)", cfg.Workers, cfg.Prefetch)
	}
	if cfg.Workers == 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Prefetch == 0 {
		cfg.Prefetch = 2
	}
	pl, err := newPipeline(cfg.Preprocess, cfg.Augment)
	if err != nil {
		return nil, err
	}
	l := &Loader{ds: ds, cfg: cfg, pl: pl, order: make([]int, ds.Len())}
	for range cfg.Workers {
		l.workers = append(l.workers, pl.newWorker())
	}
	p := &cfg.Preprocess
	sl := p.SampleLen()
	bs := min(cfg.BatchSize, max(ds.Len(), 1))
	for range cfg.Prefetch + 1 {
		b := &batchBuf{done: make(chan struct{}, 1)}
		b.X = make([]float32, bs*sl)
		b.Labels = make([]int, bs)
		b.Indices = make([]int, bs)
		b.C, b.H, b.W = p.Channels, p.Height, p.Width
		l.bufs = append(l.bufs, b)
	}
	return l, nil
}

// Dataset returns the loader's data set.
func (l *Loader) Dataset() Dataset { return l.ds }

// NumBatches is the number of batches in an epoch.
func (l *Loader) NumBatches() int {
	n, bs := l.ds.Len(), l.cfg.BatchSize
	if l.cfg.DropLast {
		return n / bs
	}
	return (n + bs - 1) / bs
}

// Iterator yields the batches of one epoch; see Loader.Epoch.
type Iterator struct {
	l      *Loader
	epoch  int
	ctx    context.Context
	cancel context.CancelFunc
	free   chan *batchBuf // buffers the dispatcher may fill
	ready  chan *batchBuf // buffers in batch order, possibly still being filled
	jobs   chan job
	wg     sync.WaitGroup
	cur    *batchBuf // held by the consumer
	err    error     // sticky: io.EOF at the end, or the first failure
	closed bool
}

// job is a run of positions [lo,hi) of one batch.
type job struct {
	b      *batchBuf
	lo, hi int
}

var errClosed = errors.New("dataset: loader: iterator closed")

// Epoch starts epoch number epoch and returns its Iterator. The caller must
// call Close (reaching the end or an error closes it too). The order of the
// samples is the dataset order, or a permutation seeded by (Seed, epoch)
// when Shuffle is set; the augmentation of sample i depends only on (Seed,
// epoch, i). Cancelling ctx stops the workers; Next then returns the
// context's error.
func (l *Loader) Epoch(ctx context.Context, epoch int) *Iterator {
	it := &Iterator{l: l, epoch: epoch}
	if !l.busy.CompareAndSwap(false, true) {
		it.err = errf("loader: epoch %d started while another epoch is open", epoch)
		it.closed = true
		return it
	}
	it.ctx, it.cancel = context.WithCancel(ctx)
	for i := range l.order {
		l.order[i] = i
	}
	if l.cfg.Shuffle {
		r := rand.New(rand.NewPCG(l.cfg.Seed, mix64(uint64(epoch)^0x13198a2e03707344)))
		r.Shuffle(len(l.order), func(i, j int) { l.order[i], l.order[j] = l.order[j], l.order[i] })
	}
	nbuf := len(l.bufs)
	it.free = make(chan *batchBuf, nbuf)
	it.ready = make(chan *batchBuf, nbuf)
	it.jobs = make(chan job, 4*len(l.workers))
	for _, b := range l.bufs {
		select { // a token left by an epoch that was closed early
		case <-b.done:
		default:
		}
		it.free <- b
	}
	it.wg.Add(1 + len(l.workers))
	go it.dispatch()
	for _, w := range l.workers {
		go it.work(w)
	}
	return it
}

// Batches returns the batches of one epoch as an iterator for range; it
// closes the epoch when the loop ends. A batch is valid only during its
// loop iteration. After an error the sequence ends.
func (l *Loader) Batches(ctx context.Context, epoch int) iter.Seq2[*Batch, error] {
	return func(yield func(*Batch, error) bool) {
		it := l.Epoch(ctx, epoch)
		defer it.Close()
		for {
			b, err := it.Next()
			if err == io.EOF {
				return
			}
			if !yield(b, err) || err != nil {
				return
			}
		}
	}
}

func (it *Iterator) dispatch() {
	defer it.wg.Done()
	defer close(it.jobs)
	defer close(it.ready)
	l := it.l
	n, bs := len(l.order), l.cfg.BatchSize
	sl := l.cfg.Preprocess.SampleLen()
	// Chunks small enough to spread a batch over the workers, large
	// enough to keep channel traffic low for tiny images.
	chunk := max(1, (bs+4*len(l.workers)-1)/(4*len(l.workers)))
	for k := range l.NumBatches() {
		var b *batchBuf
		select {
		case b = <-it.free:
		case <-it.ctx.Done():
			return
		}
		lo, hi := k*bs, min(k*bs+bs, n)
		m := hi - lo
		b.N = m
		b.X = b.X[:m*sl]
		b.Labels = b.Labels[:m]
		b.Indices = b.Indices[:m]
		copy(b.Indices, l.order[lo:hi])
		for j, i := range b.Indices {
			b.Labels[j] = l.ds.Label(i)
		}
		b.err = nil
		b.failed.Store(false)
		b.remaining.Store(int32((m + chunk - 1) / chunk))
		it.ready <- b // never blocks: ready holds every buffer
		for s := 0; s < m; s += chunk {
			select {
			case it.jobs <- job{b, s, min(s+chunk, m)}:
			case <-it.ctx.Done():
				return
			}
		}
	}
}

func (it *Iterator) work(w *worker) {
	defer it.wg.Done()
	for {
		select {
		case j, ok := <-it.jobs:
			if !ok {
				return
			}
			it.run(w, j)
			if j.b.remaining.Add(-1) == 0 {
				j.b.done <- struct{}{}
			}
		case <-it.ctx.Done():
			return
		}
	}
}

// run loads the samples of job j into its batch.
func (it *Iterator) run(w *worker, j job) {
	l := it.l
	sl := l.cfg.Preprocess.SampleLen()
	pos := j.lo
	defer func() {
		if r := recover(); r != nil {
			i := j.b.Indices[pos]
			j.b.setErr(pos, &SampleError{Index: i, Source: l.ds.Source(i), Err: fmt.Errorf("panic: %v", r)})
		}
	}()
	for ; pos < j.hi; pos++ {
		if j.b.failed.Load() {
			return
		}
		i := j.b.Indices[pos]
		img, err := l.ds.Image(i, &w.sc)
		if err != nil {
			var se *SampleError
			if !errors.As(err, &se) {
				err = &SampleError{Index: i, Source: l.ds.Source(i), Err: err}
			}
			j.b.setErr(pos, err)
			return
		}
		var rng *rand.Rand
		if l.pl.on {
			rng = w.seedSample(l.cfg.Seed, it.epoch, i)
		}
		w.transform(img, rng, j.b.X[pos*sl:(pos+1)*sl])
	}
}

// Next returns the next batch, valid until the following Next or Close.
// At the end of the epoch it returns io.EOF. A sample that fails to load
// ends the epoch with its *SampleError; a cancelled context ends it with
// an error wrapping the context's.
func (it *Iterator) Next() (*Batch, error) {
	if it.err != nil {
		return nil, it.err
	}
	if it.cur != nil {
		it.free <- it.cur // never blocks: free holds every buffer
		it.cur = nil
	}
	var b *batchBuf
	select {
	case bb, ok := <-it.ready:
		if !ok {
			if err := it.ctx.Err(); err != nil {
				return nil, it.fail(errf("loader: %w", err))
			}
			return nil, it.fail(io.EOF)
		}
		b = bb
	case <-it.ctx.Done():
		return nil, it.fail(errf("loader: %w", it.ctx.Err()))
	}
	select {
	case <-b.done:
	case <-it.ctx.Done():
		return nil, it.fail(errf("loader: %w", it.ctx.Err()))
	}
	if b.err != nil {
		return nil, it.fail(b.err)
	}
	it.cur = b
	return &b.Batch, nil
}

func (it *Iterator) fail(err error) error {
	it.err = err
	it.Close()
	return err
}

// Close stops the epoch's goroutines and waits for them; the Loader can
// then start another epoch. It is safe to call more than once.
func (it *Iterator) Close() error {
	if it.closed {
		return nil
	}
	it.closed = true
	it.cancel()
	it.wg.Wait()
	it.cur = nil
	if it.err == nil {
		it.err = errClosed
	}
	it.l.busy.Store(false)
	return nil
}
