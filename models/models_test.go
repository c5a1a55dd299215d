package models

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// TestPublishedSizes checks the default (α = 1, 224×224, 1000 classes)
// models against the published parameter counts and multiply-adds, and pins
// the exact figures so that any change to an architecture shows up.
func TestPublishedSizes(t *testing.T) {
	tests := []struct {
		name string
		// Exact counts (see the conventions in doc.go).
		kept, folded, macs int64
		// Published figures and where they come from.
		pubParams, pubMACs float64
		source             string
	}{
		{"mobilenetv1", 4_231_976, 4_221_032, 568_740_352, 4_231_976, 569e6, "Howard 2017 Table 8 (569M); Keras mobilenet trainable params"},
		{"mobilenetv2", 3_504_872, 3_487_816, 300_774_272, 3_504_872, 300e6, "torchvision mobilenet_v2; Sandler 2018 Table 4 (300M)"},
		{"mobilenetv3-small", 2_542_856, 2_536_800, 56_510_400, 2_542_856, 56e6, "torchvision mobilenet_v3_small; Howard 2019 Table 3 (56M)"},
		{"mobilenetv3-large", 5_483_032, 5_470_832, 216_589_760, 5_483_032, 219e6, "torchvision mobilenet_v3_large; Howard 2019 Table 3 (219M)"},
		{"resnet", 11_689_512, 11_684_712, 1_814_073_344, 11_689_512, 1.814e9, "torchvision resnet18 (1.81 GFLOPS = GMACs)"},
		{"concatnet", 1_924_712, 1_922_616, 1_828_524_032, 0, 0, "our own design: pinned only"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kept, err := Build(tc.name, Config{})
			if err != nil {
				t.Fatal(err)
			}
			folded, err := Build(tc.name, Config{BN: BNFolded})
			if err != nil {
				t.Fatal(err)
			}
			if got := countParams(kept.Graph); got != tc.kept {
				t.Errorf("BN kept: %d parameters, want %d", got, tc.kept)
			}
			if got := countParams(folded.Graph); got != tc.folded {
				t.Errorf("BN folded: %d parameters, want %d", got, tc.folded)
			}
			// Folding replaces γ and β (2 per channel) by one conv bias.
			if d := countParams(kept.Graph) - countParams(folded.Graph); d != bnChannels(kept.Graph)-bnChannels(folded.Graph) {
				t.Errorf("kept − folded = %d parameters, want one per folded BN channel (%d)", d, bnChannels(kept.Graph)-bnChannels(folded.Graph))
			}
			for _, m := range []*onnxio.Model{kept, folded} {
				if got := countMACs(m.Graph); got != tc.macs {
					t.Errorf("%d MACs, want %d", got, tc.macs)
				}
			}
			if tc.pubParams > 0 && math.Abs(float64(tc.kept)-tc.pubParams) > 0 {
				t.Errorf("pinned %d parameters differ from the published %v (%s)", tc.kept, tc.pubParams, tc.source)
			}
			if tc.pubMACs > 0 && math.Abs(float64(tc.macs)-tc.pubMACs) > 0.015*tc.pubMACs {
				t.Errorf("pinned %d MACs are more than 1.5%% off the published %.4g (%s)", tc.macs, tc.pubMACs, tc.source)
			}
		})
	}
}

// bnChannels counts the channels of the BatchNormalization nodes.
func bnChannels(g *onnxio.Graph) int64 {
	var n int64
	for _, node := range g.Nodes {
		if node.Op == "BatchNormalization" {
			n += node.Input(1).Const.NumElements()
		}
	}
	return n
}

func opCount(g *onnxio.Graph, op string) int {
	n := 0
	for _, node := range g.Nodes {
		if node.Op == op {
			n++
		}
	}
	return n
}

// depthwiseCount counts Convs with group = input channels > 1.
func depthwiseCount(g *onnxio.Graph) int {
	n := 0
	for _, node := range g.Nodes {
		if node.Op == "Conv" && node.AttrInt("group", 1) > 1 && node.AttrInt("group", 1) == node.Input(0).Type.Shape[1].Value {
			n++
		}
	}
	return n
}

