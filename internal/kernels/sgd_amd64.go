//go:build amd64 && !purego

package kernels

//go:generate sh -c "python3 gen_sgd_amd64.py > sgd_amd64.s"

//go:noescape
func sgdMomentumAVX(p, grad, buf *float32, n int, lr, wd, mom, damp float32, flags int)
