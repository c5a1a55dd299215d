package kernels

// Workspace is a scratch arena that a caller owns and reuses across kernel
// calls and training steps. Kernels take scratch from it in stack order
// (mark, allocate, release), so consecutive kernels reuse the same memory and
// the arena's size is the largest single kernel's need, not the sum.
//
// When a request does not fit, the arena grows by a new chunk; once
// everything is released the chunks are merged into one of the high-water
// size, so after the first training step no further allocation happens.
// A Workspace is not safe for concurrent use by several kernel calls at once
// (a kernel itself hands disjoint pieces to its workers). The zero value is
// ready to use; a nil *Workspace makes kernels allocate.
type Workspace[T Float] struct {
	chunks [][]T
	used   []int // used length of each chunk
	total  int   // sum of used
	high   int   // high-water mark of total
}

// wsMark records the arena state to return to.
type wsMark struct{ chunk, used, total int }

// NewWorkspace returns a Workspace with n elements pre-allocated.
func NewWorkspace[T Float](n int) *Workspace[T] {
	ws := &Workspace[T]{}
	if n > 0 {
		ws.chunks = [][]T{make([]T, n)}
		ws.used = []int{0}
	}
	return ws
}

// Cap reports the number of elements the workspace holds.
func (ws *Workspace[T]) Cap() int {
	if ws == nil {
		return 0
	}
	c := 0
	for _, ch := range ws.chunks {
		c += len(ch)
	}
	return c
}

// HighWater reports the largest number of elements ever in use at once.
func (ws *Workspace[T]) HighWater() int {
	if ws == nil {
		return 0
	}
	return ws.high
}

func (ws *Workspace[T]) mark() wsMark {
	if ws == nil || len(ws.chunks) == 0 {
		return wsMark{}
	}
	i := len(ws.chunks) - 1
	return wsMark{i, ws.used[i], ws.total}
}

// get returns a zero-length-checked slice of n elements. Its contents are
// unspecified (not zeroed) unless zero is true.
func (ws *Workspace[T]) get(n int, zero bool) []T {
	if ws == nil {
		return make([]T, n)
	}
	// Pad to 16 elements so that pieces start on 64-byte boundaries
	// relative to the chunk.
	pad := (n + 15) &^ 15
	i := len(ws.chunks) - 1
	if i < 0 || ws.used[i]+pad > len(ws.chunks[i]) {
		size := pad
		if ws.high > size {
			size = ws.high
		}
		ws.chunks = append(ws.chunks, make([]T, size))
		ws.used = append(ws.used, 0)
		i++
	}
	s := ws.chunks[i][ws.used[i] : ws.used[i]+n : ws.used[i]+n]
	ws.used[i] += pad
	ws.total += pad
	if ws.total > ws.high {
		ws.high = ws.total
	}
	if zero {
		clear(s)
	}
	return s
}

func (ws *Workspace[T]) release(m wsMark) {
	if ws == nil || len(ws.chunks) == 0 {
		return
	}
	// Drop chunks added after the mark.
	for len(ws.chunks)-1 > m.chunk {
		ws.chunks = ws.chunks[:len(ws.chunks)-1]
		ws.used = ws.used[:len(ws.used)-1]
	}
	ws.used[m.chunk] = m.used
	ws.total = m.total
	if ws.total == 0 && (len(ws.chunks) > 1 || len(ws.chunks[0]) < ws.high) {
		// Merge into one chunk of the high-water size.
		ws.chunks = [][]T{make([]T, ws.high)}
		ws.used = []int{0}
	}
}
