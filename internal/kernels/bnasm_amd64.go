//go:build amd64 && !purego

package kernels

//go:generate sh -c "python3 gen_bn_amd64.py > bn_amd64.s"

//go:noescape
func bnStatsAsm(x, acc *float32, n int, k float32)

//go:noescape
func bnAffineClampAsm(x, y *float32, n int, mul, add, lo, hi float32)

//go:noescape
func bnMaskGradAsm(y, dy, x, gr, acc *float32, n int, lo, hi, mean float32)

//go:noescape
func bnFinishAsm(x, gr, dx *float32, n int, a, c1, c0 float32)

// haveBNAsm reports whether the AVX-512 row kernels can run here.
func haveBNAsm() bool { return asmISA == isaAVX512 }

func sum16(v []float32) float32 {
	var s float32
	for _, x := range v[:16] {
		s += x
	}
	return s
}

// bnStats32 returns Σ(x−k) and Σ(x−k)².
func bnStats32(x []float32, k float32) (float32, float32) {
	n := len(x) &^ 15
	var acc [32]float32
	if n > 0 {
		bnStatsAsm(&x[0], &acc[0], n, k)
	}
	s1, s2 := sum16(acc[:16]), sum16(acc[16:])
	for _, v := range x[n:] {
		d := v - k
		s1 += d
		s2 += d * d
	}
	return s1, s2
}

// bnAffineClamp32 sets y = min(max(x·mul+add, lo), hi).
func bnAffineClamp32(x, y []float32, mul, add, lo, hi float32) {
	y = y[:len(x)]
	n := len(x) &^ 15
	if n > 0 {
		bnAffineClampAsm(&x[0], &y[0], n, mul, add, lo, hi)
	}
	for i := n; i < len(x); i++ {
		y[i] = min(max(x[i]*mul+add, lo), hi)
	}
}

// bnMaskGrad32 is maskGrad for float32.
func bnMaskGrad32(y, dy, x, g []float32, lo, hi, mean float32) (float32, float32) {
	dy, x, g = dy[:len(y)], x[:len(y)], g[:len(y)]
	n := len(y) &^ 15
	var acc [32]float32
	if n > 0 {
		bnMaskGradAsm(&y[0], &dy[0], &x[0], &g[0], &acc[0], n, lo, hi, mean)
	}
	s0, s1 := sum16(acc[:16]), sum16(acc[16:])
	for i := n; i < len(y); i++ {
		d := dy[i]
		if y[i] <= lo || y[i] >= hi {
			d = 0
		}
		g[i] = d
		s0 += d
		s1 += d * (x[i] - mean)
	}
	return s0, s1
}

// bnFinish32 sets dx = a·g + c1·x + c0.
func bnFinish32(x, g, dx []float32, a, c1, c0 float32) {
	g, dx = g[:len(x)], dx[:len(x)]
	n := len(x) &^ 15
	if n > 0 {
		bnFinishAsm(&x[0], &g[0], &dx[0], n, a, c1, c0)
	}
	for i := n; i < len(x); i++ {
		dx[i] = a*g[i] + c1*x[i] + c0
	}
}
