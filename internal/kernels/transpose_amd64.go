//go:build amd64 && !purego

package kernels

//go:generate sh -c "python3 gen_transpose_amd64.py > transpose_amd64.s"

// interleave8 sets dst[p*ldd+c] = src[c*lds+p] for c < 8, p < n (n ≥ 8, a
// multiple of 8); AVX2.
//
//go:noescape
func interleave8(dst *float32, ldd int, src *float32, lds, n int)

// deinterleave8 sets dst[c*ldd+p] = src[p*8+c] for c < 8, p < n (n ≥ 8, a
// multiple of 8); AVX2.
//
//go:noescape
func deinterleave8(dst *float32, ldd int, src *float32, n int)
