package models

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// The fixtures in testdata/torch are real torch.onnx exports of small
// torchvision models (see testdata/export_torch.py and testdata/README.md).

type torchManifest struct {
	Torch       string         `json:"torch"`
	Torchvision string         `json:"torchvision"`
	Opset       int64          `json:"opset"`
	Models      []fixtureEntry `json:"models"`
}

type fixtureEntry struct {
	File        string    `json:"file"`
	Form        string    `json:"form"` // "bn" or "folded"
	InputShape  []int64   `json:"input_shape"`
	TorchParams int64     `json:"torch_params"`
	Output      []float64 `json:"output"` // PyTorch's output on referenceInput
}

// entry returns the manifest entry of file, or nil.
func (m torchManifest) entry(file string) *fixtureEntry {
	for i := range m.Models {
		if m.Models[i].File == file {
			return &m.Models[i]
		}
	}
	return nil
}

func loadManifest(t *testing.T) torchManifest {
	t.Helper()
	data, err := os.ReadFile("testdata/torch/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m torchManifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// referenceInput is export_torch.py's reference input: x[i] = sin(0.1·i).
func referenceInput(t *testing.T, shape []int64) ort.Tensor {
	t.Helper()
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(math.Sin(0.1 * float64(i)))
	}
	x, err := ort.NewFloat32(shape, data)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// fixtureFeatures are the graph patterns each fixture is there to provide,
// as op counts that must be at least the given number.
var fixtureFeatures = map[string]map[string]int{
	"mobilenet_v2_w035":       {"Clip": 35, "Add": 10, "Flatten": 1, "Gemm": 1, "depthwise": 17},
	"mobilenet_v3_small_w035": {"HardSigmoid": 9 + 19, "se": 9, "Add": 6, "Flatten": 1, "Gemm": 2, "depthwise": 11},
	"mobilenet_v3_large_w025": {"HardSigmoid": 8, "se": 8, "Add": 10, "Flatten": 1, "Gemm": 2, "depthwise": 15},
	"resnet18_w0125":          {"Add": 8, "MaxPool": 1, "Shape": 1, "Gather": 1, "Unsqueeze": 1, "Concat": 1, "Reshape": 1, "Gemm": 1},
	"densenet_tiny":           {"Concat": 7, "AveragePool": 2, "MaxPool": 1, "BatchNormalization": 9, "Flatten": 1},
	"inception_tiny":          {"Concat": 2, "MaxPool": 4, "Flatten": 1},
}

func fixtureOps(g *onnxio.Graph) map[string]int {
	ops := map[string]int{"se": seCount(g), "depthwise": depthwiseCount(g)}
	for _, n := range g.Nodes {
		ops[n.Op]++
	}
	return ops
}

// TestTorchFixtures loads every PyTorch export, verifies it, checks every
// inferred shape against onnxruntime, checks onnxruntime's output against
// PyTorch's, and checks the parameter counting convention against torch's.
func TestTorchFixtures(t *testing.T) {
	man := loadManifest(t)
	if man.Opset != 13 || len(man.Models) < 10 {
		t.Fatalf("manifest: opset %d, %d models", man.Opset, len(man.Models))
	}
	onDisk, err := filepath.Glob("testdata/torch/*.onnx")
	if err != nil {
		t.Fatal(err)
	}
	if len(onDisk) != len(man.Models) {
		t.Errorf("%d .onnx files, %d in the manifest", len(onDisk), len(man.Models))
	}
	kept := map[string]*onnxio.Model{}
	folded := map[string]*onnxio.Model{}
	for _, e := range man.Models {
		base := strings.TrimSuffix(e.File, "."+e.Form+".onnx")
		t.Run(e.File, func(t *testing.T) {
			m, err := onnxio.Load(filepath.Join("testdata/torch", e.File))
			if err != nil {
				t.Fatal(err)
			}
			g := m.Graph
			if err := g.Verify(); err != nil {
				t.Fatal(err)
			}
			if m.Opset("") != 13 || len(g.Inputs) != 1 || len(g.Outputs) != 1 {
				t.Fatalf("opset %d, %d inputs, %d outputs", m.Opset(""), len(g.Inputs), len(g.Outputs))
			}
			if in := g.Inputs[0].Type.Shape; in[0].Param == "" || fmt.Sprint(in.Ints()[1:]) != fmt.Sprint(e.InputShape[1:]) {
				t.Errorf("input shape %v, want a dynamic batch and %v", in, e.InputShape[1:])
			}
			ops := fixtureOps(g)
			for op, want := range fixtureFeatures[base] {
				if ops[op] < want {
					t.Errorf("%d %s, want at least %d", ops[op], op, want)
				}
			}
			bnWant := e.Form == "bn" || base == "densenet_tiny"
			if (ops["BatchNormalization"] > 0) != bnWant {
				t.Errorf("form %s has %d BatchNormalization nodes", e.Form, ops["BatchNormalization"])
			}
			switch e.Form {
			case "bn":
				if got := countParams(g); got != e.TorchParams {
					t.Errorf("%d parameters by our convention, torch counts %d", got, e.TorchParams)
				}
				kept[base] = m
			case "folded":
				folded[base] = m
			default:
				t.Errorf("unknown form %q", e.Form)
			}

			checkShapesAgainstORT(t, m)
			got, shape := run(t, m, referenceInput(t, e.InputShape))
			if fmt.Sprint(shape) != fmt.Sprint([]int64{e.InputShape[0], 10}) {
				t.Fatalf("output shape %v", shape)
			}
			want := make([]float32, len(e.Output))
			for i, x := range e.Output {
				want[i] = float32(x)
			}
			if c := closeness(got, want); c > 1 {
				t.Errorf("onnxruntime's output is off PyTorch's by %.3g× the tolerance", c)
			}
		})
	}
	// Folding replaces γ and β by one bias per folded BN channel.
	for base, k := range kept {
		f := folded[base]
		if f == nil {
			t.Errorf("%s: no folded form", base)
			continue
		}
		dk, df := bnChannels(k.Graph), bnChannels(f.Graph)
		if d := countParams(k.Graph) - countParams(f.Graph); d != dk-df {
			t.Errorf("%s: kept − folded = %d parameters, want %d", base, d, dk-df)
		}
	}
}

// TestBuildersMatchTorchvision checks that our builders produce the same
// layers as torchvision: at the fixtures' widths, the same sequence of
// operators (ignoring torch's Constant and deduplicating Identity nodes),
// the same Conv and Gemm weight shapes and Conv attributes in order, and
// torch's parameter count.
func TestBuildersMatchTorchvision(t *testing.T) {
	man := loadManifest(t)
	tests := []struct {
		fixture string
		build   func(Config) (*onnxio.Model, error)
		width   float64
	}{
		{"mobilenet_v2_w035", MobileNetV2, 0.35},
		{"mobilenet_v3_small_w035", MobileNetV3Small, 0.35},
		{"mobilenet_v3_large_w025", MobileNetV3Large, 0.25},
		{"resnet18_w0125", ResNet, 0.125},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			form := "bn"
			e := man.entry(tc.fixture + ".bn.onnx")
			if e == nil {
				form = "folded"
				e = man.entry(tc.fixture + ".folded.onnx")
			}
			if e == nil {
				t.Fatalf("no fixture %s", tc.fixture)
			}
			tm, err := onnxio.Load(filepath.Join("testdata/torch", e.File))
			if err != nil {
				t.Fatal(err)
			}
			if err := tm.Graph.InferShapes(); err != nil {
				t.Fatal(err)
			}
			bn := BNKept
			if form == "folded" {
				bn = BNFolded
			}
			om, err := tc.build(Config{Width: tc.width, Resolution: int(e.InputShape[2]), Classes: 10, Opset: 13, BN: bn})
			if err != nil {
				t.Fatal(err)
			}
			if got := countParams(om.Graph); form == "bn" && got != e.TorchParams {
				t.Errorf("%d parameters, torchvision has %d", got, e.TorchParams)
			}
			if got, want := countParams(om.Graph), countParams(tm.Graph); got != want {
				t.Errorf("%d parameters, the %s export has %d", got, form, want)
			}
			if got, want := countMACs(om.Graph), countMACs(tm.Graph); got != want {
				t.Errorf("%d MACs, the export has %d", got, want)
			}
			ours, theirs := layerSignature(om.Graph), layerSignature(tm.Graph)
			if len(ours) != len(theirs) {
				t.Errorf("%d operators, the export has %d", len(ours), len(theirs))
			}
			for i := range min(len(ours), len(theirs)) {
				if ours[i] != theirs[i] {
					t.Errorf("operator %d: ours %s, the export's %s", i, ours[i], theirs[i])
					break
				}
			}
		})
	}
}

// layerSignature lists a graph's operators in order, with weight shapes
// and the attributes that define Conv and pooling windows; torch's
// Constant and Identity nodes are left out.
func layerSignature(g *onnxio.Graph) []string {
	var out []string
	for _, n := range g.Nodes {
		switch n.Op {
		case "Constant", "Identity":
			continue
		case "Conv", "Gemm":
			out = append(out, fmt.Sprintf("%s w%v bias=%v group=%d strides=%v pads=%v", n.Op,
				n.Input(1).Type.Shape, n.Input(2) != nil, n.AttrInt("group", 1), n.AttrInts("strides"), n.AttrInts("pads")))
		case "MaxPool", "AveragePool":
			out = append(out, fmt.Sprintf("%s k%v strides=%v pads=%v", n.Op, n.AttrInts("kernel_shape"), n.AttrInts("strides"), n.AttrInts("pads")))
		default:
			out = append(out, fmt.Sprintf("%s → %v", n.Op, n.Output(0).Type.Shape))
		}
	}
	return out
}
