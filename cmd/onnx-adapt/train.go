package main

import (
	"github.com/spf13/pflag"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
)

// trainFlags are the training flags that adapt and finetune share, with
// one set of defaults: finetune.DefaultConfig's. Each command adds its own
// length, learning-rate and schedule flags (adapt has two fine-tunes,
// short- and long-term; finetune one), and may reword a flag's help for
// what it means there (fs.Lookup(name).Usage), never its default.
type trainFlags struct {
	batch    int
	momentum float64
	nesterov bool
	wd       float64
	smooth   float64
	freezeBN bool
	distill  bool
	kdWeight float64
	kdTemp   float64
	augment  string
	seed     uint64
}

func (t *trainFlags) register(fs *pflag.FlagSet) {
	d := finetune.DefaultConfig()
	fs.IntVar(&t.batch, "batch", d.Batch, "fine-tuning batch size")
	fs.Float64Var(&t.momentum, "momentum", d.Momentum, "SGD momentum")
	fs.BoolVar(&t.nesterov, "nesterov", d.Nesterov, "Nesterov momentum")
	fs.Float64Var(&t.wd, "wd", d.WeightDecay, "weight decay (not on biases or BatchNormalization parameters)")
	fs.Float64Var(&t.smooth, "label-smoothing", d.LabelSmoothing, "label smoothing ε")
	fs.BoolVar(&t.freezeBN, "freeze-bn", d.FreezeBN, "keep BatchNormalization statistics fixed")
	fs.BoolVar(&t.distill, "distill", false, "distill from the source model (run in onnxruntime)")
	fs.Float64Var(&t.kdWeight, "distill-weight", d.DistillWeight, "weight of the distillation loss against the label loss")
	fs.Float64Var(&t.kdTemp, "temperature", d.Temperature, "distillation temperature")
	fs.StringVar(&t.augment, "augment", "none", "train-time augmentation: none, or items joined by ':' among rrc, rrc=MIN,MAX, ratio=MIN,MAX, pad=N, flip (e.g. pad=4:flip)")
	fs.Uint64Var(&t.seed, "seed", 1, "seed of the data order, augmentation and dropout")
}

// config returns finetune.DefaultConfig with the flags applied; the
// command sets the length, learning rate, schedule, teacher, data and
// workers.
func (t *trainFlags) config() (finetune.Config, error) {
	if t.batch < 1 {
		return finetune.Config{}, usagef("--batch %d: must be at least 1", t.batch)
	}
	aug, err := dataset.ParseAugment(t.augment)
	if err != nil {
		return finetune.Config{}, usagef("--augment: %v", err)
	}
	c := finetune.DefaultConfig()
	c.Batch, c.Momentum, c.Nesterov, c.WeightDecay = t.batch, t.momentum, t.nesterov, t.wd
	c.LabelSmoothing, c.FreezeBN = t.smooth, t.freezeBN
	c.DistillWeight, c.Temperature = t.kdWeight, t.kdTemp
	c.Augment, c.Seed = aug, t.seed
	return c, nil
}
