package finetune

import (
	"fmt"
	"math"
	"strings"

	"github.com/onnx-adapt/onnx-adapt/internal/kernels"
)

// ScheduleKind is a learning-rate schedule.
type ScheduleKind int

// The learning-rate schedules.
const (
	Constant ScheduleKind = iota // the base rate throughout
	Cosine                       // cosine decay from the base rate to MinLR
	Step                         // multiplied by Gamma every StepEpochs epochs
)

var scheduleNames = []string{"constant", "cosine", "step"}

func (k ScheduleKind) String() string {
	if k >= 0 && int(k) < len(scheduleNames) {
		return scheduleNames[k]
	}
	return fmt.Sprintf("ScheduleKind(%d)", int(k))
}

// Set parses a schedule name (pflag.Value).
func (k *ScheduleKind) Set(s string) error {
	for i, n := range scheduleNames {
		if strings.EqualFold(s, n) {
			*k = ScheduleKind(i)
			return nil
		}
	}
	return fmt.Errorf("want %s", strings.Join(scheduleNames, ", "))
}

// Type names the flag's values (pflag.Value).
func (k *ScheduleKind) Type() string { return strings.Join(scheduleNames, "|") }

// Schedule is a learning-rate schedule over a run, with an optional linear
// warm-up.
type Schedule struct {
	Kind ScheduleKind
	// WarmupEpochs ramps the rate linearly from LR/steps to LR over this
	// many epochs first.
	WarmupEpochs float64
	// StepEpochs and Gamma: Step multiplies the rate by Gamma (0 means 0.1)
	// every StepEpochs epochs (0 means a third of the run).
	StepEpochs float64
	Gamma      float64
	// MinLR is where Cosine ends.
	MinLR float64
}

// schedule is a Schedule resolved to optimiser steps.
type schedule struct {
	Schedule
	base                   float64
	total, warmup, stepLen int
}

func (s Schedule) resolve(base float64, total, perEpoch int) schedule {
	r := schedule{Schedule: s, base: base, total: total}
	r.warmup = min(total, int(math.Round(s.WarmupEpochs*float64(perEpoch))))
	r.stepLen = int(math.Round(s.StepEpochs * float64(perEpoch)))
	if r.stepLen <= 0 {
		r.stepLen = max(1, total/3)
	}
	if r.Gamma == 0 {
		r.Gamma = 0.1
	}
	return r
}

// lr returns the rate of optimiser step t (0-based).
func (s schedule) lr(t int) float64 {
	if t < s.warmup {
		return s.base * float64(t+1) / float64(s.warmup)
	}
	switch s.Kind {
	case Cosine:
		span := s.total - s.warmup
		if span <= 1 {
			return s.base
		}
		p := float64(t-s.warmup) / float64(span)
		return s.MinLR + (s.base-s.MinLR)*(1+math.Cos(math.Pi*p))/2
	case Step:
		return s.base * math.Pow(s.Gamma, float64(t/s.stepLen))
	}
	return s.base
}

// SGD is stochastic gradient descent with momentum over an engine's
// parameters, with torch.optim.SGD's semantics (see kernels.SGDParams).
// Weight decay applies to weights only, never to biases or
// BatchNormalization parameters.
type SGD[T Float] struct {
	Momentum, WeightDecay float64
	Nesterov              bool
	params                []*Param[T]
	bufs                  [][]T
	first                 bool
}

// NewSGD returns an optimiser for params. Its momentum buffers are
// allocated once.
func NewSGD[T Float](params []*Param[T], momentum, weightDecay float64, nesterov bool) (*SGD[T], error) {
	if momentum < 0 || momentum >= 1 || weightDecay < 0 || math.IsNaN(momentum+weightDecay) {
		return nil, fmt.Errorf("finetune: momentum %v must be in [0,1) and weight decay %v ≥ 0", momentum, weightDecay)
	}
	if nesterov && momentum == 0 {
		return nil, fmt.Errorf("finetune: Nesterov momentum needs a momentum > 0")
	}
	o := &SGD[T]{Momentum: momentum, WeightDecay: weightDecay, Nesterov: nesterov, params: params, first: true}
	if momentum > 0 {
		for _, p := range params {
			o.bufs = append(o.bufs, make([]T, len(p.Data)))
		}
	}
	return o, nil
}

// Step updates every parameter from its gradient at learning rate lr.
func (o *SGD[T]) Step(lr float64) {
	for i, p := range o.params {
		h := kernels.SGDParams{LR: lr, Momentum: o.Momentum, Nesterov: o.Nesterov}
		if p.Decay() {
			h.WeightDecay = o.WeightDecay
		}
		var buf []T
		if o.bufs != nil {
			buf = o.bufs[i]
		}
		kernels.SGDStep(h, p.Data, p.Grad, buf, o.first)
	}
	o.first = false
}
