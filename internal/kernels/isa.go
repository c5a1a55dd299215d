package kernels

// isa is a level of x86 vector extensions that assembly kernels are
// written for. Each level implies the ones below it.
type isa int

const (
	isaGo     isa = iota // no assembly: portable Go (and gonum's Sgemm)
	isaAVX2              // AVX2 + FMA, 256-bit vectors
	isaAVX512            // AVX-512F, 512-bit vectors
)

func (l isa) String() string {
	switch l {
	case isaAVX2:
		return "avx2"
	case isaAVX512:
		return "avx512"
	}
	return "go"
}

// asmISA is the level the kernels dispatch on: cpuISA, the best this CPU
// and build support (see isa_amd64.go), unless a test lowers it to run the
// lesser kernels on the same machine. With GODEBUG=cpu.avx512f=off (or
// cpu.avx2=off) golang.org/x/sys/cpu, and so cpuISA, report the lower
// level for a whole process.
var asmISA = cpuISA
