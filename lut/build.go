package lut

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// Request is one key to have in the table, with the node an OpNode key is
// measured from.
type Request struct {
	Key  Key
	tmpl *onnxio.Node
}

// Lines returns the keys a NetAdapt search over g needs first, deduplicated
// and sorted: NetAdapt removes channels from one group at a time, so from
// the current configuration every unit moves along one line at a time:
//
//   - the unit's own key;
//   - a dense convolution or Gemm: its output channels on the grid (step,
//     2·step, …, up to its current count) at its current input channels,
//     and its input channels on the grid at its current output channels;
//   - a channel-preserving unit (depthwise convolution, pooling,
//     element-wise): its channel count on the grid;
//   - with nchwc (onnxruntime uses its NCHWc layout on the device), for
//     each unit output the reorder entries of that tensor along its channel
//     line (they price layout boundaries, see Estimate);
//   - the per-run overhead entry.
//
// Channels of a graph input or output (the image, the classes) are never
// swept. Units with fixed channels (OpNode, Concat, grouped convolutions)
// contribute their own key only. Identical units share their keys.
func Lines(g *onnxio.Graph, units []*Unit, step int, nchwc bool) []Request {
	if step < 1 {
		step = DefaultStep
	}
	seen := map[Key]bool{}
	var out []Request
	add := func(k Key, tmpl *onnxio.Node) {
		if k.Op == OpFree || seen[k] {
			return
		}
		seen[k] = true
		out = append(out, Request{Key: k, tmpl: tmpl})
	}
	add(overheadKey, nil)
	outputs := map[*onnxio.Value]bool{}
	for _, o := range g.Outputs {
		outputs[o] = true
	}
	for _, u := range units {
		k := u.key
		add(k, u.tmpl)
		switch k.mode() {
		case modeInOut:
			if !u.fixedOut {
				for _, c := range grid(k.Cout, step) {
					add(k.withChannels(k.Cin, c), nil)
				}
			}
			if !u.fixedIn {
				for _, c := range grid(k.Cin, step) {
					add(k.withChannels(c, k.Cout), nil)
				}
			}
		case modeSame:
			if !u.fixedIn && !u.fixedOut {
				for _, c := range grid(k.Cout, step) {
					add(k.withChannels(c, c), nil)
				}
			}
		}
		if u.Output == nil || u.Free() || !nchwc {
			continue
		}
		if d, err := dims(u.Output); err == nil && len(d) == 4 {
			cs := []int{d[1]}
			if !outputs[u.Output] {
				cs = grid(d[1], step)
			}
			for _, c := range cs {
				for _, op := range []string{OpReorderIn, OpReorderPair} {
					add(reorderKey(op, d[0], c, d[2], d[3]), nil)
				}
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Request) int { return compareKeys(a.Key, b.Key) })
	return out
}

// grid returns the grid points step, 2·step, … up to c, and c itself.
func grid(c, step int) []int {
	var out []int
	for v := step; v < c; v += step {
		out = append(out, v)
	}
	return append(out, c)
}

// BuildStats reports a bulk build.
type BuildStats struct {
	Units    int           `json:"units"`    // units in the model
	Keys     int           `json:"keys"`     // distinct keys the lines need
	Cached   int           `json:"cached"`   // of which the table already had
	Measured int           `json:"measured"` // of which this build measured
	Entries  int           `json:"entries"`  // entries in the table afterwards
	Elapsed  time.Duration `json:"elapsed_ns"`
	Measure  MeasureStats  `json:"measure"`
}

// Build measures every key of Lines(g) the table lacks, one after another,
// calling progress (if non-nil) after each key with the number done and the
// total. It stops early when ctx is cancelled, keeping what it measured.
func (t *Table) Build(ctx context.Context, g *onnxio.Graph, progress func(done, total int)) (BuildStats, error) {
	start := time.Now()
	units, err := Units(g)
	if err != nil {
		return BuildStats{}, err
	}
	reqs := Lines(g, units, t.Header.Step, NCHWcSupported())
	st := BuildStats{Units: len(units), Keys: len(reqs)}
	t.mu.Lock()
	if t.meas == nil || t.foreign {
		t.mu.Unlock()
		return st, fmt.Errorf("lut: this table cannot measure (it is foreign or has no measurer)")
	}
	before := t.meas.Stats()
	var todo []Request
	for _, r := range reqs {
		if _, ok := t.entries[r.Key]; ok {
			st.Cached++
		} else {
			todo = append(todo, r)
		}
	}
	t.mu.Unlock()
	if progress != nil {
		progress(st.Cached, st.Keys)
	}
	for i, r := range todo {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		t.mu.Lock()
		_, err := t.need(r.Key, r.tmpl)
		t.mu.Unlock()
		if err != nil {
			return st, err
		}
		st.Measured++
		if progress != nil {
			progress(st.Cached+i+1, st.Keys)
		}
	}
	t.mu.Lock()
	st.Entries = len(t.entries)
	after := t.meas.Stats()
	t.mu.Unlock()
	st.Measure = MeasureStats{
		Entries: after.Entries - before.Entries, Runs: after.Runs - before.Runs,
		Elapsed: after.Elapsed - before.Elapsed, Sessions: after.Sessions - before.Sessions,
		MinRunsIn: after.MinRunsIn, MaxRunsIn: after.MaxRunsIn,
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

// reorderKey is the key of a reorder of a batch×c×h×w tensor. onnxruntime's
// ReorderInput needs a channel count divisible by 4 (its NCHWc convolutions
// pad channels up to the block size), so c is rounded up to that.
func reorderKey(op string, batch, c, h, w int) Key {
	c = (c + 3) / 4 * 4
	return Key{Op: op, Batch: batch, H: h, W: w, Cin: c, Cout: c}
}

// NCHWcSupported reports whether this host's onnxruntime has the NCHWc
// layout operators (x86-64 builds do; the arm64 build of 1.24 does not
// register them, and its optimised graphs never use them).
func NCHWcSupported() bool {
	_, err := nchwcBlock()
	return err == nil
}

// UsesNCHWc reports whether any entry of the table was measured in
// onnxruntime's NCHWc layout.
func (t *Table) UsesNCHWc() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.entries {
		if e.NCHWcOut || slices.Contains(e.NCHWcIn, true) || e.Op == OpReorderIn || e.Op == OpReorderPair {
			return true
		}
	}
	return false
}
