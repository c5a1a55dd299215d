package kernels

import "sync"

// A packed, cache-blocked float32 GEMM (the Goto/BLIS loop structure) around
// a register-tiled micro-kernel: AVX-512 assembly on amd64 (12×32 tile, see
// gen_sgemm_amd64.py), a portable Go tile elsewhere. It is single-threaded:
// the kernels call it from their own workers.
//
// Blocking: a KC×NC panel of op(B) is packed once into NR-wide column
// panels (about 2 MiB, L3), a MC×KC block of α·op(A) into MR-high row
// panels (about 150 KiB, L2), and the micro-kernel streams one A panel and
// one B panel from there, accumulating an MR×NR tile of C in registers.

const (
	sgMR = 12
	sgNR = 32
	sgKC = 256
	sgMC = 12 * sgMR
	sgNC = 64 * sgNR
)

type sgemmBufs struct{ a, b []float32 }

var sgemmPool = sync.Pool{New: func() any {
	return &sgemmBufs{a: make([]float32, sgMC*sgKC), b: make([]float32, sgKC*sgNC)}
}}

// sgemmBlocked computes C = alpha·op(A)·op(B) + beta·C (row-major) with the
// micro-kernel kern. m, n, k ≥ 1.
func sgemmBlocked(kern func(kc int, a, b, c *float32, ldc int), kernRA func(kc int, a *float32, lda int, b, c *float32, ldc int), tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	// The assembly does no bounds checks: check the extents once.
	ra, ca := m, k
	if tA {
		ra, ca = k, m
	}
	rb, cb := k, n
	if tB {
		rb, cb = n, k
	}
	if len(a) < (ra-1)*lda+ca || len(b) < (rb-1)*ldb+cb || len(c) < (m-1)*ldc+n ||
		lda < ca || ldb < cb || ldc < n {
		panic("kernels: sgemm: slice too short for its shape")
	}
	if beta != 1 {
		for i := 0; i < m; i++ {
			r := c[i*ldc : i*ldc+n]
			if beta == 0 {
				clear(r)
			} else {
				for j := range r {
					r[j] *= beta
				}
			}
		}
	}
	if alpha == 0 {
		return
	}
	// With few columns, A is used by few micro-kernel calls after packing,
	// so read it in place when it is row-major (full row panels only).
	rowA := kernRA != nil && !tA && alpha == 1 && n <= 2*sgNR
	bufs := sgemmPool.Get().(*sgemmBufs)
	defer sgemmPool.Put(bufs)
	var tmp [sgMR * sgNR]float32
	for jc := 0; jc < n; jc += sgNC {
		nc := min(sgNC, n-jc)
		for pc := 0; pc < k; pc += sgKC {
			kc := min(sgKC, k-pc)
			packB(bufs.b, b, ldb, tB, pc, kc, jc, nc)
			for ic := 0; ic < m; ic += sgMC {
				mc := min(sgMC, m-ic)
				if rowA {
					// Only a trailing partial row panel is packed, at 0.
					if full := mc / sgMR * sgMR; full < mc {
						packA(bufs.a, a, lda, tA, ic+full, mc-full, pc, kc, alpha)
					}
				} else {
					packA(bufs.a, a, lda, tA, ic, mc, pc, kc, alpha)
				}
				for jr := 0; jr < nc; jr += sgNR {
					nr := min(sgNR, nc-jr)
					bp := &bufs.b[jr*kc]
					for ir := 0; ir < mc; ir += sgMR {
						mr := min(sgMR, mc-ir)
						co := (ic+ir)*ldc + jc + jr
						if rowA && mr == sgMR {
							ar := &a[(ic+ir)*lda+pc]
							if nr == sgNR {
								kernRA(kc, ar, lda, bp, &c[co], ldc)
								continue
							}
							clear(tmp[:])
							kernRA(kc, ar, lda, bp, &tmp[0], sgNR)
						} else {
							ap := &bufs.a[ir*kc]
							if rowA {
								ap = &bufs.a[0]
							}
							if mr == sgMR && nr == sgNR {
								kern(kc, ap, bp, &c[co], ldc)
								continue
							}
							clear(tmp[:])
							kern(kc, ap, bp, &tmp[0], sgNR)
						}
						for i := 0; i < mr; i++ {
							axpyUnit(1, tmp[i*sgNR:i*sgNR+nr], c[co+i*ldc:co+i*ldc+nr])
						}
					}
				}
			}
		}
	}
}

