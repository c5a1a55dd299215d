package lut

import (
	"fmt"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxpb"
	"github.com/onnx-adapt/onnx-adapt/models"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// buildModel builds a reference model at a small resolution with batch 1.
func buildModel(t testing.TB, name string, cfg models.Config) *onnxio.Model {
	t.Helper()
	if cfg.Resolution == 0 {
		cfg.Resolution = 32
	}
	if cfg.Batch == 0 {
		cfg.Batch = 1
	}
	m, err := models.Build(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// unitSummary counts units by a short description: "conv dw +bn +Clip(0,6)"
// and so on (kind, group, fusions, activation).
func unitSummary(units []*Unit) map[string]int {
	out := map[string]int{}
	for _, u := range units {
		k := u.Key()
		if k.Op == OpFree {
			out["free "+k.Extra]++
			continue
		}
		s := k.Op
		if k.Group != "" {
			s += " " + k.Group
		}
		if k.BN {
			s += " +bn"
		}
		if k.Add {
			s += " +add"
		}
		if k.Act != "" {
			s += " +" + k.Act
		}
		if (k.Op == OpMul || k.Op == OpAdd || k.Op == OpGemm) && k.Extra != "" {
			s += " [" + k.Extra + "]"
		}
		out[s]++
	}
	return out
}

func TestUnitsPartitionReferenceModels(t *testing.T) {
	const relu6 = "Clip(0,6)"
	hsig := "HardSigmoid(" + fmt.Sprint(float32(1.0/6)) + ",0.5)"
	tests := []struct {
		model string
		cfg   models.Config
		want  map[string]int // non-free units by summary
	}{
		{"mobilenetv1", models.Config{}, map[string]int{
			"conv dense +bn +" + relu6: 14, // stem + 13 pointwise
			"conv dw +bn +" + relu6:    13,
			"gap":                      1,
			"gemm [flatten]":           1,
		}},
		{"mobilenetv1", models.Config{BN: models.BNFolded}, map[string]int{
			"conv dense +" + relu6: 14,
			"conv dw +" + relu6:    13,
			"gap":                  1,
			"gemm [flatten]":       1,
		}},
		{"mobilenetv2", models.Config{}, map[string]int{
			"conv dense +bn +" + relu6: 1 + 16 + 1, // stem, 16 expansions, last 1×1
			"conv dw +bn +" + relu6:    17,
			"conv dense +bn":           17 - 10, // projections without a residual
			"conv dense +bn +add":      10,      // projections with a residual Add
			"gap":                      1,
			"gemm [flatten]":           1,
		}},
		// At 64×64 the last stage is still 2×2, so the squeeze-excite Mul
		// broadcasts (at 1×1 both operands would be "chw").
		{"mobilenetv3-small", models.Config{Resolution: 64}, map[string]int{
			"conv dense +bn +HardSwish": 1 + 8 + 1, // stem, 8 hard-swish expansions, last 1×1
			"conv dense +bn +Relu":      2,         // ReLU expansions of blocks 2 and 3
			"conv dw +bn +Relu":         3,
			"conv dw +bn +HardSwish":    8,
			"conv dense +bn":            11 - 6, // projections without a residual
			"conv dense +bn +add":       6,
			"conv dense +Relu":          9,     // squeeze-excite fc1
			"conv dense +" + hsig:       9,     // squeeze-excite fc2
			"gap":                       9 + 1, // squeeze-excite pools and the head's
			"mul [Mul c11,chw]":         9,     // squeeze-excite scaling
			"gemm +HardSwish [flatten]": 1,     // classifier.0 + hard-swish
			"gemm":                      1,     // classifier.3
		}},
		// Before opset 14, hard-swish is exported as x·HardSigmoid(x): the
		// same units.
		{"mobilenetv3-small", models.Config{Resolution: 64, Opset: 13}, map[string]int{
			"conv dense +bn +HardSwish": 10, "conv dense +bn +Relu": 2, "conv dw +bn +Relu": 3,
			"conv dw +bn +HardSwish": 8, "conv dense +bn": 5, "conv dense +bn +add": 6,
			"conv dense +Relu": 9, "conv dense +" + hsig: 9, "gap": 10, "mul [Mul c11,chw]": 9,
			"gemm +HardSwish [flatten]": 1, "gemm": 1,
		}},
		{"mobilenetv3-large", models.Config{Resolution: 64}, map[string]int{
			"conv dense +bn +HardSwish": 1 + 9 + 1,
			"conv dense +bn +Relu":      5,
			"conv dw +bn +Relu":         6,
			"conv dw +bn +HardSwish":    9,
			"conv dense +bn":            15 - 10,
			"conv dense +bn +add":       10,
			"conv dense +Relu":          8,
			"conv dense +" + hsig:       8,
			"gap":                       8 + 1,
			"mul [Mul c11,chw]":         8,
			"gemm +HardSwish [flatten]": 1,
			"gemm":                      1,
		}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/opset%d/%v", tc.model, tc.cfg.Opset, tc.cfg.BN), func(t *testing.T) {
			m := buildModel(t, tc.model, tc.cfg)
			units, err := Units(m.Graph)
			if err != nil {
				t.Fatal(err)
			}
			got := unitSummary(units)
			for k := range got {
				if strings.HasPrefix(k, "free ") {
					delete(got, k)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("units:\n got  %v\n want %v", got, tc.want)
			}
			checkPartition(t, m.Graph, units)
		})
	}
}

// checkPartition checks that every node is in exactly one unit, and that no
// BatchNormalization or fusable activation was left on its own after a Conv.
func checkPartition(t *testing.T, g *onnxio.Graph, units []*Unit) {
	t.Helper()
	seen := map[*onnxio.Node]int{}
	for _, u := range units {
		for _, n := range u.Nodes {
			seen[n]++
		}
		if u.Key().Op != OpFree && u.Output == nil {
			t.Errorf("unit %v has no output", u)
		}
	}
	for _, n := range g.Nodes {
		if seen[n] != 1 {
			t.Errorf("%v is in %d units, want 1", n, seen[n])
		}
	}
	for _, u := range units {
		if len(u.Nodes) == 1 && (u.Nodes[0].Op == "BatchNormalization" || u.Nodes[0].Op == "Relu" || u.Nodes[0].Op == "Clip") {
			t.Errorf("%v stands alone; it should have fused into the unit before it", u.Nodes[0])
		}
	}
}

func TestUnitsTorchExports(t *testing.T) {
	// Real PyTorch exports (opset 13, Identity-shared weights, Constant
	// clip bounds): every Conv fuses its BN and activation.
	for _, file := range []string{"mobilenet_v2_w035.bn.onnx", "mobilenet_v3_small_w035.bn.onnx", "resnet18_w0125.bn.onnx", "mobilenet_v2_w035.folded.onnx"} {
		t.Run(file, func(t *testing.T) {
			m, err := onnxio.Load("../models/testdata/torch/" + file)
			if err != nil {
				t.Fatal(err)
			}
			units, err := Units(m.Graph)
			if err != nil {
				t.Fatal(err)
			}
			checkPartition(t, m.Graph, units)
			convs := 0
			for _, n := range m.Graph.Nodes {
				if n.Op == "Conv" {
					convs++
				}
			}
			got := unitSummary(units)
			nconv := 0
			for k, c := range got {
				if strings.HasPrefix(k, "conv ") {
					nconv += c
				}
				if strings.HasPrefix(k, "node ") || k == "act" {
					t.Errorf("unexpected unit %q ×%d", k, c)
				}
			}
			if nconv != convs {
				t.Errorf("%d conv units for %d Conv nodes: %v", nconv, convs, got)
			}
			if strings.HasPrefix(file, "resnet") && got["conv dense +bn +add +Relu"] != 8 {
				t.Errorf("resnet18: want 8 convolutions with a fused residual Add and Relu, got %v", got)
			}
		})
	}
}

func TestKeysSharedAcrossLayersAndWidths(t *testing.T) {
	m := buildModel(t, "mobilenetv2", models.Config{Resolution: 64})
	units, err := Units(m.Graph)
	if err != nil {
		t.Fatal(err)
	}
	distinct := map[Key]int{}
	for _, u := range units {
		if !u.Free() {
			distinct[u.Key()]++
		}
	}
	// Blocks 5–6 (two repeats of the 28×28 32→192→32 block) share their three keys.
	shared := 0
	for _, n := range distinct {
		if n > 1 {
			shared++
		}
	}
	if shared < 6 {
		t.Errorf("only %d keys are shared between identical layers; want at least 6", shared)
	}
	// A unit asked for other channels gives the key of the unit that has
	// them in a narrower model: α=0.75 rounds 32→24 channels, 192→144.
	narrow := buildModel(t, "mobilenetv2", models.Config{Resolution: 64, Width: 0.75})
	nunits, err := Units(narrow.Graph)
	if err != nil {
		t.Fatal(err)
	}
	if len(nunits) != len(units) {
		t.Fatalf("%d units at α=0.75, %d at α=1", len(nunits), len(units))
	}
	for i, u := range units {
		nk := nunits[i].Key()
		if u.Free() {
			continue
		}
		if got := u.KeyFor(nk.Cin, nk.Cout); got != nk {
			t.Errorf("unit %d: KeyFor(%d, %d) = %v, want %v", i, nk.Cin, nk.Cout, got, nk)
		}
		if u.Key().family() != nk.family() {
			t.Errorf("unit %d: families differ: %v vs %v", i, u.Key(), nk)
		}
	}
	// Depthwise keys take one channel count.
	for _, u := range units {
		if k := u.Key(); k.Group == GroupDepthwise {
			if got := u.KeyFor(999, 40); got.Cin != 40 || got.Cout != 40 {
				t.Errorf("depthwise KeyFor(999, 40) = %v, want 40→40", got)
			}
			break
		}
	}
}

func TestKeyString(t *testing.T) {
	k := Key{Op: OpConv, Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pads: [4]int{1, 1, 1, 1}, Dilation: [2]int{1, 1},
		Group: GroupDepthwise, Batch: 1, H: 112, W: 112, Cin: 32, Cout: 32, BN: true, Act: "Clip(0,6)"}
	if got, want := k.String(), "conv k3x3 s2x2 p1,1,1,1 dw 112x112 c32→32 +bn +Clip(0,6)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestUnitModelRoundTrip builds the single-unit model of each kind of key,
// partitions it again and checks it is one unit with the same key, then
// runs it once in onnxruntime.
func TestUnitModelRoundTrip(t *testing.T) {
	conv := Key{Op: OpConv, Kernel: [2]int{3, 3}, Stride: [2]int{1, 1}, Pads: [4]int{1, 1, 1, 1}, Dilation: [2]int{1, 1},
		Group: GroupDense, Batch: 1, H: 8, W: 8, Cin: 8, Cout: 16}
	with := func(k Key, f func(*Key)) Key { f(&k); return k }
	keys := []Key{
		conv,
		with(conv, func(k *Key) { k.BN, k.Act = true, "Clip(0,6)" }),
		with(conv, func(k *Key) { k.BN, k.Add, k.Act = true, true, "Relu" }),
		with(conv, func(k *Key) { k.Group, k.Cin, k.Cout, k.Act = GroupDepthwise, 16, 16, "HardSwish" }),
		with(conv, func(k *Key) { k.Group, k.Act = "g4", "LeakyRelu(0.1)" }),
		with(conv, func(k *Key) { k.Stride, k.Pads, k.Act = [2]int{2, 2}, [4]int{0, 0, 1, 1}, "HardSigmoid(0.2,0.5)" }),
		with(conv, func(k *Key) { k.Dilation, k.Pads, k.Act = [2]int{2, 2}, [4]int{2, 2, 2, 2}, "Sigmoid" }),
		{Op: OpGemm, Batch: 1, H: 1, W: 1, Cin: 32, Cout: 10},
		{Op: OpGemm, Batch: 1, H: 2, W: 2, Cin: 8, Cout: 10, Extra: "flatten", Act: "Relu"},
		{Op: OpGemm, Batch: 1, H: 1, W: 1, Cin: 32, Cout: 10, Extra: "matmul,bias"},
		{Op: OpGemm, Batch: 1, H: 1, W: 1, Cin: 32, Cout: 10, Extra: "notransB,nobias"},
		{Op: OpMaxPool, Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pads: [4]int{1, 1, 1, 1}, Dilation: [2]int{1, 1}, Batch: 1, H: 8, W: 8, Cin: 8, Cout: 8},
		{Op: OpAvgPool, Kernel: [2]int{2, 2}, Stride: [2]int{2, 2}, Dilation: [2]int{1, 1}, Batch: 1, H: 8, W: 8, Cin: 8, Cout: 8, Extra: "count_include_pad,ceil"},
		{Op: OpGAP, Batch: 1, H: 8, W: 8, Cin: 8, Cout: 8},
		{Op: OpGMP, Batch: 1, H: 8, W: 8, Cin: 8, Cout: 8},
		{Op: OpMul, Batch: 1, H: 8, W: 8, Cin: 8, Cout: 8, Extra: "Mul c11,chw"},
		{Op: OpAdd, Batch: 1, H: 8, W: 8, Cin: 8, Cout: 8, Extra: "Add chw,chw", Act: "Relu"},
		{Op: OpAdd, Batch: 1, H: 8, W: 8, Cin: 8, Cout: 8, Extra: "Sub chw,const-c11"},
		{Op: OpAct, Batch: 1, H: 8, W: 8, Cin: 8, Cout: 8, Act: "Tanh"},
		{Op: OpConcat, Batch: 1, H: 8, W: 8, Cin: 24, Cout: 24, Extra: "8+16"},
	}
	for _, k := range keys {
		t.Run(k.String(), func(t *testing.T) {
			data, err := UnitModel(k, nil)
			if err != nil {
				t.Fatal(err)
			}
			m, err := onnxio.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			units, err := Units(m.Graph)
			if err != nil {
				t.Fatal(err)
			}
			var got []Key
			for _, u := range units {
				if !u.Free() {
					got = append(got, u.Key())
				}
			}
			if len(got) != 1 || got[0] != k {
				t.Errorf("units of the built model: %v, want [%v]", got, k)
			}
			runOnce(t, data)
		})
	}
	// Reorders and the overhead model are not ONNX units but must run.
	for _, k := range []Key{reorderKey(OpReorderIn, 1, 16, 4, 4), reorderKey(OpReorderPair, 1, 12, 4, 4), overheadKey} {
		data, err := UnitModel(k, nil)
		if err != nil {
			t.Fatal(err)
		}
		runOnce(t, data)
	}
}

// TestUnitsConstantForms checks that a Conv unit fuses as usual when its
// parameters are constants in ONNX's other forms (onnxio.ConstValue): a bias
// given as Constant value_floats, BatchNormalization parameters behind
// Identity, Clip bounds as an Identity of an initializer and as
// value_float.
func TestUnitsConstantForms(t *testing.T) {
	m := onnxio.NewModel(13)
	g := m.Graph
	x := g.AddInput("x", onnxio.Type{Elem: onnxio.Float, Shape: onnxio.ShapeOf(1, 3, 8, 8), HasShape: true})
	init := func(name string, dims []int64, v float32) *onnxio.Value {
		n := int64(1)
		for _, d := range dims {
			n *= d
		}
		f := make([]float32, n)
		for i := range f {
			f[i] = v
		}
		t, _ := onnxio.NewFloat32Tensor(dims, f)
		return g.AddInitializer(name, t)
	}
	node := func(op string, ins []*onnxio.Value, attrs ...*onnxpb.AttributeProto) *onnxio.Value {
		return g.AddNode(op, op+fmt.Sprint(len(g.Nodes)), ins, []string{op}, attrs...).Output(0)
	}
	id := func(v *onnxio.Value) *onnxio.Value { return node("Identity", []*onnxio.Value{v}) }
	bias := node("Constant", nil, onnxio.AttrFloats("value_floats", []float32{0, 1, 2, 3}))
	y := node("Conv", []*onnxio.Value{x, init("w", []int64{4, 3, 3, 3}, 0.1), bias}, onnxio.AttrInts("pads", []int64{1, 1, 1, 1}))
	y = node("BatchNormalization", []*onnxio.Value{y, id(init("s", []int64{4}, 1)), id(init("b", []int64{4}, 0)), init("m", []int64{4}, 0), id(id(init("v", []int64{4}, 1)))})
	y = node("Clip", []*onnxio.Value{y, id(init("lo", nil, 0)), node("Constant", nil, onnxio.AttrFloat("value_float", 6))})
	g.Outputs = append(g.Outputs, y)
	units, err := Units(g)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range units {
		if !u.Free() {
			got = append(got, fmt.Sprintf("%s bn=%v act=%s", u.Key().Op, u.Key().BN, u.Key().Act))
		}
	}
	if want := []string{"conv bn=true act=Clip(0,6)"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("units %v, want %v", got, want)
	}
}
