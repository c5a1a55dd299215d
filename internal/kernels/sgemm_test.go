package kernels

import (
	"fmt"
	"math"
	"testing"
)

func TestSgemmBlocked(t *testing.T) {
	type kernPair struct {
		packed func(int, *float32, *float32, *float32, int)
		rowA   func(int, *float32, int, *float32, *float32, int)
	}
	kerns := map[string]kernPair{"go": {sgemmKernelGo, nil}, "go+rowA": {sgemmKernelGo, sgemmKernelGoRA}}
	if haveSgemmAsm {
		kerns["asm"] = kernPair{sgemmKernelAsm, nil}
		kerns["asm+rowA"] = kernPair{sgemmKernelAsm, sgemmKernelAsmRA}
	}
	shapes := [][3]int{{1, 1, 1}, {12, 32, 5}, {13, 33, 7}, {5, 3, 300}, {150, 70, 260}, {25, 2100, 9}, {40, 40, 513}, {157, 64, 300}, {30, 20, 40}}
	for name, kern := range kerns {
		for si, sh := range shapes {
			for _, tA := range []bool{false, true} {
				for _, tB := range []bool{false, true} {
					m, n, k := sh[0], sh[1], sh[2]
					t.Run(fmt.Sprintf("%s/%v/tA=%v/tB=%v", name, sh, tA, tB), func(t *testing.T) {
						rng := newRNG(uint64(1400 + si))
						lda, ldb, ldc := k+1, n+2, n+3
						if tA {
							lda = m + 1
						}
						if tB {
							ldb = k + 2
						}
						ra, rb := m, k
						if tA {
							ra = k
						}
						if tB {
							rb = n
						}
						a, b := to32(randSlice(rng, ra*lda)), to32(randSlice(rng, rb*ldb))
						c := to32(randSlice(rng, m*ldc))
						c0 := to64(c)
						alpha, beta := float32(0.75), float32(-0.5)
						if kern.rowA != nil {
							alpha = 1 // the in-place A path needs alpha == 1
						}
						sgemmBlocked(kern.packed, kern.rowA, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
						for i := 0; i < m; i++ {
							for j := 0; j < ldc; j++ {
								want := c0[i*ldc+j]
								if j < n {
									acc := 0.0
									for p := 0; p < k; p++ {
										var av, bv float32
										if tA {
											av = a[p*lda+i]
										} else {
											av = a[i*lda+p]
										}
										if tB {
											bv = b[j*ldb+p]
										} else {
											bv = b[p*ldb+j]
										}
										acc += float64(av) * float64(bv)
									}
									want = float64(alpha)*acc + float64(beta)*want
								}
								// Columns past n (the ldc gap) must be untouched.
								tol := 1e-5 * (1 + math.Sqrt(float64(k)))
								if j >= n {
									tol = 0
								}
								if e := math.Abs(float64(c[i*ldc+j]) - want); e > tol {
									t.Fatalf("c[%d,%d] = %v, want %v", i, j, c[i*ldc+j], want)
								}
							}
						}
					})
				}
			}
		}
	}
}
