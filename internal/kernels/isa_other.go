//go:build !amd64 || purego

package kernels

// cpuISA is isaGo: there is no assembly for this architecture or build.
const cpuISA = isaGo
