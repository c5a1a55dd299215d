//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

// cpuISA is the best assembly level this CPU runs (x/sys/cpu also checks
// that the OS saves the vector registers).
var cpuISA = func() isa {
	switch {
	case cpu.X86.HasAVX512F:
		return isaAVX512
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		return isaAVX2
	}
	return isaGo
}()
