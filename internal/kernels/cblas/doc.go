// Package cblas is the cgo binding to OpenBLAS's cblas_sgemm used by package
// kernels when built with the "openblas" tag (Debian: libopenblas-dev). It
// lives in its own package because a package that uses cgo cannot also hold
// Go assembly, and kernels has AVX-512 assembly. Without the tag the
// package is empty.
package cblas
