package finetune

import "math"

// Loss is the training objective at the logits: cross-entropy on the
// labels with label smoothing, mixed with knowledge distillation from a
// teacher's logits:
//
//	loss = (1 − w)·CE(z, y; ε) + w·T²·KL(softmax(t/T) ‖ softmax(z/T))
//
// averaged over the batch, which is PyTorch's
// CrossEntropyLoss(label_smoothing=ε) and kl_div(log_softmax(z/T),
// softmax(t/T), reduction="batchmean")·T² (Hinton et al. 2015). With no
// teacher (or w = 0) it is the cross-entropy alone.
//
// It computes in float64 and allocates nothing per call.
type Loss struct {
	Classes        int
	LabelSmoothing float64 // ε
	DistillWeight  float64 // w
	Temperature    float64 // T
	ls, lt         []float64
}

// LossValue is the loss of one batch and its two parts.
type LossValue struct {
	Total, CE, KD float64
}

func (l *Loss) scratch() {
	if len(l.ls) != l.Classes {
		l.ls, l.lt = make([]float64, l.Classes), make([]float64, l.Classes)
	}
}

// logSoftmax writes log-softmax(z/temp) into out.
func logSoftmax[T Float](z []T, temp float64, out []float64) {
	m := math.Inf(-1)
	for i, v := range z {
		out[i] = float64(v) / temp
		m = math.Max(m, out[i])
	}
	s := 0.0
	for _, v := range out {
		s += math.Exp(v - m)
	}
	lse := m + math.Log(s)
	for i := range out {
		out[i] -= lse
	}
}

// LossGrad returns the loss l of the first n rows of logits (n×K, labels
// in [0,K)) and, when dlogits is not nil, sets dlogits to the gradient of
// the total. teacher (n×K logits) may be nil. Rows past n get a zero
// gradient.
func LossGrad[T Float](l *Loss, n int, logits []T, labels []int32, teacher []T, dlogits []T) LossValue {
	K := l.Classes
	l.scratch()
	eps, w := l.LabelSmoothing, l.DistillWeight
	if teacher == nil {
		w = 0
	}
	temp := l.Temperature
	if temp <= 0 {
		temp = 1
	}
	var ce, kd float64
	inv := 1 / float64(n)
	for r := 0; r < n; r++ {
		z := logits[r*K : (r+1)*K]
		logSoftmax(z, 1, l.ls)
		y := int(labels[r])
		sum := 0.0
		for _, v := range l.ls {
			sum += v
		}
		ce += -(1-eps)*l.ls[y] - eps/float64(K)*sum
		var d []T
		if dlogits != nil {
			d = dlogits[r*K : (r+1)*K]
			for k, v := range l.ls {
				q := eps / float64(K)
				if k == y {
					q += 1 - eps
				}
				d[k] = T((1 - w) * (math.Exp(v) - q) * inv)
			}
		}
		if w == 0 {
			continue
		}
		logSoftmax(z, temp, l.ls)
		logSoftmax(teacher[r*K:(r+1)*K], temp, l.lt)
		kl := 0.0
		for k := range l.lt {
			pt := math.Exp(l.lt[k])
			if pt > 0 {
				kl += pt * (l.lt[k] - l.ls[k])
			}
			if d != nil {
				d[k] += T(w * temp * (math.Exp(l.ls[k]) - pt) * inv)
			}
		}
		kd += kl
	}
	if dlogits != nil {
		clear(dlogits[n*K:])
	}
	ce *= inv
	kd *= temp * temp * inv
	return LossValue{Total: (1-w)*ce + w*kd, CE: ce, KD: kd}
}
