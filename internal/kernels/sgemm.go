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

// sgemmKernel is a micro-kernel, its tile, and when it reads operands in
// place instead of from packed panels.
type sgemmKernel struct {
	name   string
	mr, nr int
	// kern adds to the mr×nr tile at c (row stride ldc), or stores in it
	// if acc = 0, the product Σ_p a[p·astep+i]·b[p·bstep+j], p < kc: a
	// packed A panel (astep = mr) or op(A) = Aᵀ in place (astep = lda),
	// and a packed B panel (bstep = nr) or B in place (bstep = ldb).
	kern func(kc int, a *float32, astep int, b *float32, bstep int, c *float32, ldc, acc int)
	// rowA is kern reading A row-major in place, a[i·lda+p]; nil if the
	// kernel has no such variant.
	rowA func(kc int, a *float32, lda int, b *float32, bstep int, c *float32, ldc, acc int)
	// strided reports that kern and rowA take any astep and bstep, and
	// acc = 0; otherwise (the AVX-512 kernels) only astep = mr, bstep =
	// nr, and acc = 1.
	strided bool
	// interleaveB packs full panels of a transposed B with the AVX2
	// transposition interleave8 (nr a multiple of 8).
	interleaveB bool
	// The in-place reads, each taken for GEMMs where the operand would be
	// reused by few micro-kernel calls after packing (and alpha = 1 for
	// A): row-major A when n ≤ rowAMaxN, A transposed when n ≤ tAMaxN, B
	// (not transposed) when m ≤ inBMaxM. Partial panels are always packed.
	rowAMaxN, tAMaxN, inBMaxM int
}

type sgemmBufs struct{ a, b []float32 }

var sgemmPool = sync.Pool{New: func() any {
	return &sgemmBufs{a: make([]float32, sgMC*sgKC), b: make([]float32, sgKC*sgNC)}
}}

