// Command refit measures what the least-squares refit (package recon)
// recovers of a single cut, with no training at all: it cuts one channel
// group of a model to a kept count, and reports top-1 on evaluation images
// for the plain cut and for the cut with its consumer layers refitted on
// calibration images, with the L2 and the reconstruction rankings.
//
//	go run ./bench/refit -model M.onnx -data labels.txt -preset center-crop \
//	    -group 16 -keep 160 [-calib 256] [-eval 1000]
//
// The first -calib images of a seeded permutation calibrate, the next
// -eval evaluate. -calib-noise calibrates on -calib Gaussian-noise images
// instead, -calib-synth on -calib images synthesised from the model's
// BatchNormalization statistics (package synth, -synth-steps steps).
package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"image/color"
	"log"
	"math/rand/v2"
	"time"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/recon"
	"github.com/onnx-adapt/onnx-adapt/surgery"
	"github.com/onnx-adapt/onnx-adapt/synth"
)

func main() {
	modelPath := flag.String("model", "", "the model")
	data := flag.String("data", "", "data set (its labels are only used to score)")
	preset := flag.String("preset", "center-crop", "preprocessing preset")
	group := flag.Int("group", 16, "channel group to cut")
	keep := flag.Int("keep", 160, "channels it keeps")
	nCalib := flag.Int("calib", 256, "calibration images")
	nEval := flag.Int("eval", 1000, "evaluation images")
	noise := flag.Bool("calib-noise", false, "calibrate on Gaussian noise instead of images")
	synthetic := flag.Bool("calib-synth", false, "calibrate on images synthesised from the BatchNormalization statistics")
	synthSteps := flag.Int("synth-steps", 50, "optimisation steps of the synthetic images")
	threads := flag.Int("threads", 2, "onnxruntime threads")
	flag.Parse()
	if err := ort.Init(); err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	m, err := onnxio.Load(*modelPath)
	if err != nil {
		log.Fatal(err)
	}
	if err := m.Graph.InferShapes(); err != nil {
		log.Fatal(err)
	}
	sp, err := dataset.Open(*data)
	if err != nil {
		log.Fatal(err)
	}
	shape := m.Graph.Inputs[0].Type.Shape.Ints()
	pre, err := dataset.Preset(*preset, int(shape[1]), int(shape[2]), int(shape[3]))
	if err != nil {
		log.Fatal(err)
	}
	perm := rand.New(rand.NewPCG(1, 2)).Perm(sp.Train.Len())
	calib, err := dataset.Subset(sp.Train, perm[:*nCalib])
	if err != nil {
		log.Fatal(err)
	}
	evalSet, err := dataset.Subset(sp.Train, perm[*nCalib:*nCalib+*nEval])
	if err != nil {
		log.Fatal(err)
	}
	calibPre := pre
	what := ""
	switch {
	case *noise:
		calib, what = noiseImages(*nCalib, int(shape[2]), int(shape[3])), " of noise"
		calibPre.Resize = dataset.ResizeNone
	case *synthetic:
		calibPre.Resize = dataset.ResizeNone
		t0 := time.Now()
		imgs, res, err := synth.Images(ctx, m, synth.Options{Images: *nCalib, Steps: *synthSteps, Preprocess: calibPre, Seed: 1})
		if err != nil {
			log.Fatal(err)
		}
		calib = dataset.NewImages("synthetic", imgs)
		what = fmt.Sprintf(" synthesised (objective %.3g → %.3g, %.0f s)", res.Start, res.End, time.Since(t0).Seconds())
	}
	eval := finetune.EvalOptions{Batch: 50, Threads: *threads, Preprocess: &pre}
	top1 := func(mm *onnxio.Model) float64 {
		data, err := onnxio.Encode(mm)
		if err != nil {
			log.Fatal(err)
		}
		acc, err := finetune.Evaluate(ctx, data, evalSet, eval)
		if err != nil {
			log.Fatal(err)
		}
		return 100 * acc.Top1
	}
	t0 := time.Now()
	st, err := recon.Collect(ctx, m, dataset.Unlabelled(calib), recon.Options{Threads: *threads, Preprocess: &calibPre, Images: *nCalib})
	if err != nil {
		log.Fatal(err)
	}
	g := st.Analysis().Group(*group)
	fmt.Printf("model %s, group %d (%d channels, roots %v) cut to %d; %d calibration images%s, %d evaluation images; statistics %.1f s\n",
		*modelPath, *group, g.Size, g.Roots, *keep, *nCalib, what, *nEval, time.Since(t0).Seconds())
	fmt.Printf("source: top-1 %.2f%%\n", top1(m))
	for _, c := range []struct {
		name  string
		rank  bool
		refit bool
	}{{"L2 cut", false, false}, {"L2 cut + refit", false, true}, {"recon rank + refit", true, true}} {
		p := surgery.Plan{Rank: surgery.RankL2, Groups: []surgery.GroupPlan{{Group: *group, Drop: g.Size - *keep}}}
		if c.rank {
			ch, err := st.Keep(g, *keep)
			if err != nil {
				log.Fatal(err)
			}
			p.Groups[0] = surgery.GroupPlan{Group: *group, Keep: ch}
		}
		rp, err := st.Analysis().Resolve(p)
		if err != nil {
			log.Fatal(err)
		}
		pm := m.Clone()
		if err := surgery.Apply(pm.Graph, rp); err != nil {
			log.Fatal(err)
		}
		note := ""
		if c.refit {
			fits, err := st.Refit(pm, rp)
			if err != nil {
				log.Fatal(err)
			}
			for _, f := range fits {
				note += fmt.Sprintf(" [%s: held-apart error %.3f → %.3f, α %g]", f.Layer, f.CutError, f.FitError, f.Alpha)
			}
		}
		fmt.Printf("%-20s top-1 %.2f%%%s\n", c.name, top1(pm), note)
	}
}

// noiseImages returns n images of Gaussian noise around mid-grey.
func noiseImages(n, h, w int) dataset.Dataset {
	rng := rand.New(rand.NewPCG(3, 4))
	imgs := make([]image.Image, n)
	for i := range imgs {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				v := func() uint8 { return uint8(min(255, max(0, 128+64*rng.NormFloat64()))) }
				img.SetRGBA(x, y, color.RGBA{v(), v(), v(), 255})
			}
		}
		imgs[i] = img
	}
	return dataset.NewImages("noise", imgs)
}
