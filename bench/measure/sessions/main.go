// Command sessions measures a model alongside a reference K times in one
// process, with new onnxruntime sessions each time, and prints the
// spread of the ratios against the noise each measurement reports: the
// within-process counterpart of bench/measure/repeat.sh, which starts a
// new process for every measurement.
//
// Each measurement has ROUNDS rounds (default: the protocol's). Beside
// the noise the protocol reports (the larger of the blocks' standard error
// and that of measure.Batches batch medians, plus the ratio's floor), it
// prints the two standard errors apart, so that each can be compared with
// the spread the K measurements really have.
//
//	go run ./bench/measure/sessions MODEL REFERENCE K [ROUNDS]
package main

import (
	"fmt"
	"log"
	"os"
	"strconv"

	"gonum.org/v1/gonum/stat"

	"github.com/onnx-adapt/onnx-adapt/internal/measure"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

func main() {
	if len(os.Args) != 4 && len(os.Args) != 5 {
		log.Fatal("usage: sessions MODEL REFERENCE K [ROUNDS]")
	}
	k, err := strconv.Atoi(os.Args[3])
	if err != nil || k < 2 {
		log.Fatalf("K: %q is not a count of at least 2", os.Args[3])
	}
	p := measure.Protocol{Runtime: ort.Options{IntraOpThreads: 1}}
	if len(os.Args) == 5 {
		if p.Blocks, err = strconv.Atoi(os.Args[4]); err != nil || p.Blocks < 2*measure.Batches {
			log.Fatalf("ROUNDS: %q is not a count of at least %d", os.Args[4], 2*measure.Batches)
		}
	}
	if err := ort.Init(); err != nil {
		log.Fatal(err)
	}
	a, b := encode(os.Args[1]), encode(os.Args[2])
	var rs, ns, blockSE, batchSE []float64
	for range k {
		ls, err := measure.Models([][]byte{a, b}, p)
		if err != nil {
			log.Fatal(err)
		}
		r, err := measure.RatioOf(ls[0], ls[1])
		if err != nil {
			log.Fatal(err)
		}
		rounds := make([]float64, len(ls[0].BlocksMS))
		for i := range rounds {
			rounds[i] = ls[0].BlocksMS[i] / ls[1].BlocksMS[i]
		}
		bl, ba := measure.StandardErrors(rounds)
		rs, ns = append(rs, r.Value), append(ns, r.Noise)
		blockSE, batchSE = append(blockSE, bl), append(batchSE, ba)
	}
	sd := stat.StdDev(rs, nil)
	fmt.Printf("ratios %.3f\nmean %.4f, SD %.4f; median reported noise %.4f (SD/noise %.1f); "+
		"mean SE from the blocks %.4f (SD/it %.1f), from %d batch medians %.4f (SD/it %.1f)\n",
		rs, stat.Mean(rs, nil), sd, measure.Median(ns), sd/measure.Median(ns),
		stat.Mean(blockSE, nil), sd/stat.Mean(blockSE, nil), measure.Batches, stat.Mean(batchSE, nil), sd/stat.Mean(batchSE, nil))
}

func encode(path string) []byte {
	m, err := onnxio.Load(path)
	if err != nil {
		log.Fatal(err)
	}
	if err := m.Graph.InferShapes(); err != nil {
		log.Fatal(err)
	}
	data, err := onnxio.Encode(m)
	if err != nil {
		log.Fatal(err)
	}
	return data
}
