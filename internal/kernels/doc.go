// Package kernels holds the forward and backward compute kernels of the
// onnx-adapt training engine: convolution (dense, grouped, depthwise),
// batch normalization, element-wise activations, broadcasting Add/Mul,
// pooling, Gemm/MatMul, dropout, the classification and distillation losses,
// and the SGD update.
//
// Kernels are plain functions over flat slices in NCHW layout, described by
// small shape/attribute structs (ConvShape, PoolShape, BNShape, ...). There
// are no ONNX types here: the finetune package maps ONNX nodes onto these
// functions.
//
// # Numeric types
//
// Every kernel is generic over Float (float32 or float64). Training runs in
// float32; the very same code runs in float64 for finite-difference gradient
// checks. Matrix products are dispatched by element size. float64 GEMMs go
// to gonum's native BLAS. float32 GEMMs go to a packed, cache-blocked GEMM
// (sgemm.go) around a register-tiled micro-kernel in assembly
// (gen_sgemm_amd64.py): 12×32 AVX-512 where the CPU has AVX-512F, 6×16
// AVX2+FMA where it has AVX2 and FMA but not AVX-512 (many laptops and CI
// runners); the AVX2 GEMM also reads operands that few micro-kernel calls
// would reuse in place instead of packing them. Elsewhere, or with the
// build tag "purego", they go to gonum's Sgemm; with the build tag
// "openblas" through cgo to OpenBLAS's cblas_sgemm (package kernels/cblas;
// Debian: libopenblas-dev), pinned to one OpenBLAS thread because the
// kernels parallelise across goroutines themselves. GEMMBackend names the
// backend in use ("go-avx512", "go-avx2", "gonum", "openblas").
//
// The other float32 hot paths of MobileNet training follow the same
// levels. Depthwise 3×3 convolutions on planes up to 32×32 run in assembly
// over channel-blocked data (dwblk.go): 16 channels per vector with
// AVX-512, 8 with AVX2, whose blocks are packed with 8×8 transposes
// (transpose_amd64.s). Without AVX-512, depthwise planes of at most 4
// pixels (the 2×2 and 1×1 planes of late stages at 32×32 inputs) take a
// per-channel path (dwtiny.go, two channels per YMM register for 2×2). The
// SGD momentum step has an AVX loop (sgd_amd64.s); the batch-norm and
// clamp row kernels are AVX-512 only (bnasm_amd64.go): the engine's fused
// BatchNormalization step has its own AVX2 loops (package finetune).
//
// The level is chosen once from golang.org/x/sys/cpu (isa.go); tests lower
// it to run every level the CPU has, so an AVX-512 machine tests the AVX2
// kernels too. GODEBUG=cpu.avx512f=off (or cpu.avx2=off) makes a whole
// process, binary or test, run the lower level.
//
// Measured on the development machine (AMD EPYC Zen 5, 2 vCPUs): the
// AVX-512 GEMM runs at about 200 GFLOP/s on one thread for 512³, OpenBLAS
// (Debian 0.3.21, which runs its Haswell kernels here) at about 120, and
// gonum's pure-Go Sgemm at about 7 on two threads. On an AMD EPYC of the
// same kind without AVX-512 (avx, avx2, fma; shared, loaded), the AVX2 GEMM
// runs at about 83 GFLOP/s on one thread for 512³ against gonum's
// 10, and a MobileNetV2 training step at 32×32 (batch 64) is
// about 4× faster than with gonum and the portable depthwise paths
// (BENCHMARKS.md, "Training on CPUs without AVX-512"). See bench/torch/
// for the per-layer comparison with PyTorch.
//
// # Conventions
//
//   - Gradients are overwritten, never accumulated: a backward kernel writes
//     dX, dW, dB in full. A nil gradient slice means "not needed" and the
//     work for it is skipped.
//   - Inputs are never mutated unless a doc comment says so (running
//     statistics of BatchNormalization, the parameters and momentum buffer
//     of SGD). Where a doc comment says that an output may alias an input,
//     in-place use is supported and saves memory.
//   - Shapes are checked by the exported entry points; a mismatch panics
//     with a message prefixed "kernels:", as it is a programming error of
//     the caller, not a data error.
//
// # Parallelism and scratch memory
//
// Kernels split work over the batch (or over channels when that gives more
// parallel work) across goroutines. The worker count is package-wide (see
// SetWorkers, default GOMAXPROCS); no goroutine outlives the call that
// started it. A job is cut into a few chunks per worker, which the workers
// take in turn, so that a worker on a core shared with another process
// does less of it rather than holding the others up. Kernels that need scratch memory (im2col buffers, per-worker
// partial weight gradients) take it from a caller-owned *Workspace, which
// keeps its high-water mark and is reused across steps, so memory stays
// bounded and hot paths do not allocate. A nil *Workspace is allowed and
// means "allocate".
//
// Results do not depend on the worker count. Work split across workers
// either writes disjoint outputs, or, for a sum over the batch (weight
// gradients, broadcast gradients), is split into a fixed number of slots
// that depends on the shapes alone (slots, slotFor): each slot sums its
// samples in order into its own partial, and the partials are added in slot
// order. The same inputs give the same bits on one core or sixteen.
package kernels
