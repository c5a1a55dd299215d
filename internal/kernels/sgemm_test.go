package kernels

import (
	"fmt"
	"math"
	"testing"
)

// sgemmTestKernels lists every micro-kernel this CPU runs (the portable
// ones of both tile shapes, and the assembly of each level up to cpuISA),
// each with its own in-place policy, with none (all operands packed), and
// with every in-place read it supports taken whatever the shape.
func sgemmTestKernels() map[string]*sgemmKernel {
	ks := map[string]*sgemmKernel{}
	add := func(name string, k *sgemmKernel) {
		ks[name] = k
		packed := *k
		packed.rowA = nil
		packed.rowAMaxN, packed.tAMaxN, packed.inBMaxM = 0, 0, 0
		ks[name+"/packed"] = &packed
		inPlace := *k
		inPlace.rowAMaxN = math.MaxInt
		if k.strided {
			inPlace.tAMaxN, inPlace.inBMaxM = math.MaxInt, math.MaxInt
		}
		ks[name+"/inplace"] = &inPlace
	}
	add("go12x32", goKernel(12, 32, 64, 0, 0))
	add("go6x16", goKernel(6, 16, 64, 64, 32))
	for _, l := range isaLevels() {
		if k := sgemmKernelFor(l); k != nil {
			add(k.name, k)
		}
	}
	return ks
}

// Every kernel through the blocked driver against a float64 reference:
// shapes on both sides of each tile and blocking edge (MR 6/12, NR 16/32,
// KC 256, MC 144, NC 2048, k = 1), every transpose, strided operands,
// and alpha/beta cases (beta = 0 must not read C, which holds NaNs then;
// alpha = 0 only scales C; alpha = 1 allows reading A in place).
func TestSgemmBlocked(t *testing.T) {
	shapes := [][3]int{
		{1, 1, 1}, {12, 32, 5}, {13, 33, 7}, {6, 16, 1}, {7, 17, 2}, {5, 15, 3},
		{5, 3, 300}, {150, 70, 260}, {25, 2100, 9}, {40, 40, 513}, {157, 64, 300},
		{30, 20, 40}, {18, 48, 256}, {144, 16, 257}, {145, 65, 255}, {11, 2049, 1}, {24, 64, 16},
	}
	type ab struct{ alpha, beta float32 }
	scalars := []ab{{0.75, -0.5}, {1, 0}, {1, 1}, {0, 2}}
	for name, kern := range sgemmTestKernels() {
		for si, sh := range shapes {
			for ti, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				// Every shape in every transpose; the scalars rotate, so
				// that each transpose meets each case over the shapes.
				tA, tB := tr[0], tr[1]
				sc := scalars[(si+ti)%len(scalars)]
				m, n, k := sh[0], sh[1], sh[2]
				t.Run(fmt.Sprintf("%s/%v/tA=%v/tB=%v/α=%v/β=%v", name, sh, tA, tB, sc.alpha, sc.beta), func(t *testing.T) {
					checkSgemm(t, kern, tA, tB, m, n, k, sc.alpha, sc.beta, uint64(1400+si))
				})
			}
		}
	}
}

func checkSgemm(t *testing.T, kern *sgemmKernel, tA, tB bool, m, n, k int, alpha, beta float32, seed uint64) {
	t.Helper()
	rng := newRNG(seed)
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
	if beta == 0 {
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				c[i*ldc+j] = float32(math.NaN())
			}
		}
	}
	c0 := to64(c)
	sgemmBlocked(kern, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
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
				want = float64(alpha) * acc
				if beta != 0 {
					want += float64(beta) * c0[i*ldc+j]
				}
			}
			// Columns past n (the ldc gap) must be untouched.
			tol := 1e-5 * (1 + math.Sqrt(float64(k)))
			if j >= n {
				tol = 0
			}
			if got := float64(c[i*ldc+j]); !(math.Abs(got-want) <= tol) {
				t.Fatalf("c[%d,%d] = %v, want %v", i, j, got, want)
			}
		}
	}
}

// The float32 GEMM dispatches to the micro-kernel of asmISA, and every
// level this CPU runs gives the reference result through gemm itself.
func TestGemm32Levels(t *testing.T) {
	for _, l := range isaLevels() {
		t.Run(l.String(), func(t *testing.T) {
			withISA(t, l)
			checkGemm32(t, 70, 90, 33)
		})
	}
	if k := sgemmKernelFor(cpuISA); k != nil && GEMMBackend != k.name {
		t.Errorf("GEMMBackend = %q, want %q (cpuISA %v)", GEMMBackend, k.name, cpuISA)
	}
}

func checkGemm32(t *testing.T, m, n, k int) {
	t.Helper()
	rng := newRNG(77)
	a, b := to32(randSlice(rng, m*k)), to32(randSlice(rng, k*n))
	c := make([]float32, m*n)
	gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			acc := 0.0
			for p := 0; p < k; p++ {
				acc += float64(a[i*k+p]) * float64(b[p*n+j])
			}
			if e := math.Abs(float64(c[i*n+j]) - acc); !(e <= 1e-4) {
				t.Fatalf("c[%d,%d] = %v, want %v", i, j, c[i*n+j], acc)
			}
		}
	}
}
