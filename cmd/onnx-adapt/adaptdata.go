package main

import (
	"errors"
	"fmt"
	"image"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/cost"
	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/search"
	"github.com/onnx-adapt/onnx-adapt/synth"
)

// adaptDataFlags are adapt's flags about what it learns from, beside
// dataFlags.
type adaptDataFlags struct {
	unlabelled  bool
	test        float64
	images      int
	synthetic   int
	classWeight float64
	refit       bool
	anchor      bool
	anchorEvery int
}

func (f *adaptDataFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.unlabelled, "unlabelled", false, "do not use the data's labels: learn the source model's outputs (distillation) and compare candidates on agreement with the source (a folder of images without class subfolders is always unlabelled)")
	fs.Float64Var(&f.test, "test", 0, "carve a test part (count, or fraction below 1) from data that has no test split; neither selection nor training sees it (the split is in history.json)")
	fs.IntVar(&f.images, "images", 0, "use only this many training images, a seeded sample (0: all)")
	fs.IntVar(&f.synthetic, "synthetic", 0, "with no --data: the number of images to synthesise from the model's BatchNormalization statistics (0: follows the model's cost, see search.SyntheticBudget)")
	fs.Float64Var(&f.classWeight, "synthetic-class-weight", synth.DefaultClassWeight, "with no --data: weight of the class term in the synthesis (each image is made to be classified as a random target class, as DeepInversion does; 0: batch statistics alone, as ZeroQ does)")
	fs.BoolVar(&f.refit, "refit", false, "refit, by least squares, the layers that read the channels each candidate removes (cost-following, and with --rank recon: on)")
	fs.IntVar(&f.anchorEvery, "anchor-every", 0, "with --anchor, also anchor every N-th iteration's model before it is written (0: only the last)")
	fs.BoolVar(&f.anchor, "anchor", false, "before the long-term fine-tune, refit every layer front to back towards the source's outputs at that layer, and keep it when it lowers the held-out loss without losing more held-out top-1 than a candidate may")
}

// adaptData is the data of an adapt run: the training (and calibration),
// held-out and test parts, and how they are scored.
type adaptData struct {
	train, held, test dataset.Dataset
	pre               dataset.Preprocess
	labelled          bool
	// macs is the model's cost per image; follow says whether the
	// defaults of flags not given follow it and the data (followsCost).
	macs   int64
	follow bool
	info   search.DataInfo
}

// embeddedFineTuning are the quickstart's fine-tuning lengths: the
// embedded model on its labelled data, sized for a demonstration that runs
// in minutes. Without labels its defaults follow its cost and the data
// instead (followsCost), as for any model.
//
// The long-term fine-tune is one epoch, where it was three quarters: the
// last iteration's models of two quickstarts, fine-tuned as the search
// does (distillation from the source, cosine from 0.01), came to 89.48%
// and 89.65% test top-1 after 0.75 epoch, 89.83% and 89.99% after one,
// 89.96% and 89.92% after 1.5; one epoch with labels alone, 89.54%. The
// quarter costs about 20 s (BENCHMARKS.md).
var embeddedFineTuning = [][2]string{{"short-steps", "20"}, {"held-out", "2000"}, {"long-epochs", "1"}}

// followsCost reports whether the defaults of adapt's fine-tuning flags
// (and --held-out, --refit) follow the model's cost and the data, for a
// model of macs multiply-accumulates per image: without labels, where the
// fixed defaults would fine-tune towards labels there are not, and above
// search.CostlyMACs, where they would take minutes per candidate. Labelled
// data on a smaller model, such as the quickstart's Fashion-MNIST, keeps
// the fixed defaults: 100 short-term steps of 64 at 0.005, a tenth held
// out, six long-term epochs at 0.01 (for the embedded model
// embeddedFineTuning's), no distillation, augmentation or refit.
func followsCost(labelled bool, macs int64) bool {
	return !labelled || macs > search.CostlyMACs
}

