package lut

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// How says where a latency came from.
type How string

const (
	HowFree         How = "free"         // a layout-only unit: 0
	HowExact        How = "exact"        // the key's own entry
	HowInterpolated How = "interpolated" // from the grid points around the key
	// HowApproximate: a foreign table without the grid points around the
	// key; the nearest entry of the same unit family, scaled by the ratio
	// of channel work (cin·cout, or c for channel-preserving kinds).
	HowApproximate How = "approximate"
)

// Value is the table's answer for one key.
type Value struct {
	MS       float64 `json:"ms"`
	NCHWcIn  []bool  `json:"nchwc_in,omitempty"`
	NCHWcOut bool    `json:"nchwc_out,omitempty"`
	How      How     `json:"how"`
}

func (v Value) in(i int) bool { return i < len(v.NCHWcIn) && v.NCHWcIn[i] }

// MissingError lists keys a table lacks and cannot measure.
type MissingError struct {
	Keys []Key
}

func (e *MissingError) Error() string {
	s := fmt.Sprintf("lut: the table has no entry for %d key(s), and none of the same unit family to estimate from; measure them on the device with \"onnx-adapt lut build\":", len(e.Keys))
	for i, k := range e.Keys {
		if i == 8 {
			s += fmt.Sprintf(" … and %d more", len(e.Keys)-i)
			break
		}
		s += "\n  " + k.String()
	}
	return s
}

// Latency returns the latency of key k: its entry when there is one;
// otherwise, on the channel grid, bilinear interpolation in (cin, cout) for
// dense convolutions and Gemm, linear in the channel count for depthwise
// convolutions, pooling and element-wise units. Grid points that are
// missing are measured (when the table has a Measurer) and kept. A channel
// count that is a multiple of the step, below the step, or already present
// in the table along that axis is used as it is.
//
// A foreign table (or one without a Measurer) that lacks grid points
// estimates the key from the nearest entry of the same unit family, scaled
// by channel work, and records a warning (Warnings); with no such entry it
// returns a *MissingError.
//
// tmpl is the node of an OpNode key (Unit.Latency passes it); other keys
// need none.
func (t *Table) Latency(k Key, tmpl *onnxio.Node) (Value, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.latency(k, tmpl)
}

// Latency is the table's latency for the unit at its current channels.
func (u *Unit) Latency(t *Table) (Value, error) { return t.Latency(u.key, u.tmpl) }

// LatencyFor is the table's latency for the unit at other channels.
func (u *Unit) LatencyFor(t *Table, cin, cout int) (Value, error) {
	return t.Latency(u.KeyFor(cin, cout), u.tmpl)
}

// Warnings returns (and clears) the keys estimated approximately.
func (t *Table) Warnings() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.approx
	t.approx = nil
	return w
}

type corner struct {
	k Key
	w float64
}

func (t *Table) latency(k Key, tmpl *onnxio.Node) (Value, error) {
	if k.Op == OpFree {
		return Value{How: HowFree}, nil
	}
	if e, ok := t.entries[k]; ok {
		return Value{MS: e.MS, NCHWcIn: e.NCHWcIn, NCHWcOut: e.NCHWcOut, How: HowExact}, nil
	}
	corners := t.corners(k)
	v := Value{How: HowInterpolated}
	best := -1.0
	for _, c := range corners {
		if c.w == 0 {
			continue
		}
		e, err := t.need(c.k, tmpl)
		if errors.Is(err, errNoMeasurer) {
			return t.approximate(k)
		}
		if err != nil {
			return Value{}, err
		}
		v.MS += c.w * e.MS
		if c.w > best || (c.w == best && c.k.Cout >= k.Cout) {
			best = c.w
			v.NCHWcIn, v.NCHWcOut = e.NCHWcIn, e.NCHWcOut
		}
	}
	if len(corners) == 1 || (best == 1 && corners[0].k == k) {
		v.How = HowExact
	}
	return v, nil
}

// corners returns the grid points whose entries make k's latency, with
// their weights (some may be zero).
func (t *Table) corners(k Key) []corner {
	f := t.families[k.family()]
	switch k.mode() {
	case modeSame:
		c0, c1, w := t.bracket(k.Cout, f, false)
		return []corner{{k.withChannels(c0, c0), 1 - w}, {k.withChannels(c1, c1), w}}
	case modeInOut:
		i0, i1, wi := t.bracket(k.Cin, f, true)
		o0, o1, wo := t.bracket(k.Cout, f, false)
		return []corner{
			{k.withChannels(i0, o0), (1 - wi) * (1 - wo)}, {k.withChannels(i1, o0), wi * (1 - wo)},
			{k.withChannels(i0, o1), (1 - wi) * wo}, {k.withChannels(i1, o1), wi * wo},
		}
	}
	return []corner{{k, 1}}
}

// bracket returns the grid points around c and the weight of the upper one.
func (t *Table) bracket(c int, f *family, cin bool) (lo, hi int, w float64) {
	step := t.Header.Step
	present := false
	if f != nil {
		if cin {
			present = f.cin[c]
		} else {
			present = f.cout[c]
		}
	}
	if present || step <= 1 || c%step == 0 || c < step {
		return c, c, 0
	}
	lo = c / step * step
	return lo, lo + step, float64(c-lo) / float64(step)
}

// need returns the entry for k, measuring it when it is missing and the
// table may measure.
func (t *Table) need(k Key, tmpl *onnxio.Node) (*Entry, error) {
	if e, ok := t.entries[k]; ok {
		return e, nil
	}
	if t.meas == nil || t.foreign {
		return nil, errNoMeasurer
	}
	e, err := t.meas.Measure(k, tmpl)
	if err != nil {
		return nil, err
	}
	t.put(e)
	t.measured++
	return t.entries[k], nil
}

// approximate estimates k from the nearest entry of its family.
func (t *Table) approximate(k Key) (Value, error) {
	f := t.families[k.family()]
	if f == nil || len(f.list) == 0 || k.mode() == modeFixed {
		return Value{}, &MissingError{Keys: []Key{k}}
	}
	want := math.Log(k.work())
	near := slices.MinFunc(f.list, func(a, b *Entry) int {
		da, db := math.Abs(math.Log(a.work())-want), math.Abs(math.Log(b.work())-want)
		switch {
		case da < db:
			return -1
		case da > db:
			return 1
		}
		return compareKeys(a.Key, b.Key)
	})
	t.approx = append(t.approx, fmt.Sprintf("%s: estimated from %s", k, near.Key))
	return Value{MS: near.MS * k.work() / near.work(), NCHWcIn: near.NCHWcIn, NCHWcOut: near.NCHWcOut, How: HowApproximate}, nil
}
