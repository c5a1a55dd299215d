package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/onnx-adapt/onnx-adapt/internal/measure"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
)

// TestSearchTimer: adapt's search timer starts this executable's hidden
// command in a fresh process, which times the models with the protocol it
// is given; a model it cannot time fails with the reason.
func TestSearchTimer(t *testing.T) {
	timer := searchTimer()
	if timer == nil {
		t.Fatal("no search timer: os.Executable failed")
	}
	a, err := os.ReadFile(zooModel(t, "mobilenetv2"))
	if err != nil {
		t.Fatal(err)
	}
	p := measure.Protocol{Runtime: ort.Options{IntraOpThreads: 1}, Blocks: 4, BlockTime: time.Millisecond, Warmup: time.Millisecond}
	ls, err := timer([][]byte{a, a}, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || len(ls[0].BlocksMS) != 4 || ls[0].MS <= 0 || ls[1].MS <= 0 {
		t.Errorf("latencies from the fresh process: %+v", ls)
	}
	if _, err := timer([][]byte{a, []byte("not onnx")}, p); err == nil || !strings.Contains(err.Error(), "model 1") {
		t.Errorf("a broken model: %v", err)
	}
}