// prepareData opens the data, or synthesises the images plan describes
// when there is none (plan not nil), carves the test, sample and held-out
// parts, and labels unlabelled held-out and test images with the source's
// predictions (src, serialized).
func (c *adaptCmd) prepareData(e *env, m *onnxio.Model, src []byte, plan *syntheticPlan) (*adaptData, error) {
	var (
		d     *adaptData
		train dataset.Dataset
		err   error
	)
	if plan != nil {
		d, train, err = c.synthesize(e, m, plan)
	} else {
		d, train, err = c.openData(m)
	}
	if err != nil {
		return nil, err
	}
	d.labelled = dataset.Labelled(train) && !c.learn.unlabelled
	if !d.labelled {
		train = dataset.Unlabelled(train)
	}
	rep, err := cost.Analyze(m.Graph)
	if err != nil {
		return nil, err
	}
	d.macs = rep.MACs
	d.follow = followsCost(d.labelled, d.macs)
	if !d.follow && c.embedded {
		for _, f := range embeddedFineTuning {
			if !c.fs.Changed(f[0]) {
				if err := c.fs.Set(f[0], f[1]); err != nil {
					return nil, err
				}
			}
		}
	}
	if d.train, d.held, err = c.holdOut(d, train); err != nil {
		return nil, err
	}
	d.info.HeldOutSources = sources(d.held)
	if d.info.Mode == "" {
		d.info.Mode = search.ModeLabelled
	}
	d.info.HeldOutMeasure = "top-1"
	eval := finetune.EvalOptions{Batch: 100, Preprocess: &d.pre, Workers: c.data.workers}
	if !d.labelled {
		if d.info.Mode == search.ModeLabelled {
			d.info.Mode = search.ModeUnlabelled
		}
		d.info.HeldOutMeasure = "agreement"
		if d.held, err = search.AgreementLabels(e.ctx, src, d.held, eval); err != nil {
			return nil, err
		}
	}
	if d.test != nil {
		d.info.TestMeasure = "top-1"
		if !dataset.Labelled(d.test) {
			d.info.TestMeasure = "agreement"
			if d.test, err = search.AgreementLabels(e.ctx, src, d.test, eval); err != nil {
				return nil, err
			}
		}
		d.info.Test = d.test.Len()
	}
	d.info.Train, d.info.HeldOut = d.train.Len(), d.held.Len()
	return d, nil
}

// holdOut carves the held-out part from the training images: --held-out,
// or where its default follows the model's cost and the data (d.follow),
// a size that does.
func (c *adaptCmd) holdOut(d *adaptData, train dataset.Dataset) (rest, held dataset.Dataset, err error) {
	size := c.heldOut
	if !c.fs.Changed("held-out") {
		switch {
		case !d.follow:
		case d.info.Mode == search.ModeDataFree:
			// A few dozen costly images: a third, for a held-out agreement
			// finer than one image in a dozen.
			size = float64(max(1, train.Len()/3))
		default:
			size = float64(search.HeldOutSize(train.Len(), d.macs))
		}
	}
	if rest, held, err = dataset.HoldOut(train, size, c.train.seed); err != nil {
		if c.fs.Changed("held-out") {
			return nil, nil, usagef("--held-out: %v", err)
		}
		return nil, nil, err
	}
	return rest, held, nil
}

// openData opens --data and carves the --test and --images parts; it
// returns the training images before the held-out part is carved.
func (c *adaptCmd) openData(m *onnxio.Model) (*adaptData, dataset.Dataset, error) {
	splits, pre, err := c.data.openFor(m)
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("%w; give --data an IDX folder, class folders, a folder of images or a list file of images", err)
	}
	// Labels beyond the model's classes are refused only where they are
	// learnt from.
	if err := checkData(m, splits.Train, c.data.data, dataset.Labelled(splits.Train) && !c.learn.unlabelled); err != nil {
		return nil, nil, err
	}
	d := &adaptData{pre: pre, test: splits.Test}
	d.info = search.DataInfo{Source: c.data.data, Seed: c.train.seed}
	train := splits.Train
	if c.learn.test > 0 {
		if splits.Test != nil {
			return nil, nil, usagef("--test: %s has a test split already", c.data.data)
		}
		if train, d.test, err = dataset.HoldOut(train, c.learn.test, c.train.seed^0x7e57); err != nil {
			return nil, nil, usagef("--test: %v", err)
		}
		d.info.TestSources = sources(d.test)
	}
	if n := c.learn.images; n > 0 && n < train.Len() {
		if _, train, err = dataset.HoldOut(train, float64(n), c.train.seed^0x1a6e); err != nil {
			return nil, nil, usagef("--images: %v", err)
		}
		d.info.TrainSources = sources(train)
	}
	return d, train, nil
}

// syntheticPlan is what the data-free mode will synthesise, known before
// it spends minutes doing so.
type syntheticPlan struct {
	layers, images, steps int
	pre                   dataset.Preprocess
	macs                  int64
}

// planSynthetic decides the data-free mode's images from m's
// BatchNormalization statistics and cost, or refuses in one line when m
// has no such statistics.
func (c *adaptCmd) planSynthetic(m *onnxio.Model) (*syntheticPlan, error) {
	p := &syntheticPlan{layers: synth.Layers(m)}
	if p.layers == 0 {
		// Bad input, not a usage mistake: one line, exit 1, nothing written.
		return nil, fmt.Errorf("no --data, and the model has no BatchNormalization statistics to synthesise inputs from (folded into its convolutions): give --data with a few hundred images of its input domain (a folder of images; labels are not needed)")
	}
	shape, err := imageInputShape(m)
	if err != nil {
		return nil, err
	}
	in, err := dataset.InputOf(shape)
	if err != nil {
		return nil, err
	}
	if p.pre, err = in.Preprocess(c.data.preset); err != nil {
		return nil, usagef("--preset: %v", err)
	}
	p.pre.Resize = dataset.ResizeNone // the images are made at the input's size
	rep, err := cost.Analyze(m.Graph)
	if err != nil {
		return nil, err
	}
	p.macs = rep.MACs
	p.images, p.steps = search.SyntheticBudget(rep.MACs)
	if c.learn.synthetic > 0 {
		p.images = c.learn.synthetic
	}
	return p, nil
}

