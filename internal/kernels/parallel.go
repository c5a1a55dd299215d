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

// parallelFor splits [0,n) into w contiguous chunks and calls fn(worker,
// lo, hi) for each, in parallel when w > 1. It returns when all are done.
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
	var wg sync.WaitGroup
	wg.Add(w - 1)
	for i := 1; i < w; i++ {
		lo, hi := i*n/w, (i+1)*n/w
		go func(i, lo, hi int) {
			defer wg.Done()
			fn(i, lo, hi)
		}(i, lo, hi)
	}
	fn(0, 0, n/w)
	wg.Wait()
}
