// Command sessions measures a model alongside a reference K times in one
// process, with new onnxruntime sessions each time, and prints the
// spread of the ratios against the noise each measurement reports: the
// within-process counterpart of bench/measure/repeat.sh, which starts a
// new process for every measurement.
//
//	go run ./bench/measure/sessions MODEL REFERENCE K
package main

import (
	"fmt"
	"log"
	"os"
	"slices"
	"strconv"

	"gonum.org/v1/gonum/stat"

	"github.com/onnx-adapt/onnx-adapt/internal/measure"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

func main() {
	if len(os.Args) != 4 {
		log.Fatal("usage: sessions MODEL REFERENCE K")
	}
	k, err := strconv.Atoi(os.Args[3])
	if err != nil || k < 2 {
		log.Fatalf("K: %q is not a count of at least 2", os.Args[3])
	}
	if err := ort.Init(); err != nil {
		log.Fatal(err)
	}
	a, b := encode(os.Args[1]), encode(os.Args[2])
	p := measure.Protocol{Runtime: ort.Options{IntraOpThreads: 1}}
	var rs, ns []float64
	for range k {
		ls, err := measure.Models([][]byte{a, b}, p)
		if err != nil {
			log.Fatal(err)
		}
		r, err := measure.RatioOf(ls[0], ls[1])
		if err != nil {
			log.Fatal(err)
		}
		rs, ns = append(rs, r.Value), append(ns, r.Noise)
	}
	mean, sd := stat.MeanStdDev(rs, nil)
	slices.Sort(ns)
	noise := stat.Quantile(0.5, stat.Empirical, ns, nil)
	fmt.Printf("ratios %.3f\nmean %.4f, SD %.4f, median reported noise %.4f, SD/noise %.1f\n", rs, mean, sd, noise, sd/noise)
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