// checkDataFree resolves the training defaults from the number of images
// the data-free mode will synthesise, and has the options they give
// validated, before any is made: a usage mistake that they reveal (such as
// --refit=false where the cost leaves no short-term steps) is reported at
// once, not after minutes of synthesis. The defaults it sets are the ones
// the run then keeps: prepareData resolves them again from the same
// counts. It returns the plan, for synthesize.
func (c *adaptCmd) checkDataFree(e *env, m *onnxio.Model) (*syntheticPlan, error) {
	p, err := c.planSynthetic(m)
	if err != nil {
		return nil, err
	}
	d := &adaptData{pre: p.pre, macs: p.macs, follow: followsCost(false, p.macs)}
	d.info.Mode = search.ModeDataFree
	if d.train, _, err = c.holdOut(d, dataset.NewImages("planned", make([]image.Image, p.images))); err != nil {
		return nil, err
	}
	if err := c.trainingDefaults(d); err != nil {
		return nil, err
	}
	opts, err := c.options(e)
	if err != nil {
		return nil, err
	}
	if err := c.validate(opts); err != nil {
		return nil, err
	}
	return p, nil
}

// synthesize makes the images p plans from m's BatchNormalization
// statistics.
func (c *adaptCmd) synthesize(e *env, m *onnxio.Model, p *syntheticPlan) (*adaptData, dataset.Dataset, error) {
	layers, images, steps, pre := p.layers, p.images, p.steps, p.pre
	if !e.quiet {
		fmt.Fprintf(e.stderr, "no --data: data-free mode, synthesising %d images from the model's %d BatchNormalization layers (%d steps each; give --data to skip this)\n", images, layers, steps)
	}
	imgs, res, err := synth.Images(e.ctx, m, synth.Options{Images: images, Steps: steps, Preprocess: pre, Seed: c.train.seed, ClassWeight: c.learn.classWeight, Log: e.log.WithGroup("synth")})
	if err != nil {
		if errors.Is(err, synth.ErrNoClassScores) {
			err = fmt.Errorf("%w (--synthetic-class-weight 0 synthesises without it)", err)
		}
		return nil, nil, err
	}
	ds := dataset.NewImages("synthetic", imgs)
	mm, err := synth.Check(e.ctx, m, ds, pre, 0)
	if err != nil {
		return nil, nil, err
	}
	if !e.quiet {
		fmt.Fprintf(e.stderr, "synthetic images: statistics objective %.3g → %.3g, BatchNormalization inputs %.3f (means) and %.3f (deviations) stored deviations off on average (%.0f s)\n",
			res.Start, res.End, mm.Mean, mm.Std, res.Seconds)
		if res.ClassWeight > 0 {
			fmt.Fprintf(e.stderr, "synthetic images: class term at weight %g, cross-entropy %.3g against the targets, %.0f%% classified as their target\n", res.ClassWeight, res.ClassLoss, 100*res.Hits)
		}
	}
	d := &adaptData{pre: pre}
	d.info = search.DataInfo{Mode: search.ModeDataFree, Seed: c.train.seed,
		Source: fmt.Sprintf("%d images synthesised from %d BatchNormalization layers", images, layers),
		Synthetic: &search.SyntheticInfo{Images: res.Images, Steps: res.Steps, Batch: res.Batch, ObjectiveStart: res.Start, ObjectiveEnd: res.End,
			MeanMismatch: mm.Mean, StdMismatch: mm.Std, ClassWeight: res.ClassWeight, ClassLoss: res.ClassLoss, Hits: res.Hits, Seconds: res.Seconds}}
	return d, ds, nil
}

// sources names the samples of ds.
func sources(ds dataset.Dataset) []string {
	out := make([]string, ds.Len())
	for i := range out {
		out[i] = ds.Source(i)
	}
	return out
}

