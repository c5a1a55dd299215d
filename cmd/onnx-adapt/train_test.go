package main

import (
	"errors"
	"reflect"
	"testing"

	"github.com/spf13/pflag"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
)

// TestTrainFlagsShared: adapt and finetune register every training flag
// with the same type and default, and those defaults are
// finetune.DefaultConfig's.
func TestTrainFlagsShared(t *testing.T) {
	own := pflag.NewFlagSet("train", pflag.ContinueOnError)
	var tf trainFlags
	tf.register(own)
	adapt := newFlagSet(&adaptCmd{}, &env{})
	ft := newFlagSet(&finetuneCmd{}, &env{})
	n := 0
	own.VisitAll(func(f *pflag.Flag) {
		n++
		for _, fs := range []*pflag.FlagSet{adapt, ft} {
			g := fs.Lookup(f.Name)
			if g == nil || g.DefValue != f.DefValue || g.Value.Type() != f.Value.Type() {
				t.Errorf("%s --%s: %+v, want the shared flag (default %q, %s)", fs.Name(), f.Name, g, f.DefValue, f.Value.Type())
			}
		}
	})
	if n < 10 {
		t.Fatalf("only %d shared flags", n)
	}
	cfg, err := tf.config()
	if err != nil {
		t.Fatal(err)
	}
	want := finetune.DefaultConfig()
	want.Seed = 1
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults give %+v, want finetune.DefaultConfig %+v", cfg, want)
	}
}

// TestTrainFlagsConfig: every flag reaches its Config field, and bad
// values are usage errors.
func TestTrainFlagsConfig(t *testing.T) {
	parse := func(args ...string) (finetune.Config, error) {
		fs := pflag.NewFlagSet("train", pflag.ContinueOnError)
		var tf trainFlags
		tf.register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return tf.config()
	}
	cfg, err := parse("--batch", "32", "--momentum", "0.5", "--nesterov", "--wd", "0", "--label-smoothing", "0.1",
		"--freeze-bn", "--distill-weight", "0.7", "--temperature", "4", "--augment", "pad=4:flip", "--seed", "9")
	if err != nil {
		t.Fatal(err)
	}
	aug, _ := dataset.ParseAugment("pad=4:flip")
	want := finetune.DefaultConfig()
	want.Batch, want.Momentum, want.Nesterov, want.WeightDecay, want.LabelSmoothing = 32, 0.5, true, 0, 0.1
	want.FreezeBN, want.DistillWeight, want.Temperature, want.Augment, want.Seed = true, 0.7, 4, aug, 9
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("config %+v, want %+v", cfg, want)
	}
	for _, args := range [][]string{{"--batch", "0"}, {"--augment", "spin"}} {
		var ue *usageError
		if _, err := parse(args...); !errors.As(err, &ue) {
			t.Errorf("%v: error %v, want a usage error", args, err)
		}
	}
}
