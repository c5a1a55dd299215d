package kernels

import "sync"

// A packed, cache-blocked float32 GEMM (the Goto/BLIS loop structure) around
// a register-tiled micro-kernel (sgemmKernel): AVX-512 assembly with a 12×32
// tile or AVX2+FMA assembly with a 6×16 tile on amd64 (see
// gen_sgemm_amd64.py), a portable Go tile of either shape in tests. It is
// single-threaded: the kernels call it from their own workers.
//
// Blocking: a KC×NC panel of op(B) is packed once into NR-wide column
// panels (about 2 MiB, L3), a MC×KC block of α·op(A) into MR-high row
// panels (about 150 KiB, L2), and the micro-kernel streams one A panel and
// one B panel from there, accumulating an MR×NR tile of C in registers.
// KC, MC and NC are shared by both tiles (MC is a multiple of 6 and 12, NC
// of 16 and 32): the cache sizes they are chosen for do not depend on the
// vector width, and the panels a 6×16 tile streams (6 KiB of A, 16 KiB of
// B) fit L1 as the 12×32 ones (12 and 32 KiB) fit L1 and L2.

const (
	sgKC = 256
	sgMC = 144
	sgNC = 2048

	sgMaxTile = 12 * 32 // the largest MR·NR
)

// sgemmKernel is a micro-kernel and its tile.
type sgemmKernel struct {
	name   string
	mr, nr int
	// packed adds to the mr×nr tile at c (row stride ldc) the product of
	// a packed A panel (kc×mr, p-major) and a packed B panel (kc×nr).
	packed func(kc int, a, b, c *float32, ldc int)
	// rowA is packed reading A in place, row-major with stride lda; nil
	// if the kernel has no such variant.
	rowA func(kc int, a *float32, lda int, b, c *float32, ldc int)
}

type sgemmBufs struct{ a, b []float32 }

var sgemmPool = sync.Pool{New: func() any {
	return &sgemmBufs{a: make([]float32, sgMC*sgKC), b: make([]float32, sgKC*sgNC)}
}}

// sgemmBlocked computes C = alpha·op(A)·op(B) + beta·C (row-major) with the
// micro-kernel kern. m, n, k ≥ 1.
func sgemmBlocked(kern *sgemmKernel, tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
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
	MR, NR := kern.mr, kern.nr
	// With few columns, A is used by few micro-kernel calls after packing,
	// so read it in place when it is row-major (full row panels only).
	rowA := kern.rowA != nil && !tA && alpha == 1 && n <= 64
	bufs := sgemmPool.Get().(*sgemmBufs)
	defer sgemmPool.Put(bufs)
	var tmpBuf [sgMaxTile]float32
	tmp := tmpBuf[:MR*NR]
	for jc := 0; jc < n; jc += sgNC {
		nc := min(sgNC, n-jc)
		for pc := 0; pc < k; pc += sgKC {
			kc := min(sgKC, k-pc)
			packB(bufs.b, NR, b, ldb, tB, pc, kc, jc, nc)
			for ic := 0; ic < m; ic += sgMC {
				mc := min(sgMC, m-ic)
				if rowA {
					// Only a trailing partial row panel is packed, at 0.
					if full := mc / MR * MR; full < mc {
						packA(bufs.a, MR, a, lda, tA, ic+full, mc-full, pc, kc, alpha)
					}
				} else {
					packA(bufs.a, MR, a, lda, tA, ic, mc, pc, kc, alpha)
				}
				for jr := 0; jr < nc; jr += NR {
					nr := min(NR, nc-jr)
					bp := &bufs.b[jr*kc]
					for ir := 0; ir < mc; ir += MR {
						mr := min(MR, mc-ir)
						co := (ic+ir)*ldc + jc + jr
						if rowA && mr == MR {
							ar := &a[(ic+ir)*lda+pc]
							if nr == NR {
								kern.rowA(kc, ar, lda, bp, &c[co], ldc)
								continue
							}
							clear(tmp)
							kern.rowA(kc, ar, lda, bp, &tmp[0], NR)
						} else {
							ap := &bufs.a[ir*kc]
							if rowA {
								ap = &bufs.a[0]
							}
							if mr == MR && nr == NR {
								kern.packed(kc, ap, bp, &c[co], ldc)
								continue
							}
							clear(tmp)
							kern.packed(kc, ap, bp, &tmp[0], NR)
						}
						for i := 0; i < mr; i++ {
							axpyUnit(1, tmp[i*NR:i*NR+nr], c[co+i*ldc:co+i*ldc+nr])
						}
					}
				}
			}
		}
	}
}