// trainingDefaults sets, for flags not given and where the defaults
// follow the model's cost and the data (d.follow), the fine-tuning
// budgets (search.ShortTermBudget, search.LongTermEpochs), the refit, and
// distillation: from the source whenever the data is unlabelled (then
// alone) or has fewer than fewLabels images per class.
func (c *adaptCmd) trainingDefaults(d *adaptData) error {
	if !d.follow {
		return nil
	}
	if !c.fs.Changed("refit") {
		c.learn.refit = true
	}
	n := d.train.Len()
	steps, batch := search.ShortTermBudget(d.macs, n)
	for _, f := range []struct{ name, v string }{{"short-steps", fmt.Sprint(steps)}, {"batch", fmt.Sprint(batch)}} {
		if !c.fs.Changed(f.name) {
			if err := c.fs.Set(f.name, f.v); err != nil {
				return err
			}
		}
	}
	if !c.fs.Changed("spread") && c.shortSteps == 0 {
		// Without fine-tuning, the refit alone repairs a cut: shallow cuts
		// of several groups lose less than one deep cut (search.Options.Spread).
		c.spread = defaultSpread
	}
	c.train.batch = min(c.train.batch, max(1, n))
	if !c.fs.Changed("long-epochs") {
		c.longEpochs = search.LongTermEpochs(d.macs, n, c.train.batch)
	}
	// Learning rates scale with the batch (the defaults are for 64), and
	// batches of fewer than smallBatch images train with frozen
	// BatchNormalization statistics: their batch statistics are too noisy
	// (4 SGD steps of 16 images at 0.005 take ImageNet MobileNetV2 from 83%
	// to 6% top-1 with BatchNormalization training, 82.7% frozen).
	// A model above search.CostlyMACs (the pretrained 224×224 networks)
	// fine-tunes at a lower base rate (search.FineTuneLR).
	if !c.fs.Changed("short-lr") {
		c.shortLR = search.FineTuneLR(d.macs, c.train.batch, defaultShortLR, search.CostlyShortLR)
	}
	if !c.fs.Changed("long-lr") {
		c.longLR = search.FineTuneLR(d.macs, c.train.batch, defaultLongLR, search.CostlyLongLR)
	}
	if !c.fs.Changed("freeze-bn") {
		c.train.freezeBN = c.train.batch < smallBatch
	}
	if !c.fs.Changed("distill") {
		c.train.distill = !d.labelled || n < fewLabels*max(1, d.train.NumClasses())
	}
	if !d.labelled && !c.train.distill {
		return usagef("--distill=false: unlabelled data can only be learnt by distillation from the source")
	}
	if !c.fs.Changed("max-drop") && !d.labelled {
		c.maxDrop = agreementMaxDrop
	}
	if !c.fs.Changed("augment") && c.train.distill {
		// Distillation learns the source's outputs, whatever the image:
		// augmented views are more of them.
		c.train.augment = "flip:pad=" + fmt.Sprint(max(1, d.pre.Height/16))
		if d.pre.Height >= 96 {
			c.train.augment = "flip:rrc=0.35,1"
		}
	}
	return nil
}

// defaultSpread is --spread's cost-following default for a model whose
// candidates get no short-term fine-tuning.
const defaultSpread = 8

// fewLabels: below this many labelled images per class, fine-tuning
// distils from the source by default.
const fewLabels = 100

// agreementMaxDrop is --max-drop's default when held-out figures are
// agreement with the source. Search derives the guard from the standard
// error of the current model's held-out accuracy, which is zero for the
// source's 100% agreement with itself (the guard would then be its floor
// of one point, and reject almost every cut); the guard is meant against
// deep single-layer cuts, which lose tens of points.
const agreementMaxDrop = 5

// smallBatch: fine-tuning in batches smaller than this keeps
// BatchNormalization statistics frozen.
const smallBatch = 32

// The learning rates of --short-lr and --long-lr at batch 64.
const (
	defaultShortLR = 0.005
	defaultLongLR  = 0.01
)

// printData prints the data mode and the test figure with its 95%
// interval.
func printData(w io.Writer, res *search.Result) {
	di := res.Data
	if di.Mode == "" {
		return
	}
	parts := []string{fmt.Sprintf("%d training", di.Train), fmt.Sprintf("%d held-out (%s)", di.HeldOut, di.HeldOutMeasure)}
	if di.Test > 0 {
		parts = append(parts, fmt.Sprintf("%d test (%s)", di.Test, di.TestMeasure))
	}
	fmt.Fprintf(w, "data: %s, %s images\n", di.Mode, strings.Join(parts, ", "))
	if a := res.Final.Test; a != nil && res.Source.Test != nil {
		lo, hi := a.Wilson95()
		slo, shi := res.Source.Test.Wilson95()
		fmt.Fprintf(w, "test %s: source %.2f%% [%.1f, %.1f], adapted %.2f%% [%.1f, %.1f] (Wilson 95%% intervals, n = %d)\n",
			di.TestMeasure, 100*res.Source.Test.Top1, 100*slo, 100*shi, 100*a.Top1, 100*lo, 100*hi, a.N)
	}
}