// TestArchitecture checks the structure that makes each network what it
// is: depthwise convs, residual Adds, squeeze-excite blocks, Concats.
func TestArchitecture(t *testing.T) {
	tests := []struct {
		name                            string
		convs, depthwise, adds, concats int
		se                              int // squeeze-excite blocks (HardSigmoid → Mul pairs on [N,C,1,1])
		maxPools, avgPools              int
	}{
		{"mobilenetv1", 27, 13, 0, 0, 0, 0, 0},
		{"mobilenetv2", 52, 17, 10, 0, 0, 0, 0},
		{"mobilenetv3-small", 52, 11, 6, 0, 9, 0, 0},
		{"mobilenetv3-large", 62, 15, 10, 0, 8, 0, 0},
		{"resnet", 20, 0, 8, 0, 0, 1, 0},
		{"concatnet", 23, 0, 0, 6, 0, 2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Build(tc.name, Config{Resolution: 96, Classes: 10})
			if err != nil {
				t.Fatal(err)
			}
			g := m.Graph
			got := []int{opCount(g, "Conv"), depthwiseCount(g), opCount(g, "Add"), opCount(g, "Concat"),
				seCount(g), opCount(g, "MaxPool"), opCount(g, "AveragePool")}
			want := []int{tc.convs, tc.depthwise, tc.adds, tc.concats, tc.se, tc.maxPools, tc.avgPools}
			if tc.name == "resnet" {
				want[3] = 1 // the view-reshape's shape Concat
			}
			if !slices.Equal(got, want) {
				t.Errorf("convs, depthwise, adds, concats, SE, maxpools, avgpools = %v, want %v", got, want)
			}
			// Every residual Add joins two feature maps of one shape.
			for _, n := range g.Nodes {
				if n.Op == "Add" && n.Input(0).Type.Shape.String() != n.Input(1).Type.Shape.String() {
					t.Errorf("%v adds %v and %v", n, n.Input(0).Type.Shape, n.Input(1).Type.Shape)
				}
			}
		})
	}
}

// seCount counts squeeze-excite scalings: a Mul whose first input is a
// HardSigmoid of [N, C, 1, 1] fed by a Conv.
func seCount(g *onnxio.Graph) int {
	n := 0
	for _, node := range g.Nodes {
		if node.Op != "Mul" {
			continue
		}
		p := node.Input(0).Producer()
		if p != nil && p.Op == "HardSigmoid" && p.Input(0).Producer().Op == "Conv" &&
			len(p.Output(0).Type.Shape) == 4 && p.Output(0).Type.Shape[2].Value == 1 {
			n++
		}
	}
	return n
}

// TestSqueezeChannels checks the SE squeeze width, _make_divisible(exp/4, 8),
// against torchvision's mobilenet_v3_large: its fc1 output channels in
// block order.
func TestSqueezeChannels(t *testing.T) {
	m, err := MobileNetV3Large(Config{Resolution: 64})
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, n := range m.Graph.Nodes {
		if n.Op == "Conv" && strings.HasSuffix(n.Name, "/fc1/Conv") {
			got = append(got, n.Input(1).Const.Dims[0])
		}
	}
	want := []int64{24, 32, 32, 120, 168, 168, 240, 240}
	if !slices.Equal(got, want) {
		t.Errorf("SE squeeze channels %v, want %v", got, want)
	}
}

func TestMakeDivisible(t *testing.T) {
	// Expected values computed with torchvision's _make_divisible.
	tests := []struct {
		v    float64
		want int64
	}{
		{32 * 0.35, 16}, {16 * 0.35, 8}, {24 * 0.35, 8}, {96 * 0.35, 32}, {160 * 0.35, 56},
		{320 * 0.35, 112}, {1280 * 1.4, 1792}, {64 * 0.75, 48}, {3, 8}, {10, 16}, {12, 16},
		{11.9, 16}, {20, 24}, {100, 104}, {1, 8}, {24 * 1.3, 32}, {576 / 4, 144},
	}
	for _, tc := range tests {
		if got := MakeDivisible(tc.v, 8); got != tc.want {
			t.Errorf("MakeDivisible(%v, 8) = %d, want %d", tc.v, got, tc.want)
		}
	}
}

