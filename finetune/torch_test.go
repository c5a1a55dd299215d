package finetune

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/models"
)

// TestAgainstPyTorch compares the engine's float64 gradients of a whole
// MobileNetV2 training step with PyTorch's (torchvision's mobilenet_v2 with
// the same weights, in float64), through bench/train/torch_grad_check.py.
// It needs Debian's python3-torch and python3-torchvision and runs only
// with FINETUNE_TORCH=1.
func TestAgainstPyTorch(t *testing.T) {
	if os.Getenv("FINETUNE_TORCH") == "" {
		t.Skip("set FINETUNE_TORCH=1 (needs python3-torch and python3-torchvision)")
	}
	const (
		width          = 0.5
		chans, res, nc = 1, 32, 10
		batch          = 8
	)
	m, err := models.MobileNetV2(models.Config{Width: width, Resolution: res, Classes: nc, InChannels: chans, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range m.Graph.Nodes { // dropout off on both sides
		if n.Op == "Dropout" {
			n.Op = "Identity"
			for i := 1; i < len(n.Inputs()); i++ {
				n.SetInput(i, nil)
			}
		}
	}
	dir := t.TempDir()
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f32 := func(f []float32) []byte {
		b := make([]byte, 4*len(f))
		for i, v := range f {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		return b
	}
	var names strings.Builder
	for _, v := range m.Graph.Initializers() {
		f, err := v.Const.Float32()
		if err != nil {
			continue // integer shape constants
		}
		write(v.Name+".bin", f32(f))
		fmt.Fprintf(&names, "%s %v\n", v.Name, v.Const.Dims)
	}
	write("names.txt", []byte(names.String()))
	e := mustCompile[float64](t, m, Options{Batch: batch, Train: true})
	r := newRNG(17)
	x := make([]float32, len(e.Input(0)))
	for i := range x {
		x[i] = float32(r.Float64())
		e.Input(0)[i] = float64(x[i])
	}
	labels, lf := make([]int32, batch), make([]float32, batch)
	for i := range labels {
		labels[i] = int32(r.IntN(nc))
		lf[i] = float32(labels[i])
	}
	write("x.bin", f32(x))
	write("y.bin", f32(lf))
	e.Forward(true)
	lv := LossGrad(&Loss{Classes: nc}, batch, e.Logits(), labels, nil, e.LogitsGrad())
	e.Backward()
	for _, p := range e.Params() {
		b := make([]byte, 8*len(p.Grad))
		for i, v := range p.Grad {
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
		}
		write("grad_"+p.Name+".bin", b)
	}
	out, err := exec.Command("/usr/bin/python3", "../bench/train/torch_grad_check.py", dir,
		fmt.Sprint(width), fmt.Sprint(chans), fmt.Sprint(res), fmt.Sprint(nc), fmt.Sprint(batch)).CombinedOutput()
	if err != nil {
		t.Fatalf("torch_grad_check.py: %v\n%s", err, out)
	}
	f := strings.Fields(string(out))
	worst, _ := strconv.ParseFloat(f[0], 64)
	tl, _ := strconv.ParseFloat(f[1], 64)
	t.Logf("loss: engine %.12g, PyTorch %.12g; max gradient difference %.3g (%s)", lv.Total, tl, worst, f[2])
	// ONNX stores BatchNormalization's epsilon as float32 (1e-5 becomes
	// 9.99999974738e-06), PyTorch keeps 1e-5: a difference near 1e-10.
	if math.Abs(tl-lv.Total) > 1e-8*tl || !(worst < 1e-6) {
		t.Errorf("the engine and PyTorch disagree: loss %.12g vs %.12g, gradients by %.3g", lv.Total, tl, worst)
	}
}