// packA packs rows [ic,ic+mc) × cols [pc,pc+kc) of alpha·op(A) into MR-row
// panels, each stored p-major (MR values per p), zero-padded to MR rows.
func packA(dst, a []float32, lda int, tA bool, ic, mc, pc, kc int, alpha float32) {
	for r0 := 0; r0 < mc; r0 += sgMR {
		panel := dst[r0*kc : r0*kc+sgMR*kc]
		rows := min(sgMR, mc-r0)
		if tA {
			// op(A)[i,p] = a[p*lda+i]: rows of the panel are contiguous in a.
			for p := 0; p < kc; p++ {
				src := a[(pc+p)*lda+ic+r0:][:rows]
				d := panel[p*sgMR : p*sgMR+sgMR]
				for i, v := range src {
					d[i] = alpha * v
				}
				clear(d[rows:])
			}
			continue
		}
		for i := 0; i < rows; i++ {
			src := a[(ic+r0+i)*lda+pc:][:kc]
			for p, v := range src {
				panel[p*sgMR+i] = alpha * v
			}
		}
		for i := rows; i < sgMR; i++ {
			for p := 0; p < kc; p++ {
				panel[p*sgMR+i] = 0
			}
		}
	}
}

// packB packs rows [pc,pc+kc) × cols [jc,jc+nc) of op(B) into NR-column
// panels, each stored p-major (NR values per p), zero-padded to NR columns.
func packB(dst, b []float32, ldb int, tB bool, pc, kc, jc, nc int) {
	for c0 := 0; c0 < nc; c0 += sgNR {
		panel := dst[c0*kc : c0*kc+sgNR*kc]
		cols := min(sgNR, nc-c0)
		if !tB {
			for p := 0; p < kc; p++ {
				d := panel[p*sgNR : p*sgNR+sgNR]
				copy(d, b[(pc+p)*ldb+jc+c0:][:cols])
				clear(d[cols:])
			}
			continue
		}
		// op(B)[p,j] = b[j*ldb+p].
		for j := 0; j < cols; j++ {
			src := b[(jc+c0+j)*ldb+pc:][:kc]
			for p, v := range src {
				panel[p*sgNR+j] = v
			}
		}
		for j := cols; j < sgNR; j++ {
			for p := 0; p < kc; p++ {
				panel[p*sgNR+j] = 0
			}
		}
	}
}

// sgemmKernelGoRA is sgemmKernelGo reading A in place.
func sgemmKernelGoRA(kc int, a *float32, lda int, b, c *float32, ldc int) {
	ap := unsafeSlice(a, (sgMR-1)*lda+kc)
	bp := unsafeSlice(b, kc*sgNR)
	cs := unsafeSlice(c, (sgMR-1)*ldc+sgNR)
	for i := 0; i < sgMR; i++ {
		row := cs[i*ldc : i*ldc+sgNR]
		for p := 0; p < kc; p++ {
			axpyUnit(ap[i*lda+p], bp[p*sgNR:p*sgNR+sgNR], row)
		}
	}
}

// sgemmKernelGo is the portable micro-kernel (used in tests to check the
// driver independently of the assembly, and where no assembly exists).
func sgemmKernelGo(kc int, a, b, c *float32, ldc int) {
	ap := unsafeSlice(a, kc*sgMR)
	bp := unsafeSlice(b, kc*sgNR)
	cs := unsafeSlice(c, (sgMR-1)*ldc+sgNR)
	for i := 0; i < sgMR; i++ {
		row := cs[i*ldc : i*ldc+sgNR]
		for p := 0; p < kc; p++ {
			av := ap[p*sgMR+i]
			axpyUnit(av, bp[p*sgNR:p*sgNR+sgNR], row)
		}
	}
}