// TestWidth checks channel counts at other widths against torchvision's
// models at the same width_mult.
func TestWidth(t *testing.T) {
	tests := []struct {
		name       string
		width      float64
		stem, last int64 // output channels of the first conv and of the last conv
	}{
		{"mobilenetv2", 0.35, 16, 1280},
		{"mobilenetv2", 1.4, 48, 1792},
		{"mobilenetv2", 0.5, 16, 1280},
		{"mobilenetv3-small", 0.5, 8, 288},
		{"mobilenetv3-large", 0.75, 16, 720},
		{"mobilenetv1", 0.25, 8, 256},
		{"resnet", 0.125, 8, 64},
		{"concatnet", 0.5, 16, 256},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%v", tc.name, tc.width), func(t *testing.T) {
			m, err := Build(tc.name, Config{Width: tc.width, Resolution: 64, Classes: 10})
			if err != nil {
				t.Fatal(err)
			}
			var convs []*onnxio.Node
			for _, n := range m.Graph.Nodes {
				if n.Op == "Conv" {
					convs = append(convs, n)
				}
			}
			stem, last := convs[0].Input(1).Const.Dims[0], convs[len(convs)-1].Input(1).Const.Dims[0]
			if stem != tc.stem || last != tc.last {
				t.Errorf("first conv has %d channels, last %d; want %d, %d", stem, last, tc.stem, tc.last)
			}
		})
	}
}

// TestBuildMatrix builds every model in every style, BN mode, opset and
// batch, and checks what each option promises about the graph's layout.
// Every build verifies (links and shape inference) before it is returned;
// this re-verifies and checks the input and output shapes.
func TestBuildMatrix(t *testing.T) {
	for _, name := range Names() {
		for _, style := range []Style{StyleTorch, StyleTF2ONNX} {
			for _, bn := range []BNMode{BNKept, BNFolded} {
				for i, opset := range []int64{9, 10, 11, 13, 14, 17, 21} {
					batch := int64(0) // symbolic on even i, fixed on odd
					if i%2 == 1 {
						batch = 3
					}
					cfg := Config{Width: 0.5, Resolution: 64, Classes: 10, InChannels: 4, BN: bn, Style: style, Opset: opset, Batch: batch, Seed: 3}
					t.Run(fmt.Sprintf("%s/%v/%v/opset%d/batch%d", name, style, bn, opset, batch), func(t *testing.T) {
						m, err := Build(name, cfg)
						if err != nil {
							t.Fatal(err)
						}
						checkLayout(t, m, name, cfg)
					})
				}
			}
		}
	}
}

