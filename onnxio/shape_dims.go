// Shape inference: dimension arithmetic and broadcasting.

package onnxio

import (
	"fmt"
	"math"
)

// NormAxis returns the axis a of a rank-r tensor as ONNX counts it: a
// negative axis counts from the end. It is an error outside [-rank, rank).
func NormAxis(a int64, rank int) (int, error) {
	if a < 0 {
		a += int64(rank)
	}
	if a < 0 || a >= int64(rank) {
		return 0, fmt.Errorf("axis %d is out of range for rank %d", a, rank)
	}
	return int(a), nil
}

// product multiplies dims: known when all are, the symbolic dim itself when
// it is the only non-one factor, else unknown.
func product(s Shape) Dim {
	p := int64(1)
	var sym []Dim
	for _, d := range s {
		switch {
		case d.Known():
			p = mulClamp(p, d.Value)
		default:
			sym = append(sym, d)
		}
	}
	switch {
	case len(sym) == 0:
		return Dim{Value: p}
	case len(sym) == 1 && p == 1:
		return sym[0]
	}
	return Dim{Value: -1}
}

func mulClamp(a, b int64) int64 {
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}

func sameDim(a, b Dim) bool {
	if a.Known() || b.Known() {
		return a.Value == b.Value
	}
	return a.Param != "" && a.Param == b.Param
}

// broadcastShapes applies NumPy broadcasting.
func broadcastShapes(a, b Shape) (Shape, error) {
	r := max(len(a), len(b))
	out := make(Shape, r)
	for i := range r {
		da, db := Dim{Value: 1}, Dim{Value: 1}
		if j := i - (r - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (r - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da.Known() && da.Value == 1:
			out[i] = db
		case db.Known() && db.Value == 1:
			out[i] = da
		case sameDim(da, db):
			out[i] = da
		case da.Known() && db.Known():
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		case da.Known():
			out[i] = da
		case db.Known():
			out[i] = db
		default:
			out[i] = Dim{Value: -1}
		}
	}
	return out, nil
}

// divideDims infers the -1 entry at skip of target from the input shape s:
// product(s) / product(target without skip), cancelling symbolic dims that
// appear on both sides.
func divideDims(s, target Shape, skip int) Dim {
	num, den := int64(1), int64(1)
	params := map[string]int{}
	for _, d := range s {
		switch {
		case d.Known():
			num = mulClamp(num, d.Value)
		case d.Param != "":
			params[d.Param]++
		default:
			return Dim{Value: -1}
		}
	}
	for i, d := range target {
		if i == skip {
			continue
		}
		switch {
		case d.Known():
			den = mulClamp(den, d.Value)
		case d.Param != "":
			params[d.Param]--
		default:
			return Dim{Value: -1}
		}
	}
	var left []string
	for p, c := range params {
		if c < 0 || c > 1 {
			return Dim{Value: -1}
		}
		if c == 1 {
			left = append(left, p)
		}
	}
	if den == 0 || num%den != 0 {
		return Dim{Value: -1}
	}
	switch {
	case len(left) == 0:
		return Dim{Value: num / den}
	case len(left) == 1 && num == den:
		return Dim{Value: -1, Param: left[0]}
	}
	return Dim{Value: -1}
}
