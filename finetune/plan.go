package finetune

import (
	"cmp"
	"slices"
)

// planner lays out the activation and gradient buffers of a compiled
// program in one arena, the way TFLite's arena planner does.
//
// Every buffer has a lifetime [start, end] in "program time": forward step k
// runs at time k, the loss at S (the number of steps), the backward of step
// k at 2S−k, and the optimiser after that. Two buffers may share memory when
// their lifetimes do not overlap; a buffer is live at both ends of its
// interval, so a kernel never writes an output over an input of the same
// step unless the two were merged on purpose (in-place execution), which
// the compiler decides only where the kernel allows it.
//
// Buffers are merged with a union-find; a merged buffer's lifetime is the
// union of its members'. Offsets are then assigned greedily, largest buffer
// first, at the lowest offset that does not collide with an already placed
// buffer whose lifetime overlaps ("greedy by size", Pisarchyk & Lee 2020).
type planner struct {
	bufs []pbuf
}

type pbuf struct {
	parent     int
	size       int // elements
	start, end int // lifetime; start > end means unused
	pinned     bool
	offset     int
}

// align pads every buffer to a multiple of 16 elements (64 bytes in
// float32), so buffers start on cache-line boundaries.
const align = 16

func (p *planner) newBuf(size int) int {
	p.bufs = append(p.bufs, pbuf{parent: len(p.bufs), size: size, start: 1 << 60, end: -1})
	return len(p.bufs) - 1
}

func (p *planner) find(id int) int {
	for p.bufs[id].parent != id {
		p.bufs[id].parent = p.bufs[p.bufs[id].parent].parent
		id = p.bufs[id].parent
	}
	return id
}

// use extends the lifetime of id's buffer to include time t.
func (p *planner) use(id, t int) {
	r := &p.bufs[p.find(id)]
	r.start = min(r.start, t)
	r.end = max(r.end, t)
}

// pin makes id's buffer live for the whole program.
func (p *planner) pin(id int) { p.bufs[p.find(id)].pinned = true }

func (p *planner) end(id int) int     { return p.bufs[p.find(id)].end }
func (p *planner) pinned(id int) bool { return p.bufs[p.find(id)].pinned }

// merge makes a and b one buffer and returns its id.
func (p *planner) merge(a, b int) int {
	ra, rb := p.find(a), p.find(b)
	if ra == rb {
		return ra
	}
	A, B := &p.bufs[ra], &p.bufs[rb]
	A.size = max(A.size, B.size)
	A.start = min(A.start, B.start)
	A.end = max(A.end, B.end)
	A.pinned = A.pinned || B.pinned
	B.parent = ra
	return ra
}

// assign gives every root buffer an offset and returns the arena length.
// horizon is the last program time; pinned buffers live over [0, horizon].
func (p *planner) assign(horizon int) int {
	var roots []int
	for i := range p.bufs {
		if p.find(i) != i {
			continue
		}
		b := &p.bufs[i]
		if b.pinned {
			b.start, b.end = 0, horizon
		}
		if b.start > b.end { // never used
			b.start, b.end = 0, 0
		}
		roots = append(roots, i)
	}
	slices.SortStableFunc(roots, func(x, y int) int {
		if c := cmp.Compare(p.bufs[y].size, p.bufs[x].size); c != 0 {
			return c
		}
		return cmp.Compare(x, y)
	})
	type placed struct{ off, size, start, end int }
	var done []placed
	total := 0
	var clash []placed
	for _, r := range roots {
		b := &p.bufs[r]
		size := (b.size + align - 1) / align * align
		clash = clash[:0]
		for _, q := range done {
			if q.start <= b.end && b.start <= q.end {
				clash = append(clash, q)
			}
		}
		slices.SortFunc(clash, func(x, y placed) int { return cmp.Compare(x.off, y.off) })
		off := 0
		for _, q := range clash {
			if off+size <= q.off {
				break
			}
			off = max(off, q.off+q.size)
		}
		b.offset = off
		done = append(done, placed{off, size, b.start, b.end})
		total = max(total, off+size)
	}
	return total
}

// offset returns the arena offset of id's buffer (after assign).
func (p *planner) offset(id int) int { return p.bufs[p.find(id)].offset }
