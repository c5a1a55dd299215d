// Command batchmeans measures a model alongside a reference K times with
// ROUNDS rounds each, and compares the spread of the ratios across the K
// measurements with two standard errors each one can report: the
// median's, from the MAD of the round ratios (which assumes independent
// rounds), and a batch-means one, from the spread of the medians of B
// consecutive batches of rounds (which sees drift slower than a round).
//
//	go run ./bench/measure/batchmeans MODEL REFERENCE K ROUNDS B
package main

import (
	"fmt"
	"log"
	"math"
	"os"
	"slices"
	"strconv"

	"gonum.org/v1/gonum/stat"

	"github.com/onnx-adapt/onnx-adapt/internal/measure"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

func main() {
	k, _ := strconv.Atoi(os.Args[3])
	rounds, _ := strconv.Atoi(os.Args[4])
	nb, _ := strconv.Atoi(os.Args[5])
	if err := ort.Init(); err != nil {
		log.Fatal(err)
	}
	a, b := encode(os.Args[1]), encode(os.Args[2])
	p := measure.Protocol{Runtime: ort.Options{IntraOpThreads: 1}, Blocks: rounds}
	var vs, mads, bms []float64
	for range k {
		ls, err := measure.Models([][]byte{a, b}, p)
		if err != nil {
			log.Fatal(err)
		}
		r, _ := measure.RatioOf(ls[0], ls[1])
		rs := make([]float64, rounds)
		for i := range rs {
			rs[i] = ls[0].BlocksMS[i] / ls[1].BlocksMS[i]
		}
		var meds []float64
		per := rounds / nb
		for j := range nb {
			s := slices.Clone(rs[j*per : (j+1)*per])
			slices.Sort(s)
			meds = append(meds, stat.Quantile(0.5, stat.LinInterp, s, nil))
		}
		bse := stat.StdDev(meds, nil) / math.Sqrt(float64(nb))
		vs, mads, bms = append(vs, r.Value), append(mads, r.Noise), append(bms, bse)
		fmt.Printf("ratio %.4f  MAD SE %.4f  batch SE %.4f  batch medians %.3f\n", r.Value, r.Noise, bse, meds)
	}
	sd := stat.StdDev(vs, nil)
	fmt.Printf("SD across %d: %.4f; mean MAD SE %.4f (x%.1f); mean batch SE %.4f (x%.1f)\n", k, sd,
		stat.Mean(mads, nil), sd/stat.Mean(mads, nil), stat.Mean(bms, nil), sd/stat.Mean(bms, nil))
}

func encode(path string) []byte {
	m, err := onnxio.Load(path)
	if err != nil {
		log.Fatal(err)
	}
	d, err := onnxio.Encode(m)
	if err != nil {
		log.Fatal(err)
	}
	return d
}
