//go:build amd64 && !purego

package kernels

//go:generate sh -c "python3 gen_dw_amd64.py > dw_amd64.s"

//go:noescape
func dw3x3s1Blk16(out, in, wts, bias *float32, oh, ow, inStride int)

//go:noescape
func dw3x3s2Blk16(out, in, wts, bias *float32, oh, ow, inStride int)

//go:noescape
func dw3x3s1GradBlk16(acc, dy *float32, dyStride int, in *float32, inStride, oh, ow int)

//go:noescape
func dw3x3s2GradBlk16(acc, dy *float32, dyStride int, in *float32, inStride, oh, ow int)

//go:noescape
func dw3x3s2ScatterBlk16(dst, dy, wts *float32, oh, ow, dstStride int)

//go:noescape
func dw3x3s1Blk8(out, in, wts, bias *float32, oh, ow, inStride int)

//go:noescape
func dw3x3s2Blk8(out, in, wts, bias *float32, oh, ow, inStride int)

//go:noescape
func dw3x3s1GradBlk8(acc, dy *float32, dyStride int, in *float32, inStride, oh, ow int)

//go:noescape
func dw3x3s2GradBlk8(acc, dy *float32, dyStride int, in *float32, inStride, oh, ow int)

//go:noescape
func dw3x3s2ScatterBlk8(dst, dy, wts *float32, oh, ow, dstStride int)

//go:noescape
func dwTiny4AVX2(y, x, cols, bias *float32, pairs, n, stride int)

//go:noescape
func dwTiny4GradAVX2(gr, dy, x *float32, pairs, n, stride int)

var (
	dwBlkAVX512 = &dwBlkKernels{lanes: 16, fwd1: dw3x3s1Blk16, fwd2: dw3x3s2Blk16,
		grad1: dw3x3s1GradBlk16, grad2: dw3x3s2GradBlk16, scatter2: dw3x3s2ScatterBlk16}
	dwBlkAVX2 = &dwBlkKernels{lanes: 8, fwd1: dw3x3s1Blk8, fwd2: dw3x3s2Blk8,
		grad1: dw3x3s1GradBlk8, grad2: dw3x3s2GradBlk8, scatter2: dw3x3s2ScatterBlk8}
)

// dwBlkKernelsFor returns the channel-blocked depthwise kernels of level
// l, nil for isaGo.
func dwBlkKernelsFor(l isa) *dwBlkKernels {
	switch l {
	case isaAVX512:
		return dwBlkAVX512
	case isaAVX2:
		return dwBlkAVX2
	}
	return nil
}
