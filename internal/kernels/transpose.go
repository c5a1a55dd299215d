package kernels

// transpose sets dst[j·ldd+i] = src[i·lds+j] for i < rows, j < cols. For
// float32 where the CPU has AVX2, 8×8 tiles are transposed in assembly
// (interleave8; deinterleave8 for contiguous rows of eight), the edges in
// Go.
func transpose[T Float](dst []T, ldd int, src []T, lds int, rows, cols int) {
	if rows <= 0 || cols <= 0 {
		return
	}
	// The assembly does no bounds checks: check the extents once.
	_, _ = src[(rows-1)*lds+cols-1], dst[(cols-1)*ldd+rows-1]
	r8 := 0
	if is32[T]() && asmISA >= isaAVX2 && cols >= 8 {
		r8 = rows &^ 7
		c8 := cols &^ 7
		d, s := as32(dst), as32(src)
		if cols == 8 && lds == 8 && r8 > 0 {
			// Contiguous rows of eight (a blocked layout's pixels): one
			// call for every row.
			deinterleave8(&d[0], ldd, &s[0], r8)
		} else {
			for i := 0; i < r8; i += 8 {
				interleave8(&d[i], ldd, &s[i*lds], lds, c8)
			}
		}
		for i := 0; i < r8; i++ {
			for j := c8; j < cols; j++ {
				dst[j*ldd+i] = src[i*lds+j]
			}
		}
	}
	for i := r8; i < rows; i++ {
		row := src[i*lds : i*lds+cols]
		for j, v := range row {
			dst[j*ldd+i] = v
		}
	}
}
