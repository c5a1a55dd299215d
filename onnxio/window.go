package onnxio

import "fmt"

// Window is the geometry of a Conv, ConvTranspose or pooling node along its
// spatial axes, as ONNX defines it by the attributes kernel_shape, strides,
// dilations, pads and auto_pad.
type Window struct {
	Kernel, Strides, Dilations []int64
	// Pads are the explicit pads, as in the pads attribute: the begin of
	// every spatial axis, then the end of every spatial axis. auto_pad
	// SAME_UPPER, SAME_LOWER and VALID ignore them (see Padding).
	Pads []int64
	// AutoPad is NOTSET, SAME_UPPER, SAME_LOWER or VALID.
	AutoPad string
}

// ReadWindow reads the window attributes of n for a kernel of the given
// extents (one per spatial axis; kernel_shape or the weight's spatial
// dimensions). Absent strides and dilations are 1, absent pads 0, and an
// absent or empty auto_pad is NOTSET. It checks that the attributes agree
// with the kernel in rank, that kernel, strides and dilations are positive,
// that pads are not negative, and that auto_pad is one ONNX defines.
func ReadWindow(n *Node, kernel []int64) (Window, error) {
	w, err := readWindow(n, kernel)
	if err != nil {
		return w, fmt.Errorf("onnxio: window: %w", err)
	}
	return w, nil
}

func readWindow(n *Node, kernel []int64) (Window, error) {
	k := len(kernel)
	w := Window{Kernel: kernel, AutoPad: n.AttrString("auto_pad", "NOTSET")}
	if w.AutoPad == "" {
		w.AutoPad = "NOTSET"
	}
	switch w.AutoPad {
	case "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID":
	default:
		return w, fmt.Errorf("unknown auto_pad %q", w.AutoPad)
	}
	w.Strides = n.AttrInts("strides")
	if w.Strides == nil {
		w.Strides = ones(k)
	}
	w.Dilations = n.AttrInts("dilations")
	if w.Dilations == nil {
		w.Dilations = ones(k)
	}
	w.Pads = n.AttrInts("pads")
	if w.Pads == nil {
		w.Pads = make([]int64, 2*k)
	}
	if len(w.Strides) != k || len(w.Dilations) != k || len(w.Pads) != 2*k {
		return w, fmt.Errorf("kernel %v, strides %v, dilations %v and pads %v do not agree in rank", kernel, w.Strides, w.Dilations, w.Pads)
	}
	for i := range k {
		if w.Strides[i] <= 0 || w.Dilations[i] <= 0 || kernel[i] <= 0 {
			return w, fmt.Errorf("kernel %v, strides %v and dilations %v must be positive", kernel, w.Strides, w.Dilations)
		}
		if w.Pads[i] < 0 || w.Pads[i+k] < 0 {
			return w, fmt.Errorf("pads %v must not be negative", w.Pads)
		}
	}
	return w, nil
}

func ones(k int) []int64 {
	s := make([]int64, k)
	for i := range s {
		s[i] = 1
	}
	return s
}

// same reports whether the window pads to keep ceil(x / stride) outputs.
func (w Window) same() bool { return w.AutoPad == "SAME_UPPER" || w.AutoPad == "SAME_LOWER" }

// extent is the span of the dilated kernel along spatial axis i.
func (w Window) extent(i int) int64 { return (w.Kernel[i]-1)*w.Dilations[i] + 1 }

// OutSize returns the output extent of a Conv or pool along spatial axis i
// for input extent x; ceil is a pool's ceil_mode.
func (w Window) OutSize(i int, x int64, ceil bool) (int64, error) {
	s, ek := w.Strides[i], w.extent(i)
	switch w.AutoPad {
	case "SAME_UPPER", "SAME_LOWER":
		return (x + s - 1) / s, nil
	case "VALID":
		if x < ek {
			return 0, fmt.Errorf("input extent %d is smaller than the kernel extent %d", x, ek)
		}
		return (x-ek)/s + 1, nil
	}
	begin, end := w.Padding(i, x)
	span := x + begin + end - ek
	if span < 0 {
		return 0, fmt.Errorf("padded input extent %d is smaller than the kernel extent %d", x+begin+end, ek)
	}
	if !ceil {
		return span/s + 1, nil
	}
	out := (span+s-1)/s + 1
	// The last window must start inside the input or left padding.
	if (out-1)*s >= x+begin {
		out--
	}
	return out, nil
}

// Padding returns the begin and end padding of spatial axis i for input
// extent x: the explicit pads under NOTSET, none under VALID, and under
// SAME_UPPER and SAME_LOWER the total that keeps ceil(x / stride) outputs,
// split evenly with the odd one at the end (SAME_UPPER) or at the begin
// (SAME_LOWER).
func (w Window) Padding(i int, x int64) (begin, end int64) {
	switch {
	case w.AutoPad == "VALID":
		return 0, 0
	case !w.same():
		return w.Pads[i], w.Pads[i+len(w.Kernel)]
	}
	s := w.Strides[i]
	out := (x + s - 1) / s
	total := max(0, (out-1)*s+w.extent(i)-x)
	if w.AutoPad == "SAME_LOWER" {
		return total - total/2, total / 2
	}
	return total / 2, total - total/2
}
