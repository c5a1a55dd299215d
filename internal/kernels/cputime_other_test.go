//go:build !unix

package kernels

import "time"

// processCPU is 0: not measured on this OS.
func processCPU() time.Duration { return 0 }
