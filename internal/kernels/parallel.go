package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

var workerCount atomic.Int32

// minWork is the least work (≈flops) worth a goroutine; tests lower it to
// exercise the parallel paths on small shapes.
var minWork = 1 << 15

// SetWorkers sets the number of goroutines kernels may use and returns the
// previous setting. n <= 0 restores the default, runtime.GOMAXPROCS(0).
func SetWorkers(n int) int {
	old := Workers()
	if n <= 0 {
		n = 0
	}
	workerCount.Store(int32(n))
	return old
}

// Workers reports the number of goroutines kernels may use.
func Workers() int {
	if n := int(workerCount.Load()); n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

// parts returns how many workers to use for n independent items, each of
// roughly cost work units; small jobs run serially.
func parts(n int, cost int) int {
	w := Workers()
	if w > n {
		w = n
	}
	// Below minWork flops per worker a goroutine does not pay for itself.
	if total := n * cost; total < minWork*w {
		w = total / minWork
	}
	if w < 1 {
		w = 1
	}
	return w
}

// chunksPerWorker is how many chunks parallelFor cuts a job into per
// worker. The workers take chunks in turn, so that one whose core is shared
// with another process does less of the job instead of holding the others
// up: with a busy loop on one of two cores, an even split leaves every
// parallel section waiting for the worker that shares it.
const chunksPerWorker = 4

// parallelFor splits [0,n) into contiguous chunks, up to chunksPerWorker
// per worker, and calls fn(worker, lo, hi) for each on one of w
// goroutines (worker in [0, w), never two calls with one worker at a
// time); serially when w <= 1. Which worker runs a chunk varies from run
// to run, so fn must not make its result depend on it: worker indexes
// scratch space. It returns when all are done.
func parallelFor(n, w int, fn func(worker, lo, hi int)) {
	if n <= 0 {
		return
	}
	if w > n {
		w = n
	}
	if w <= 1 {
		fn(0, 0, n)
		return
	}
	c := min(n, chunksPerWorker*w)
	var next atomic.Int32
	work := func(wk int) {
		for {
			i := int(next.Add(1)) - 1
			if i >= c {
				return
			}
			fn(wk, i*n/c, (i+1)*n/c)
		}
	}
	var wg sync.WaitGroup
	wg.Add(w - 1)
	for i := 1; i < w; i++ {
		go func(i int) {
			defer wg.Done()
			work(i)
		}(i)
	}
	work(0)
	wg.Wait()
}

// Parallel runs fn over [0,n), n items of about cost work units each, as
// the kernels do (parts workers, parallelFor's chunks): for callers outside
// the package, the training engine's fused operators.
func Parallel(n, cost int, fn func(lo, hi int)) {
	parallelFor(n, parts(n, cost), func(_, lo, hi int) { fn(lo, hi) })
}

// reduceSlots is the most partial sums a reduction over the batch (or over
// batch×channel planes) is split into. It is a constant, not the worker
// count, so that the partition of a sum, and so its rounding, is the same
// however many workers run it.
const reduceSlots = 8

// slots returns how many partial sums a reduction over n items of roughly
// cost work units each is split into: up to reduceSlots, fewer for small
// jobs (by minWork, as parts does), never by Workers().
func slots(n, cost int) int {
	s := min(reduceSlots, n)
	if total := n * cost; total < minWork*s {
		s = total / minWork
	}
	return max(s, 1)
}

// slotWorkers is the number of workers slotFor uses for ns slots.
func slotWorkers(ns int) int { return max(1, min(Workers(), ns)) }

// slotFor splits [0,n) into ns contiguous slots, slot j covering
// [j·n/ns, (j+1)·n/ns), and calls fn(worker, slot, lo, hi) for each, the
// slots spread in order over slotWorkers(ns) workers (worker indexes the
// caller's per-worker scratch, slot its per-slot partial sum). A reduction
// that accumulates each slot's items in order into the slot's own partial
// sum, and then adds the partial sums in slot order (reducePartials),
// gives the same bits for any worker count: this is what makes training
// a function of its seed alone (package finetune).
func slotFor(n, ns int, fn func(worker, slot, lo, hi int)) {
	if n <= 0 {
		return
	}
	ns = min(ns, n)
	parallelFor(ns, slotWorkers(ns), func(w, slo, shi int) {
		for j := slo; j < shi; j++ {
			fn(w, j, j*n/ns, (j+1)*n/ns)
		}
	})
}
