//go:build !amd64 || purego

package kernels

const haveDWAsm = false

func noDWAsm() { panic("kernels: no assembly depthwise") }

func dw3x3s1Blk16(out, in, wts, bias *float32, oh, ow, inStride int) { noDWAsm() }

func dw3x3s2Blk16(out, in, wts, bias *float32, oh, ow, inStride int) { noDWAsm() }

func dw3x3s1GradBlk16(acc, dy *float32, dyStride int, in *float32, inStride, oh, ow int) {
	noDWAsm()
}

func dw3x3s2GradBlk16(acc, dy *float32, dyStride int, in *float32, inStride, oh, ow int) {
	noDWAsm()
}

func dw3x3s2ScatterBlk16(dst, dy, wts *float32, oh, ow, dstStride int) { noDWAsm() }
