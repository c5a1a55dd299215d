// Command uniform answers the users' third question about an adapted model:
// is its accuracy at that latency better than simply shrinking the width?
//
// It reads an `onnx-adapt adapt` output folder, builds the uniform-width
// baseline of the same source model — every prunable channel group shrunk
// by one common fraction (L2-ranked filters, counts rounded to multiples of
// 8), with the fraction found by bisection so that the baseline's measured
// latency matches the adapted model's — fine-tunes it with the same
// training budget the adapted model got (its long-term epochs plus the
// short-term steps of its chosen candidates), and prints both on the test
// set, measured in onnxruntime.
//
//	go run ./bench/uniform -out out/ [-model in.onnx] [-data D]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/cost"
	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/internal/measure"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/models/pretrained"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/search"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

func main() {
	out := flag.String("out", "out", "the adapt output folder (history.json, adapted.onnx)")
	modelPath := flag.String("model", "", "the source model (default: the embedded default)")
	data := flag.String("data", "/usr/share/datasets/fashion-mnist", "data set")
	threads := flag.Int("threads", 1, "onnxruntime threads, as the adapt run")
	blocks := flag.Int("blocks", 20, "rounds of the measurement protocol (package measure)")
	shortSteps := flag.Int("short-steps", 20, "the adapt run's --short-steps")
	batch := flag.Int("batch", 64, "the adapt run's --batch")
	longEpochs := flag.Float64("long-epochs", 1, "the adapt run's --long-epochs")
	flag.Parse()
	if err := run(*out, *modelPath, *data, *threads, *blocks, *shortSteps, *batch, *longEpochs); err != nil {
		log.Fatal(err)
	}
}

func run(out, modelPath, data string, threads, blocks, shortSteps, batch int, longEpochs float64) error {
	ctx := context.Background()
	var hist search.Result
	b, err := os.ReadFile(filepath.Join(out, "history.json"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &hist); err != nil {
		return err
	}
	src, err := pretrained.Load()
	if modelPath != "" {
		src, err = onnxio.Load(modelPath)
	}
	if err != nil {
		return err
	}
	adapted, err := onnxio.Load(hist.File)
	if err != nil {
		return err
	}
	sp, err := dataset.Open(data)
	if err != nil {
		return err
	}
	p := measure.Protocol{Runtime: ort.Options{IntraOpThreads: threads}, Blocks: blocks}
	// timeWith times m together with the adapted model (interleaved), so
	// that the two compare on the same stretch of the machine's time.
	adaptedData, err := onnxio.Encode(adapted)
	if err != nil {
		return err
	}
	timeWith := func(m *onnxio.Model) (mine, theirs measure.Latency, r measure.Ratio, err error) {
		d, err := onnxio.Encode(m)
		if err != nil {
			return mine, theirs, r, err
		}
		ls, err := measure.Models([][]byte{d, adaptedData}, p)
		if err != nil {
			return mine, theirs, r, err
		}
		r, err = measure.RatioOf(ls[0], ls[1])
		return ls[0], ls[1], r, err
	}

	// Bisection on the common fraction: the smallest cut whose measured
	// latency reaches the adapted model's.
	an, err := surgery.Analyze(src.Graph)
	if err != nil {
		return err
	}
	uniform := func(f float64) (*onnxio.Model, error) {
		m := src.Clone()
		return m, surgery.Apply(m.Graph, an.UniformPlan(f, 8))
	}
	lo, hi := 0.0, 0.95
	var base *onnxio.Model
	var tb, ta measure.Latency
	for range 8 {
		mid := (lo + hi) / 2
		m, err := uniform(mid)
		if err != nil {
			return err
		}
		t, a, r, err := timeWith(m)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "uniform cut %.3f: %v, %.3f ± %.3f× the adapted model's %v\n", mid, t, r.Value, r.Noise, a)
		if r.Value <= 1 {
			hi, base, tb, ta = mid, m, t, a
		} else {
			lo = mid
		}
	}
	if base == nil {
		return fmt.Errorf("no uniform cut up to %.2f reaches the adapted model's latency", hi)
	}

	// The same training budget.
	extra := float64(len(hist.Iterations)*shortSteps*batch) / float64(sp.Train.Len())
	cfg := finetune.DefaultConfig()
	cfg.Epochs, cfg.Batch, cfg.LR = longEpochs+extra, batch, 0.01
	cfg.Seed = 1
	if _, err := finetune.Train(ctx, base, sp.Train, cfg); err != nil {
		return err
	}
	eval := func(m *onnxio.Model) (finetune.Accuracy, error) {
		d, err := onnxio.Encode(m)
		if err != nil {
			return finetune.Accuracy{}, err
		}
		return finetune.Evaluate(ctx, d, sp.Test, finetune.EvalOptions{Batch: 250, Threads: threads})
	}
	accA, err := eval(adapted)
	if err != nil {
		return err
	}
	accB, err := eval(base)
	if err != nil {
		return err
	}
	accS, err := eval(src)
	if err != nil {
		return err
	}
	ts, _, _, err := timeWith(src)
	if err != nil {
		return err
	}
	row := func(name string, m *onnxio.Model, t measure.Latency, a finetune.Accuracy) {
		r, _ := cost.Analyze(m.Graph)
		fmt.Printf("| %s | %.4f ± %.4f | %.4f | %.4f | %s | %s | %.2f%% |\n", name, t.MS, t.NoiseMS, t.P10MS, t.P90MS,
			cost.String(r.MACs), cost.String(r.Params), 100*a.Top1)
	}
	fmt.Printf("| model | latency ms (± noise) | p10 | p90 | MACs | params | test top-1 |\n|---|---|---|---|---|---|---|\n")
	row("source", src, ts, accS)
	row("NetAdapt (adapted.onnx)", adapted, ta, accA)
	row(fmt.Sprintf("uniform width (cut %.0f%%, %.2f epochs)", 100*hi, cfg.Epochs), base, tb, accB)
	return nil
}