// Where the micro-kernel reads A from.
const (
	aPacked = iota // packed panels
	aRows          // row-major A in place (rowA)
	aCols          // op(A) = Aᵀ in place
)

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
	// With beta = 0 the first k block stores its tiles instead of adding
	// them to a cleared C, where the kernel can.
	overwrite := beta == 0 && alpha != 0 && kern.strided
	if beta != 1 && !overwrite {
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
	// and with few rows B is: read them in place where the kernel can.
	aMode := aPacked
	switch {
	case alpha != 1:
	case !tA && kern.rowA != nil && n <= kern.rowAMaxN:
		aMode = aRows
	case tA && kern.strided && n <= kern.tAMaxN:
		aMode = aCols
	}
	inB := !tB && kern.strided && m <= kern.inBMaxM
	bufs := sgemmPool.Get().(*sgemmBufs)
	defer sgemmPool.Put(bufs)
	var tmpBuf [sgMaxTile]float32
	tmp := tmpBuf[:MR*NR]
	for jc := 0; jc < n; jc += sgNC {
		nc := min(sgNC, n-jc)
		for pc := 0; pc < k; pc += sgKC {
			kc := min(sgKC, k-pc)
			acc := 1
			if overwrite && pc == 0 {
				acc = 0
			}
			if !inB {
				kern.packB(bufs.b, b, ldb, tB, pc, kc, jc, nc)
			} else if full := nc / NR * NR; full < nc {
				// Only a trailing partial column panel is packed, at 0.
				kern.packB(bufs.b, b, ldb, tB, pc, kc, jc+full, nc-full)
			}
			for ic := 0; ic < m; ic += sgMC {
				mc := min(sgMC, m-ic)
				if aMode == aPacked {
					packA(bufs.a, MR, a, lda, tA, ic, mc, pc, kc, alpha)
				} else if full := mc / MR * MR; full < mc {
					// Only a trailing partial row panel is packed, at 0.
					packA(bufs.a, MR, a, lda, tA, ic+full, mc-full, pc, kc, alpha)
				}
				for jr := 0; jr < nc; jr += NR {
					nr := min(NR, nc-jr)
					bp, bstep := &bufs.b[jr*kc], NR
					if inB {
						bp = &bufs.b[0]
						if nr == NR {
							bp, bstep = &b[pc*ldb+jc+jr], ldb
						}
					}
					for ir := 0; ir < mc; ir += MR {
						mr := min(MR, mc-ir)
						co := (ic+ir)*ldc + jc + jr
						// A partial tile goes through tmp: stored
						// there if the kernel can, else added to
						// zeros; then added to or copied into C.
						dst, ldd, dacc := &c[co], ldc, acc
						partial := mr < MR || nr < NR
						if partial {
							dst, ldd, dacc = &tmp[0], NR, 0
							if !kern.strided {
								clear(tmp)
								dacc = 1
							}
						}
						switch {
						case aMode == aRows && mr == MR:
							kern.rowA(kc, &a[(ic+ir)*lda+pc], lda, bp, bstep, dst, ldd, dacc)
						case aMode == aCols && mr == MR:
							kern.kern(kc, &a[pc*lda+ic+ir], lda, bp, bstep, dst, ldd, dacc)
						case aMode != aPacked:
							kern.kern(kc, &bufs.a[0], MR, bp, bstep, dst, ldd, dacc)
						default:
							kern.kern(kc, &bufs.a[ir*kc], MR, bp, bstep, dst, ldd, dacc)
						}
						if partial {
							for i := 0; i < mr; i++ {
								if acc == 0 {
									copy(c[co+i*ldc:co+i*ldc+nr], tmp[i*NR:i*NR+nr])
								} else {
									axpyUnit(1, tmp[i*NR:i*NR+nr], c[co+i*ldc:co+i*ldc+nr])
								}
							}
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
func (kern *sgemmKernel) packB(dst []float32, b []float32, ldb int, tB bool, pc, kc, jc, nc int) {
	NR := kern.nr
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
		if kern.interleaveB && cols == NR {
			n8 := kc &^ 7
			if n8 > 0 {
				for g := 0; g < NR; g += 8 {
					interleave8(&panel[g], NR, &b[(jc+c0+g)*ldb+pc], ldb, n8)
				}
			}
			for j := 0; j < NR; j++ {
				src := b[(jc+c0+j)*ldb+pc:][:kc]
				for p := n8; p < kc; p++ {
					panel[p*NR+j] = src[p]
				}
			}
			continue
		}
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

// goKernel is a portable micro-kernel with an mr×nr tile, its in-place A
// variant, and the given in-place policy (used in tests to check the driver
// independently of the assembly).
func goKernel(mr, nr, rowAMaxN, tAMaxN, inBMaxM int) *sgemmKernel {
	return &sgemmKernel{
		name: "go", mr: mr, nr: nr, strided: true,
		rowAMaxN: rowAMaxN, tAMaxN: tAMaxN, inBMaxM: inBMaxM,
		kern: func(kc int, a *float32, astep int, b *float32, bstep int, c *float32, ldc, acc int) {
			goTile(mr, nr, kc, a, 1, astep, b, bstep, c, ldc, acc)
		},
		rowA: func(kc int, a *float32, lda int, b *float32, bstep int, c *float32, ldc, acc int) {
			goTile(mr, nr, kc, a, lda, 1, b, bstep, c, ldc, acc)
		},
	}
}

// goTile is goKernel's arithmetic, with A's element (i, p) at a[i·ai+p·ap].
func goTile(mr, nr, kc int, a *float32, ai, ap int, b *float32, bstep int, c *float32, ldc, acc int) {
	as := unsafeSlice(a, (mr-1)*ai+(kc-1)*ap+1)
	bs := unsafeSlice(b, (kc-1)*bstep+nr)
	cs := unsafeSlice(c, (mr-1)*ldc+nr)
	for i := 0; i < mr; i++ {
		row := cs[i*ldc : i*ldc+nr]
		if acc == 0 {
			clear(row)
		}
		for p := 0; p < kc; p++ {
			axpyUnit(as[i*ai+p*ap], bs[p*bstep:p*bstep+nr], row)
		}
	}
}
