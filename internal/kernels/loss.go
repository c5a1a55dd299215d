package kernels

import "math"

// Losses over logits of shape N×K (rows are samples). Losses are averaged
// over the batch (PyTorch reduction "mean", resp. "batchmean" for KL) and
// computed in float64 whatever T is.

// logSumExp returns log Σ exp(z) in float64, shifted by the maximum.
func logSumExp[T Float](z []T) float64 {
	m := math.Inf(-1)
	for _, v := range z {
		m = math.Max(m, float64(v))
	}
	s := 0.0
	for _, v := range z {
		s += math.Exp(float64(v) - m)
	}
	return m + math.Log(s)
}

// logSoftmaxRow writes log-softmax of z into out (float64) and returns it.
func logSoftmaxRow[T Float](z []T, out []float64) []float64 {
	lse := logSumExp(z)
	for i, v := range z {
		out[i] = float64(v) - lse
	}
	return out
}

// CrossEntropyRow returns −log softmax(z)[y], one sample's cross-entropy at
// its label (SoftmaxCrossEntropy of one row without smoothing), with no
// allocation: NaN when z holds a NaN.
func CrossEntropyRow[T Float](z []T, y int) float64 {
	return logSumExp(z) - float64(z[y])
}

// Softmax sets y (N×K) to the row-wise softmax of x. y may alias x.
func Softmax[T Float](N, K int, x, y []T) {
	checkLen("softmax x", x, N*K)
	checkLen("softmax y", y, N*K)
	planes(N, 4*K, func(n int) {
		row, out := x[n*K:(n+1)*K], y[n*K:(n+1)*K]
		m := row[0]
		for _, v := range row {
			m = max(m, v)
		}
		var s T
		for i, v := range row {
			e := exp(v - m)
			out[i] = e
			s += e
		}
		inv := 1 / s
		for i := range out {
			out[i] *= inv
		}
	})
}

// SoftmaxCrossEntropy returns the mean over the batch of the cross-entropy
// between softmax(logits) and the label distribution with label smoothing
// eps: q = (1−eps)·onehot(label) + eps/K, as PyTorch's CrossEntropyLoss
// (label_smoothing=eps). If dlogits is not nil it is set to the gradient
// of the returned loss: (softmax − q)/N. Labels must be in [0,K).
func SoftmaxCrossEntropy[T Float](N, K int, logits []T, labels []int32, eps float64, dlogits []T) float64 {
	checkLen("xent logits", logits, N*K)
	if len(labels) < N {
		panic("kernels: xent: labels too short")
	}
	if dlogits != nil {
		checkLen("xent dlogits", dlogits, N*K)
	}
	losses := make([]float64, N)
	planes(N, 30*K, func(n int) {
		lp := logSoftmaxRow(logits[n*K:(n+1)*K], make([]float64, K))
		y := int(labels[n])
		if y < 0 || y >= K {
			panic("kernels: xent: label out of range")
		}
		sumLP := 0.0
		for _, v := range lp {
			sumLP += v
		}
		losses[n] = -(1-eps)*lp[y] - eps/float64(K)*sumLP
		if dlogits != nil {
			d := dlogits[n*K : (n+1)*K]
			for k, v := range lp {
				q := eps / float64(K)
				if k == y {
					q += 1 - eps
				}
				d[k] = T((math.Exp(v) - q) / float64(N))
			}
		}
	})
	total := 0.0
	for _, l := range losses {
		total += l
	}
	return total / float64(N)
}

// DistillationKL returns the knowledge-distillation loss
// T²·(1/N)·Σ_n KL(softmax(teacher_n/T) ‖ softmax(student_n/T)), i.e.
// PyTorch's kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean")·T².
// If dstudent is not nil it is set to the gradient w.r.t. the student
// logits: T·(softmax(s/T) − softmax(t/T))/N. The teacher gets no gradient.
func DistillationKL[T Float](N, K int, student, teacher []T, temperature float64, dstudent []T) float64 {
	checkLen("kd student", student, N*K)
	checkLen("kd teacher", teacher, N*K)
	if dstudent != nil {
		checkLen("kd dstudent", dstudent, N*K)
	}
	tt := temperature
	losses := make([]float64, N)
	planes(N, 60*K, func(n int) {
		ss := make([]float64, K)
		ts := make([]float64, K)
		for k := 0; k < K; k++ {
			ss[k] = float64(student[n*K+k]) / tt
			ts[k] = float64(teacher[n*K+k]) / tt
		}
		ls := logSoftmaxRow(ss, ss)
		lt := logSoftmaxRow(ts, ts)
		kl := 0.0
		for k := 0; k < K; k++ {
			pt := math.Exp(lt[k])
			if pt > 0 {
				kl += pt * (lt[k] - ls[k])
			}
			if dstudent != nil {
				dstudent[n*K+k] = T(tt * (math.Exp(ls[k]) - pt) / float64(N))
			}
		}
		losses[n] = kl
	})
	total := 0.0
	for _, l := range losses {
		total += l
	}
	return tt * tt * total / float64(N)
}

// TopKCorrect counts the rows of logits (N×K) whose label is among the k
// largest values, ranked as argmax and top-k rank them in numpy and
// PyTorch: ties go to the lower index, and NaN ranks above every number.
// So a model whose outputs are all equal (a dead network) or NaN is right
// only where the label happens to come first, not everywhere.
func TopKCorrect[T Float](N, K int, logits []T, labels []int32, k int) int {
	checkLen("topk logits", logits, N*K)
	correct := 0
	for n := 0; n < N; n++ {
		row := logits[n*K : (n+1)*K]
		l := int(labels[n])
		v := row[l]
		above := 0
		for j, u := range row {
			uNaN, vNaN := u != u, v != v
			switch {
			case j == l:
			case uNaN && !vNaN, !uNaN && !vNaN && u > v:
				above++
			case (uNaN && vNaN || u == v) && j < l:
				above++
			}
		}
		if above < k {
			correct++
		}
	}
	return correct
}
