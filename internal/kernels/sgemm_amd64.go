//go:build amd64 && !purego

package kernels

//go:generate sh -c "python3 gen_sgemm_amd64.py > sgemm_amd64.s"

//go:noescape
func sgemmKernel12x32(kc int, a, b, c *float32, ldc int)

//go:noescape
func sgemmKernel12x32RA(kc int, a *float32, lda int, b, c *float32, ldc int)

//go:noescape
func sgemmKernel6x16(kc int, a *float32, astep int, b *float32, bstep int, c *float32, ldc, acc int)

//go:noescape
func sgemmKernel6x16RA(kc int, a *float32, lda int, b *float32, bstep int, c *float32, ldc, acc int)

var (
	// The AVX-512 kernels read packed panels only (and row-major A for
	// GEMMs of up to 64 columns), and always add to C.
	sgemmAVX512 = &sgemmKernel{name: "go-avx512", mr: 12, nr: 32, rowAMaxN: 64,
		kern: func(kc int, a *float32, _ int, b *float32, _ int, c *float32, ldc, _ int) {
			sgemmKernel12x32(kc, a, b, c, ldc)
		},
		rowA: func(kc int, a *float32, lda int, b *float32, _ int, c *float32, ldc, _ int) {
			sgemmKernel12x32RA(kc, a, lda, b, c, ldc)
		}}
	// The AVX2 kernels read packed panels or operands in place, and a
	// transposed B is packed 8×8 at a time in assembly. Packing an operand
	// pays when the micro-kernel calls reuse it many times: A panels are
	// reused n/16 times, B panels m/6 times; the thresholds, at 16 and 32
	// reuses, were chosen on the GEMMs of a MobileNetV2 training step at
	// 32×32 (see BenchmarkSgemm).
	sgemmAVX2 = &sgemmKernel{name: "go-avx2", mr: 6, nr: 16, strided: true, interleaveB: true,
		kern: sgemmKernel6x16, rowA: sgemmKernel6x16RA,
		rowAMaxN: 256, tAMaxN: 256, inBMaxM: 192}
)

// sgemmKernelFor returns the assembly micro-kernel of level l, nil for
// isaGo.
func sgemmKernelFor(l isa) *sgemmKernel {
	switch l {
	case isaAVX512:
		return sgemmAVX512
	case isaAVX2:
		return sgemmAVX2
	}
	return nil
}
