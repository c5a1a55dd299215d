//go:build amd64 && !purego

package kernels

//go:generate sh -c "python3 gen_sgemm_amd64.py > sgemm_amd64.s"

//go:noescape
func sgemmKernel12x32(kc int, a, b, c *float32, ldc int)

//go:noescape
func sgemmKernel12x32RA(kc int, a *float32, lda int, b, c *float32, ldc int)

//go:noescape
func sgemmKernel6x16(kc int, a, b, c *float32, ldc int)

//go:noescape
func sgemmKernel6x16RA(kc int, a *float32, lda int, b, c *float32, ldc int)

var (
	sgemmAVX512 = &sgemmKernel{name: "go-avx512", mr: 12, nr: 32, packed: sgemmKernel12x32, rowA: sgemmKernel12x32RA}
	sgemmAVX2   = &sgemmKernel{name: "go-avx2", mr: 6, nr: 16, packed: sgemmKernel6x16, rowA: sgemmKernel6x16RA}
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
