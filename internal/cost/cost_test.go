package cost

import (
	"testing"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// tinyNet builds input[N,3,8,8] → Conv(16,3×3,s2,p1,bias) → BN → Relu →
// depthwise Conv(3×3) → GlobalAveragePool → Flatten → Gemm(10).
func tinyNet(t *testing.T) *onnxio.Model {
	t.Helper()
	m := onnxio.NewModel(17)
	g := m.Graph
	x := g.NewValue("input")
	x.Type = onnxio.Type{Elem: onnxio.Float, Shape: onnxio.Shape{{Value: -1, Param: "N"}, {Value: 3}, {Value: 8}, {Value: 8}}, HasShape: true}
	g.Inputs = append(g.Inputs, x)
	w := func(name string, dims ...int64) *onnxio.Value {
		n, _ := onnxio.NumElements(dims)
		tensor, err := onnxio.NewFloat32Tensor(dims, make([]float32, n))
		if err != nil {
			t.Fatal(err)
		}
		return g.AddInitializer(name, tensor)
	}
	c1 := g.AddNode("Conv", "c1", []*onnxio.Value{x, w("w1", 16, 3, 3, 3), w("b1", 16)}, []string{"c1"},
		onnxio.AttrInts("strides", []int64{2, 2}), onnxio.AttrInts("pads", []int64{1, 1, 1, 1}))
	bn := g.AddNode("BatchNormalization", "bn", []*onnxio.Value{c1.Output(0), w("s", 16), w("b", 16), w("m", 16), w("v", 16)}, []string{"bn"})
	r := g.AddNode("Relu", "relu", []*onnxio.Value{bn.Output(0)}, []string{"r"})
	dw := g.AddNode("Conv", "dw", []*onnxio.Value{r.Output(0), w("w2", 16, 1, 3, 3)}, []string{"dw"},
		onnxio.AttrInts("pads", []int64{1, 1, 1, 1}), onnxio.AttrInt("group", 16))
	gap := g.AddNode("GlobalAveragePool", "gap", []*onnxio.Value{dw.Output(0)}, []string{"gap"})
	fl := g.AddNode("Flatten", "flat", []*onnxio.Value{gap.Output(0)}, []string{"flat"})
	fc := g.AddNode("Gemm", "fc", []*onnxio.Value{fl.Output(0), w("wf", 10, 16), w("bf", 10)}, []string{"output"}, onnxio.AttrInt("transB", 1))
	g.Outputs = append(g.Outputs, fc.Output(0))
	return m
}

func TestAnalyze(t *testing.T) {
	m := tinyNet(t)
	r, err := Analyze(m.Graph)
	if err != nil {
		t.Fatal(err)
	}
	wantMACs := map[string]int64{
		"c1": 16 * 4 * 4 * 3 * 9, // Cout·H·W·Cin·k²
		"dw": 16 * 4 * 4 * 1 * 9, // depthwise: Cin/group = 1
		"fc": 10 * 16,
	}
	wantParams := map[string]int64{"c1": 16*27 + 16, "dw": 16 * 9, "fc": 160 + 10}
	var macs, params int64
	for _, l := range r.Layers {
		if l.MACs != wantMACs[l.Name] {
			t.Errorf("%s: MACs %d, want %d", l.Name, l.MACs, wantMACs[l.Name])
		}
		if l.Params != wantParams[l.Name] {
			t.Errorf("%s: params %d, want %d", l.Name, l.Params, wantParams[l.Name])
		}
		macs += wantMACs[l.Name]
		params += wantParams[l.Name]
	}
	if r.MACs != macs || r.Params != params {
		t.Errorf("totals MACs %d params %d, want %d %d", r.MACs, r.Params, macs, params)
	}
	if r.BNParams != 4*16 {
		t.Errorf("BN params %d, want 64", r.BNParams)
	}
	if r.AllParams != params+64 {
		t.Errorf("all params %d, want %d", r.AllParams, params+64)
	}
	// Peak: while c1 runs, input (3·64) and its output (16·16) are alive;
	// then bn holds c1 (16·16) + bn (16·16) = 512 floats, the largest.
	if want := int64(4 * 512); r.PeakActivationBytes != want {
		t.Errorf("peak activation %d bytes, want %d", r.PeakActivationBytes, want)
	}
	if r.Layers[0].Output[0] != 1 {
		t.Errorf("symbolic batch not taken as 1: %v", r.Layers[0].Output)
	}
}

func TestBytes(t *testing.T) {
	for b, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 3 << 20: "3.00 MiB", 5 << 30: "5.00 GiB"} {
		if got := Bytes(b); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", b, got, want)
		}
	}
}