func checkLayout(t *testing.T, m *onnxio.Model, name string, cfg Config) {
	t.Helper()
	g := m.Graph
	if err := g.Verify(); err != nil {
		t.Fatal(err)
	}
	if m.Opset("") != cfg.Opset {
		t.Errorf("opset %d, want %d", m.Opset(""), cfg.Opset)
	}
	batch := "N"
	if cfg.Batch > 0 {
		batch = fmt.Sprint(cfg.Batch)
	}
	if len(g.Inputs) != 1 || len(g.Outputs) != 1 {
		t.Fatalf("%d inputs and %d outputs, want 1 and 1", len(g.Inputs), len(g.Outputs))
	}
	in, out := g.Inputs[0], g.Outputs[0]
	wantIn := fmt.Sprintf("[%s 4 64 64]", batch)
	if cfg.Style == StyleTF2ONNX {
		wantIn = fmt.Sprintf("[%s 64 64 4]", batch)
	}
	if got := in.Type.Shape.String(); got != wantIn {
		t.Errorf("input shape %s, want %s", got, wantIn)
	}
	if got, want := out.Type.Shape.String(), fmt.Sprintf("[%s 10]", batch); got != want {
		t.Errorf("output shape %s, want %s", got, want)
	}
	ops := map[string]int{}
	for _, n := range g.Nodes {
		ops[n.Op]++
	}
	bnNodes := ops["BatchNormalization"]
	switch {
	case name == "concatnet" && (cfg.BN == BNFolded || cfg.Style == StyleTF2ONNX):
		if bnNodes != 1 {
			t.Errorf("%d BatchNormalization nodes, want only the transition's pre-activation BN", bnNodes)
		}
	case cfg.BN == BNFolded || cfg.Style == StyleTF2ONNX:
		if bnNodes != 0 {
			t.Errorf("%d BatchNormalization nodes with BN folded", bnNodes)
		}
	default:
		// Every conv but SE's (which has a bias) and ConcatNet's transition
		// is followed by BN.
		want := ops["Conv"] - 2*seCount(g)
		if name == "concatnet" {
			want = ops["Conv"] // -1 transition conv, +1 pre-activation BN
		}
		if bnNodes != want {
			t.Errorf("%d BatchNormalization nodes, want %d", bnNodes, want)
		}
	}
	for _, n := range g.Nodes {
		switch n.Op {
		case "Conv":
			hasBias := n.Input(2) != nil
			wantBias := cfg.BN == BNFolded || cfg.Style == StyleTF2ONNX || strings.Contains(n.Name, "fc")
			if name == "concatnet" && strings.Contains(n.Name, "transition") {
				wantBias = false
			}
			if hasBias != wantBias {
				t.Errorf("%v: has bias %v, want %v", n, hasBias, wantBias)
			}
		case "BatchNormalization":
			v, _ := n.Input(4).Const.Float32()
			if slices.Min(v) <= 0 {
				t.Errorf("%v: running variance %v ≤ 0", n, slices.Min(v))
			}
		case "Clip":
			if cfg.Opset < 11 && (len(n.Inputs()) != 1 || n.Attr("max") == nil) {
				t.Errorf("%v: opset %d wants min/max attributes", n, cfg.Opset)
			}
			if cfg.Opset >= 11 && (len(n.Inputs()) != 3 || n.Attr("max") != nil) {
				t.Errorf("%v: opset %d wants min/max inputs", n, cfg.Opset)
			}
		case "Unsqueeze":
			if (cfg.Opset < 13) != (n.Attr("axes") != nil) {
				t.Errorf("%v: axes as attribute = %v at opset %d", n, n.Attr("axes") != nil, cfg.Opset)
			}
		}
	}
	if strings.HasPrefix(name, "mobilenetv3") {
		if cfg.Opset >= 14 && (ops["HardSwish"] == 0 || ops["HardSigmoid"] != seCount(g)) {
			t.Errorf("opset %d: %d HardSwish, %d HardSigmoid; want HardSwish ops and HardSigmoid only in SE", cfg.Opset, ops["HardSwish"], ops["HardSigmoid"])
		}
		if cfg.Opset < 14 && ops["HardSwish"] != 0 {
			t.Errorf("opset %d has HardSwish", cfg.Opset)
		}
	}
	if strings.HasPrefix(name, "mobilenetv1") || strings.HasPrefix(name, "mobilenetv2") {
		if ops["Clip"] == 0 || ops["Relu"] != 0 {
			t.Errorf("%d Clip and %d Relu: ReLU6 must be Clip", ops["Clip"], ops["Relu"])
		}
	}
	first, last := g.Nodes[0], out.Producer()
	if cfg.Style == StyleTorch {
		if in.Name != "input" || out.Name != "output" {
			t.Errorf("torch style names input %q and output %q", in.Name, out.Name)
		}
		if ops["Transpose"]+ops["MatMul"]+ops["Softmax"] != 0 || ops["Gemm"] == 0 {
			t.Errorf("torch style has ops %v", ops)
		}
		if name == "resnet" {
			if ops["Shape"] != 1 || ops["Gather"] != 1 || ops["Unsqueeze"] != 2 || ops["Reshape"] != 1 || ops["Flatten"] != 0 {
				t.Errorf("resnet must flatten with Shape→Gather→Unsqueeze→Concat→Reshape, has ops %v", ops)
			}
		} else if ops["Flatten"] != 1 || ops["Reshape"] != 0 {
			t.Errorf("want one Flatten and no Reshape, have ops %v", ops)
		}
		for _, n := range g.Nodes {
			if p := n.AttrInts("pads"); p != nil && (p[0] != p[2] || p[1] != p[3]) {
				t.Errorf("%v: torch style has asymmetric pads %v", n, p)
			}
		}
		return
	}
	if first.Op != "Transpose" || !slices.Equal(first.AttrInts("perm"), []int64{0, 3, 1, 2}) || first.Input(0) != in {
		t.Errorf("tf2onnx style must start with Transpose(perm 0,3,1,2) of the input; starts with %v", first)
	}
	if last.Op != "Softmax" || ops["Gemm"]+ops["Flatten"]+ops["Shape"] != 0 || ops["MatMul"] == 0 || ops["Reshape"] != 1 {
		t.Errorf("tf2onnx style wants MatMul+Add, a constant Reshape and a final Softmax; has ops %v, ends with %v", ops, last)
	}
	asym := false
	for _, n := range g.Nodes {
		if n.Op == "Reshape" && !n.Input(1).IsConst() {
			t.Errorf("%v: shape is not an initializer", n)
		}
		if p := n.AttrInts("pads"); p != nil && (p[0] != p[2] || p[1] != p[3]) {
			asym = true
		}
	}
	if !asym {
		t.Error("tf2onnx style has no asymmetric (Keras 'same') pads")
	}
}

