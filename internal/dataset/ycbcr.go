package dataset

import (
	"image"
)

// JPEG colour conversion as libjpeg does it.
//
// Go's image/jpeg returns chroma-subsampled images as *image.YCbCr, and
// image/draw converts them to RGB with nearest-neighbour chroma. libjpeg
// (behind PIL, and so behind torchvision's reference numbers) upsamples
// chroma with a triangle filter ("fancy upsampling") and converts with its
// own fixed-point tables. The difference is up to several levels per pixel
// at colour edges, enough to move a few top-1 decisions of a pretrained
// ImageNet model, so 4:2:0 and 4:2:2 images are converted here the libjpeg
// way (jdsample.c h2v2_fancy_upsample / h2v1_fancy_upsample, jdcolor.c
// ycc_rgb_convert).

// libjpeg's ycc→rgb tables (jdcolor.c build_ycc_rgb_table), SCALEBITS 16.
var crR, cbB, crG, cbG [256]int32

func init() {
	fix := func(x float64) int32 { return int32(x*(1<<16) + 0.5) }
	const half = 1 << 15
	for i := range 256 {
		x := int32(i - 128)
		crR[i] = (fix(1.40200)*x + half) >> 16
		cbB[i] = (fix(1.77200)*x + half) >> 16
		crG[i] = -fix(0.71414) * x
		cbG[i] = -fix(0.34414)*x + half
	}
}

func clamp8(v int32) uint8 {
	if uint32(v) > 255 {
		if v < 0 {
			return 0
		}
		return 255
	}
	return uint8(v)
}

// fancyYCbCr reports whether src is a 4:2:0 or 4:2:2 image this function
// handles (origin at even coordinates) and, if so, converts it into dst,
// which must have src's bounds. cb and cr are scratch rows, grown as
// needed and returned for reuse.
func fancyYCbCr(dst *image.RGBA, src *image.YCbCr, cb, cr []int32) (ok bool, cbOut, crOut []int32) {
	r := src.Rect
	if r.Min.X%2 != 0 || r.Min.Y%2 != 0 || dst.Rect != r {
		return false, cb, cr
	}
	var vsub bool
	switch src.SubsampleRatio {
	case image.YCbCrSubsampleRatio420:
		vsub = true
	case image.YCbCrSubsampleRatio422:
	default:
		return false, cb, cr
	}
	w, h := r.Dx(), r.Dy()
	cw := (w + 1) / 2
	ch := h
	if vsub {
		ch = (h + 1) / 2
	}
	if cap(cb) < 2*cw {
		cb, cr = make([]int32, 2*cw), make([]int32, 2*cw)
	}
	cb, cr = cb[:2*cw], cr[:2*cw]
	for y := range h {
		if vsub {
			cy := y / 2
			ny := cy - 1 // nearer neighbouring chroma row
			if y%2 == 1 {
				ny = cy + 1
			}
			ny = min(max(ny, 0), ch-1)
			row0 := src.Cb[cy*src.CStride : cy*src.CStride+cw]
			row1 := src.Cb[ny*src.CStride : ny*src.CStride+cw]
			upsampleH2V2(cb, row0, row1)
			row0 = src.Cr[cy*src.CStride : cy*src.CStride+cw]
			row1 = src.Cr[ny*src.CStride : ny*src.CStride+cw]
			upsampleH2V2(cr, row0, row1)
		} else {
			upsampleH2V1(cb, src.Cb[y*src.CStride:y*src.CStride+cw])
			upsampleH2V1(cr, src.Cr[y*src.CStride:y*src.CStride+cw])
		}
		yrow := src.Y[y*src.YStride : y*src.YStride+w]
		out := dst.Pix[y*dst.Stride : y*dst.Stride+4*w]
		for x, yy := range yrow {
			Y := int32(yy)
			b, r := cb[x], cr[x]
			o := out[4*x : 4*x+4 : 4*x+4]
			o[0] = clamp8(Y + crR[r])
			o[1] = clamp8(Y + (cbG[b]+crG[r])>>16)
			o[2] = clamp8(Y + cbB[b])
			o[3] = 255
		}
	}
	return true, cb, cr
}

// upsampleH2V2 is libjpeg's h2v2_fancy_upsample for one output row: in0 is
// the chroma row the output row lies in, in1 the nearer neighbouring row.
func upsampleH2V2(out []int32, in0, in1 []uint8) {
	n := len(in0)
	col := func(i int) int32 { return 3*int32(in0[i]) + int32(in1[i]) }
	if n == 1 {
		c := col(0)
		out[0], out[1] = (4*c+8)>>4, (4*c+7)>>4
		return
	}
	last, this := col(0), col(0)
	for i := range n {
		next := this
		if i+1 < n {
			next = col(i + 1)
		}
		if i == 0 {
			out[0] = (4*this + 8) >> 4
		} else {
			out[2*i] = (3*this + last + 8) >> 4
		}
		if i == n-1 {
			out[2*i+1] = (4*this + 7) >> 4
		} else {
			out[2*i+1] = (3*this + next + 7) >> 4
		}
		last, this = this, next
	}
}

// upsampleH2V1 is libjpeg's h2v1_fancy_upsample for one row.
func upsampleH2V1(out []int32, in []uint8) {
	n := len(in)
	for i := range n {
		c := 3 * int32(in[i])
		l, r := int32(in[max(i-1, 0)]), int32(in[min(i+1, n-1)])
		out[2*i] = (c + l + 1) >> 2
		out[2*i+1] = (c + r + 2) >> 2
	}
}