// packA packs rows [ic,ic+mc) × cols [pc,pc+kc) of alpha·op(A) into MR-row
// panels, each stored p-major (MR values per p), zero-padded to MR rows.
func packA(dst []float32, MR int, a []float32, lda int, tA bool, ic, mc, pc, kc int, alpha float32) {
	for r0 := 0; r0 < mc; r0 += MR {
		panel := dst[r0*kc : r0*kc+MR*kc]
		rows := min(MR, mc-r0)
		if tA {
			// op(A)[i,p] = a[p*lda+i]: rows of the panel are contiguous in a.
			for p := 0; p < kc; p++ {
				src := a[(pc+p)*lda+ic+r0:][:rows]
				d := panel[p*MR : p*MR+MR]
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
				panel[p*MR+i] = alpha * v
			}
		}
		for i := rows; i < MR; i++ {
			for p := 0; p < kc; p++ {
				panel[p*MR+i] = 0
			}
		}
	}
}

// packB packs rows [pc,pc+kc) × cols [jc,jc+nc) of op(B) into NR-column
// panels, each stored p-major (NR values per p), zero-padded to NR columns.
func packB(dst []float32, NR int, b []float32, ldb int, tB bool, pc, kc, jc, nc int) {
	for c0 := 0; c0 < nc; c0 += NR {
		panel := dst[c0*kc : c0*kc+NR*kc]
		cols := min(NR, nc-c0)
		if !tB {
			for p := 0; p < kc; p++ {
				d := panel[p*NR : p*NR+NR]
				copy(d, b[(pc+p)*ldb+jc+c0:][:cols])
				clear(d[cols:])
			}
			continue
		}
		// op(B)[p,j] = b[j*ldb+p].
		for j := 0; j < cols; j++ {
			src := b[(jc+c0+j)*ldb+pc:][:kc]
			for p, v := range src {
				panel[p*NR+j] = v
			}
		}
		for j := cols; j < NR; j++ {
			for p := 0; p < kc; p++ {
				panel[p*NR+j] = 0
			}
		}
	}
}

// goKernel is a portable micro-kernel with an mr×nr tile and its in-place
// A variant (used in tests to check the driver independently of the
// assembly).
func goKernel(mr, nr int) *sgemmKernel {
	return &sgemmKernel{
		name: "go", mr: mr, nr: nr,
		packed: func(kc int, a, b, c *float32, ldc int) {
			ap := unsafeSlice(a, kc*mr)
			bp := unsafeSlice(b, kc*nr)
			cs := unsafeSlice(c, (mr-1)*ldc+nr)
			for i := 0; i < mr; i++ {
				row := cs[i*ldc : i*ldc+nr]
				for p := 0; p < kc; p++ {
					axpyUnit(ap[p*mr+i], bp[p*nr:p*nr+nr], row)
				}
			}
		},
		rowA: func(kc int, a *float32, lda int, b, c *float32, ldc int) {
			ap := unsafeSlice(a, (mr-1)*lda+kc)
			bp := unsafeSlice(b, kc*nr)
			cs := unsafeSlice(c, (mr-1)*ldc+nr)
			for i := 0; i < mr; i++ {
				row := cs[i*ldc : i*ldc+nr]
				for p := 0; p < kc; p++ {
					axpyUnit(ap[i*lda+p], bp[p*nr:p*nr+nr], row)
				}
			}
		},
	}
}