// TestDeterministic checks that a seed fixes every byte and that seeds
// change the weights, not the structure.
func TestDeterministic(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			enc := func(seed int64) ([]byte, *onnxio.Model) {
				m, err := Build(name, Config{Width: 0.5, Resolution: 64, Classes: 10, Seed: seed})
				if err != nil {
					t.Fatal(err)
				}
				b, err := onnxio.Encode(m)
				if err != nil {
					t.Fatal(err)
				}
				return b, m
			}
			a, ma := enc(1)
			b, _ := enc(1)
			c, mc := enc(2)
			if !bytes.Equal(a, b) {
				t.Error("two builds with the same seed differ")
			}
			if bytes.Equal(a, c) {
				t.Error("builds with seeds 1 and 2 are identical")
			}
			if len(ma.Graph.Nodes) != len(mc.Graph.Nodes) || len(a) != len(c) {
				t.Error("the seed changed the structure")
			}
			// The encoded model decodes and verifies.
			m, err := onnxio.Decode(a)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Graph.Verify(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestBNStatistics checks that the random BN parameters are non-trivial, so
// that folding them changes the weights: γ and β spread over their ranges,
// and each BN's running variances positive and spread over a factor of at
// most e² (at least 2 when there are 32 channels or more; see drawBN), with
// running means small beside them.
func TestBNStatistics(t *testing.T) {
	m, err := MobileNetV2(Config{Width: 0.5, Resolution: 64, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	var gamma, beta []float32
	bns := 0
	for _, n := range m.Graph.Nodes {
		if n.Op != "BatchNormalization" {
			continue
		}
		bns++
		var p [4][]float32
		for i := range p {
			if p[i], err = n.Input(i + 1).Const.Float32(); err != nil {
				t.Fatal(err)
			}
		}
		gamma, beta = append(gamma, p[0]...), append(beta, p[1]...)
		mean, variance := p[2], p[3]
		lo, hi := slices.Min(variance), slices.Max(variance)
		if lo <= 0 || hi/lo > float32(math.E*math.E)*1.0001 || (len(variance) >= 32 && hi/lo < 2) {
			t.Errorf("%v: running variance spans [%v, %v]", n, lo, hi)
		}
		for _, x := range mean {
			if math.Abs(float64(x)) > 0.6*math.Sqrt(float64(hi)) {
				t.Errorf("%v: running mean %v is large beside variances up to %v", n, x, hi)
				break
			}
		}
	}
	if bns == 0 {
		t.Fatal("no BatchNormalization nodes")
	}
	check := func(what string, v []float32, lo, hi float32) {
		if slices.Min(v) < lo || slices.Max(v) > hi {
			t.Errorf("%s spans [%v, %v], want within [%v, %v]", what, slices.Min(v), slices.Max(v), lo, hi)
		}
		if slices.Max(v)-slices.Min(v) < (hi-lo)/2 {
			t.Errorf("%s spans only [%v, %v]", what, slices.Min(v), slices.Max(v))
		}
	}
	check("gamma", gamma, 0.5, 1.5)
	check("beta", beta, -0.6, 0.6)
}

func TestFoldBN(t *testing.T) {
	// Two output channels of a conv with 3 weights each.
	w := []float64{1, 2, 3, -1, 0, 4}
	p := bnParams{gamma: []float64{2, 0.5}, beta: []float64{1, -1}, mean: []float64{0.5, 2}, variance: []float64{3, 0.25}}
	const eps = 1
	wf, bias := foldBN(w, p, eps)
	s0, s1 := 2/math.Sqrt(4), 0.5/math.Sqrt(1.25)
	wantW := []float64{s0, 2 * s0, 3 * s0, -s1, 0, 4 * s1}
	wantB := []float64{1 - 0.5*s0, -1 - 2*s1}
	for i := range wantW {
		if math.Abs(wf[i]-wantW[i]) > 1e-12 {
			t.Errorf("folded weights %v, want %v", wf, wantW)
			break
		}
	}
	for i := range wantB {
		if math.Abs(bias[i]-wantB[i]) > 1e-12 {
			t.Errorf("folded bias %v, want %v", bias, wantB)
		}
	}
	if w[0] != 1 || p.gamma[0] != 2 {
		t.Error("foldBN modified its inputs")
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Width: -1}, "width"},
		{Config{Width: math.NaN()}, "width"},
		{Config{Resolution: 16}, "resolution"},
		{Config{Classes: -2}, "classes"},
		{Config{InChannels: -1}, "input channels"},
		{Config{Opset: 8}, "opset"},
		{Config{Opset: 22}, "opset"},
		{Config{Batch: -1}, "batch"},
		{Config{BN: 7}, "BN mode"},
		{Config{Style: 9}, "style"},
	}
	for _, tc := range tests {
		for _, name := range Names() {
			_, err := Build(name, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "models: ") {
				t.Errorf("%s(%+v): error %v, want one about %s", name, tc.cfg, err, tc.want)
			}
		}
	}
	if _, err := Build("vgg16", Config{}); err == nil || !strings.Contains(err.Error(), "mobilenetv2") {
		t.Errorf("unknown name: error %v, want one listing the known names", err)
	}
	want := []string{"concatnet", "mobilenetv1", "mobilenetv2", "mobilenetv3-large", "mobilenetv3-small", "resnet"}
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
}

// TestOddResolution builds at sizes that are not multiples of 32, where
// the stride-2 layers see odd inputs.
func TestOddResolution(t *testing.T) {
	for _, name := range Names() {
		for _, style := range []Style{StyleTorch, StyleTF2ONNX} {
			for _, res := range []int{33, 75, 100} {
				m, err := Build(name, Config{Resolution: res, Width: 0.25, Classes: 7, Style: style})
				if err != nil {
					t.Errorf("%s %v at %d: %v", name, style, res, err)
					continue
				}
				if got := m.Graph.Outputs[0].Type.Shape.String(); got != "[N 7]" {
					t.Errorf("%s %v at %d: output %s", name, style, res, got)
				}
			}
		}
	}
}
