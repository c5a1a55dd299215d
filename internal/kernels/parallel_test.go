package kernels

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestParallelFor: every index is visited once, in contiguous chunks, by
// workers in [0, w), a worker never runs two chunks at a time, and a
// worker held up (as on a core shared with another process) leaves the
// chunks to the others rather than holding its even share.
func TestParallelFor(t *testing.T) {
	for _, tc := range []struct{ n, w int }{{1, 2}, {5, 2}, {8, 2}, {9, 2}, {100, 3}, {7, 7}, {3, 8}} {
		seen := make([]atomic.Int32, tc.n)
		var busy [8]atomic.Int32
		var calls atomic.Int32
		parallelFor(tc.n, tc.w, func(wk, lo, hi int) {
			calls.Add(1)
			if wk < 0 || wk >= min(tc.w, tc.n) {
				t.Errorf("n %d w %d: worker %d", tc.n, tc.w, wk)
				return
			}
			if busy[wk].Add(1) != 1 {
				t.Errorf("n %d w %d: worker %d runs two chunks at once", tc.n, tc.w, wk)
			}
			if lo >= hi {
				t.Errorf("n %d w %d: empty chunk [%d, %d)", tc.n, tc.w, lo, hi)
			}
			for i := lo; i < hi; i++ {
				seen[i].Add(1)
			}
			busy[wk].Add(-1)
		})
		for i := range seen {
			if c := seen[i].Load(); c != 1 {
				t.Errorf("n %d w %d: index %d visited %d times", tc.n, tc.w, i, c)
			}
		}
		if want := min(tc.n, chunksPerWorker*min(tc.w, tc.n)); tc.w > 1 && int(calls.Load()) != want {
			t.Errorf("n %d w %d: %d chunks, want %d", tc.n, tc.w, calls.Load(), want)
		}
	}

	// Worker 0 sleeps through its first chunk: worker 1 takes the rest.
	var mu sync.Mutex
	per := map[int]int{}
	parallelFor(8, 2, func(wk, lo, hi int) {
		if wk == 0 {
			time.Sleep(50 * time.Millisecond)
		}
		mu.Lock()
		per[wk] += hi - lo
		mu.Unlock()
	})
	if per[0]+per[1] != 8 || per[1] < 6 {
		t.Errorf("with worker 0 held up, the workers did %v of 8 items; want worker 1 to do at least 6", per)
	}
}
