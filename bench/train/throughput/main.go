// Command throughput measures the training throughput of the Go engine
// (package finetune): images per second of full training steps — forward
// pass in training mode, softmax cross-entropy, backward pass, SGD with
// momentum and weight decay — on random inputs, for a model from the
// models package. It is the Go half of bench/train/compare.sh; the PyTorch
// half is torch_throughput.py.
//
//	go run ./bench/train/throughput -model mobilenetv2 -width 1 -res 32 -classes 10 -batch 128 -threads 2
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/internal/kernels"
	"github.com/onnx-adapt/onnx-adapt/models"
)

type result struct {
	Engine       string    `json:"engine"`
	Model        string    `json:"model"`
	Width        float64   `json:"width"`
	Resolution   int       `json:"resolution"`
	Classes      int       `json:"classes"`
	Batch        int       `json:"batch"`
	Threads      int       `json:"threads"`
	Steps        int       `json:"steps_per_rep"`
	ImagesPerSec []float64 `json:"images_per_sec"` // one per repetition
	Median, Best float64
	ArenaMiB     float64 `json:"arena_mib"`
	GEMM         string  `json:"gemm"`
}

func main() {
	model := flag.String("model", "mobilenetv2", "model name (see models.Names)")
	width := flag.Float64("width", 1, "width multiplier α")
	res := flag.Int("res", 32, "input resolution")
	classes := flag.Int("classes", 10, "classes")
	batch := flag.Int("batch", 128, "batch size")
	threads := flag.Int("threads", 2, "threads (GOMAXPROCS and kernel workers)")
	steps := flag.Int("steps", 10, "timed steps per repetition")
	reps := flag.Int("reps", 3, "repetitions")
	warmup := flag.Int("warmup", 2, "untimed steps first")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the timed steps")
	asJSON := flag.Bool("json", false, "print JSON")
	flag.Parse()

	runtime.GOMAXPROCS(*threads)
	kernels.SetWorkers(*threads)
	m, err := models.Build(*model, models.Config{Width: *width, Resolution: *res, Classes: *classes})
	if err != nil {
		log.Fatal(err)
	}
	e, err := finetune.Compile[float32](m, finetune.Options{Batch: *batch, Train: true, ProfileLabels: *cpuprofile != ""})
	if err != nil {
		log.Fatal(err)
	}
	opt, err := finetune.NewSGD(e.Params(), 0.9, 4e-5, false)
	if err != nil {
		log.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	x := e.Input(0)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	labels := make([]int32, *batch)
	for i := range labels {
		labels[i] = int32(r.IntN(*classes))
	}
	loss := &finetune.Loss{Classes: *classes}
	optLabels := pprof.WithLabels(context.Background(), pprof.Labels("op", "SGD", "pass", "update"))
	step := func() {
		e.Forward(true)
		finetune.LossGrad(loss, *batch, e.Logits(), labels, nil, e.LogitsGrad())
		e.Backward()
		pprof.SetGoroutineLabels(optLabels)
		opt.Step(0.01)
		pprof.SetGoroutineLabels(context.Background())
	}
	for range *warmup {
		step()
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	out := result{Engine: "go", Model: *model, Width: *width, Resolution: *res, Classes: *classes, Batch: *batch,
		Threads: *threads, Steps: *steps, ArenaMiB: float64(e.ArenaLen()) * 4 / (1 << 20), GEMM: kernels.GEMMBackend}
	for range *reps {
		t0 := time.Now()
		for range *steps {
			step()
		}
		out.ImagesPerSec = append(out.ImagesPerSec, float64(*steps**batch)/time.Since(t0).Seconds())
	}
	s := slices.Sorted(slices.Values(out.ImagesPerSec))
	out.Median, out.Best = s[len(s)/2], s[len(s)-1]
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(out)
		return
	}
	if *cpuprofile != "" {
		fmt.Fprintf(os.Stderr, "profile by op: go tool pprof -tags %s\n", *cpuprofile)
	}
	fmt.Printf("go    %s α=%g %d×%d batch %d, %d threads: median %.1f img/s (best %.1f; runs %.1f)\n",
		*model, *width, *res, *res, *batch, *threads, out.Median, out.Best, out.ImagesPerSec)
}
