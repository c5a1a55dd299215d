package surgery

import (
	"strings"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// Small graphs, each exercising some operators. They are checked against
// the oracle in onnxruntime (TestSmallNetsOracle) and their group
// structure is asserted (TestSmallNetsGroups).

type smallNet struct {
	name  string
	build func(b *tg) *onnxio.Model
	// check inspects the analysis (nil: nothing beyond the oracle).
	check func(tb testingTB, a *Analysis)
}

// testingTB is the part of testing.TB the checks use.
type testingTB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

var smallNets = []smallNet{
	{"inverted-residual", func(b *tg) *onnxio.Model {
		// MobileNetV2 blocks with BN kept: stem, two residual blocks, head.
		x := b.input(2, 3, 16, 16)
		x = b.op("Clip", []*onnxio.Value{b.bn(b.conv(x, 8, 3, 2, 1, false)), b.scalar(0), b.scalar(6)})
		for range 2 {
			h := b.relu(b.bn(b.conv(x, 24, 1, 1, 1, false)))
			h = b.relu(b.bn(b.conv(h, 24, 3, 1, 24, false)))
			h = b.bn(b.conv(h, 8, 1, 1, 1, false))
			x = b.op("Add", []*onnxio.Value{x, h})
		}
		return b.output(b.gemm(b.flatten(b.gap(b.conv(x, 32, 1, 1, 1, true))), 10))
	}, func(tb testingTB, a *Analysis) {
		// stem+residual chain, two expansions (dw in them), head conv, logits.
		wantGroups(tb, a, []int{8, 24, 24, 32, 10}, []string{"", "", "", "", "graph output"})
		if n := len(a.Groups[0].Roots); n != 3 {
			tb.Errorf("residual group has %d roots, want 3 (stem and two projections)", n)
		}
	}},
	{"squeeze-excite", func(b *tg) *onnxio.Model {
		// MobileNetV3 block: HardSwish, depthwise, SE with HardSigmoid.
		x := b.input(2, 4, 12, 12)
		x = b.op("HardSwish", []*onnxio.Value{b.conv(x, 16, 3, 1, 1, true)})
		d := b.op("HardSwish", []*onnxio.Value{b.conv(x, 16, 3, 1, 16, true)})
		s := b.relu(b.conv(b.gap(d), 8, 1, 1, 1, true))
		s = b.op("HardSigmoid", []*onnxio.Value{b.conv(s, 16, 1, 1, 1, true)},
			onnxio.AttrFloat("alpha", 1.0/6), onnxio.AttrFloat("beta", 0.5))
		y := b.op("Mul", []*onnxio.Value{s, d})
		y = b.conv(y, 16, 1, 1, 1, true)
		y = b.op("Add", []*onnxio.Value{y, x})
		return b.output(b.gemm(b.flatten(b.gap(y)), 5))
	}, func(tb testingTB, a *Analysis) {
		// stem+residual (16), SE inner (8), logits; the SE expand conv is a
		// root of the stem's group since depthwise passes it through.
		wantGroups(tb, a, []int{16, 8, 5}, []string{"", "", "graph output"})
		if n := len(a.Groups[0].Roots); n != 3 {
			tb.Errorf("group 0 has roots %v, want stem, SE expand and projection", a.Groups[0].Roots)
		}
	}},
	{"concat-split-slice", func(b *tg) *onnxio.Model {
		x := b.input(2, 3, 8, 8)
		p := b.relu(b.conv(x, 6, 3, 1, 1, true))
		q := b.relu(b.conv(x, 5, 3, 1, 1, true))
		c := b.op("Concat", []*onnxio.Value{p, q, p}, onnxio.AttrInt("axis", 1))
		c = b.op("MaxPool", []*onnxio.Value{c}, onnxio.AttrInts("kernel_shape", []int64{2, 2}), onnxio.AttrInts("strides", []int64{2, 2}))
		r := b.conv(c, 12, 1, 1, 1, true)
		parts := b.opN("Split", []*onnxio.Value{r, b.ints(4, 8)}, 2, onnxio.AttrInt("axis", 1))
		u := b.conv(parts[0], 4, 3, 1, 1, true)
		v := b.conv(parts[1], 4, 3, 1, 1, true)
		sl := b.op("Slice", []*onnxio.Value{r, b.ints(3), b.ints(9), b.ints(1)})
		w := b.conv(b.relu(sl), 4, 1, 1, 1, false)
		y := b.op("Concat", []*onnxio.Value{u, v, w, c}, onnxio.AttrInt("axis", 1))
		return b.output(b.gemm(b.flatten(b.gap(y)), 3))
	}, func(tb testingTB, a *Analysis) {
		wantGroups(tb, a, []int{6, 5, 12, 4, 4, 4, 3}, []string{"", "", "", "", "", "", "graph output"})
	}},
	{"flatten-hw-gemm", func(b *tg) *onnxio.Model {
		x := b.input(2, 3, 8, 8)
		x = b.relu(b.conv(x, 6, 3, 2, 1, true)) // 4×4
		h := b.op("Sigmoid", []*onnxio.Value{b.gemm(b.flatten(x), 7)})
		return b.output(b.gemm(h, 3))
	}, func(tb testingTB, a *Analysis) {
		wantGroups(tb, a, []int{6, 7, 3}, []string{"", "", "graph output"})
		found := false
		for _, m := range a.Groups[0].Members {
			if m.Kind == "input" && m.Inner == 16 {
				found = true
			}
		}
		if !found {
			tb.Errorf("no Gemm input member with 16 features per channel: %+v", a.Groups[0].Members)
		}
	}},
	{"nhwc-reshape-matmul", func(b *tg) *onnxio.Model {
		// tf2onnx: NHWC input, Transposes, constant-shape Reshape, MatMul+Add, Softmax.
		x := b.input(2, 8, 8, 3)
		x = b.op("Transpose", []*onnxio.Value{x}, onnxio.AttrInts("perm", []int64{0, 3, 1, 2}))
		x = b.op("Clip", []*onnxio.Value{b.conv(x, 6, 3, 2, 1, true), b.scalar(0), b.scalar(6)})
		x = b.op("Transpose", []*onnxio.Value{x}, onnxio.AttrInts("perm", []int64{0, 2, 3, 1})) // [2,4,4,6]
		f := b.op("Reshape", []*onnxio.Value{x, b.ints(-1, 96)})
		h := b.op("Add", []*onnxio.Value{b.op("MatMul", []*onnxio.Value{f, b.w(96, 7)}), b.w(7)})
		h = b.relu(h)
		y := b.op("Add", []*onnxio.Value{b.op("MatMul", []*onnxio.Value{h, b.w(7, 4)}), b.w(4)})
		return b.output(b.op("Softmax", []*onnxio.Value{y}, onnxio.AttrInt("axis", 1)))
	}, func(tb testingTB, a *Analysis) {
		wantGroups(tb, a, []int{6, 7, 4}, []string{"", "", "graph output"})
		found := false
		for _, m := range a.Groups[0].Members {
			if m.Kind == "input" && m.Outer == 16 && m.Period == 6 {
				found = true
			}
		}
		if !found {
			tb.Errorf("no MatMul input member with 16 repeats of 6 channels: %+v", a.Groups[0].Members)
		}
		shapes := 0
		for _, m := range a.Groups[0].Members {
			if m.Kind == "shape" {
				shapes++
			}
		}
		if shapes != 1 {
			tb.Errorf("%d shape members, want 1 (the 96 of the [-1, 96] reshape)", shapes)
		}
	}},
	{"torch-view-chain", func(b *tg) *onnxio.Model {
		// x.view(x.size(0), -1) and x.view(n, c, -1) as torch exports them.
		x := b.input(2, 3, 8, 8)
		x = b.relu(b.conv(x, 6, 3, 2, 1, false))
		sh := b.op("Shape", []*onnxio.Value{x})
		n0 := b.op("Unsqueeze", []*onnxio.Value{b.op("Gather", []*onnxio.Value{sh, b.g.AddInitializer(b.name("i"), must(onnxio.NewInt64Tensor(nil, []int64{0})))}, onnxio.AttrInt("axis", 0)), b.ints(0)})
		c1 := b.op("Unsqueeze", []*onnxio.Value{b.op("Gather", []*onnxio.Value{sh, b.g.AddInitializer(b.name("i"), must(onnxio.NewInt64Tensor(nil, []int64{1})))}, onnxio.AttrInt("axis", 0)), b.ints(0)})
		v3 := b.op("Reshape", []*onnxio.Value{x, b.op("Concat", []*onnxio.Value{n0, c1, b.constNode(-1)}, onnxio.AttrInt("axis", 0))})
		m := b.op("ReduceMean", []*onnxio.Value{v3}, onnxio.AttrInts("axes", []int64{2}), onnxio.AttrInt("keepdims", 0)) // [2,6]
		flat := b.op("Reshape", []*onnxio.Value{x, b.op("Concat", []*onnxio.Value{n0, b.constNode(-1)}, onnxio.AttrInt("axis", 0))})
		h := b.op("Concat", []*onnxio.Value{b.gemm(flat, 5), b.gemm(m, 4)}, onnxio.AttrInt("axis", 1))
		return b.output(b.gemm(b.relu(h), 3))
	}, func(tb testingTB, a *Analysis) {
		wantGroups(tb, a, []int{6, 5, 4, 3}, []string{"", "", "", "graph output"})
	}},
	{"reshape-names-channels", func(b *tg) *onnxio.Model {
		// A constant target shape that names the channel count: rewritten.
		x := b.input(2, 3, 8, 8)
		x = b.relu(b.conv(x, 6, 3, 1, 1, true))
		r := b.op("Reshape", []*onnxio.Value{b.gap(x), b.constNode(2, 6)})
		e := b.op("Reshape", []*onnxio.Value{b.relu(b.gemm(r, 5)), b.ints(0, 5, 1, 1)})
		y := b.op("Mul", []*onnxio.Value{b.conv(x, 5, 1, 1, 1, true), e})
		return b.output(b.gemm(b.flatten(b.gap(y)), 3))
	}, func(tb testingTB, a *Analysis) {
		wantGroups(tb, a, []int{6, 5, 3}, []string{"", "", "graph output"})
		n := 0
		for _, g := range a.Groups {
			for _, m := range g.Members {
				if m.Kind == "shape" {
					n++
				}
			}
		}
		if n != 2 {
			tb.Errorf("%d shape members, want 2 (the 6 and the 5)", n)
		}
	}},
	{"grouped-and-multiplier", func(b *tg) *onnxio.Model {
		x := b.input(2, 4, 8, 8)
		x = b.relu(b.conv(x, 8, 3, 1, 1, true))
		g := b.relu(b.conv(x, 8, 3, 1, 2, true))                                                                         // grouped: freezes x's group and its own
		d := b.op("PRelu", []*onnxio.Value{b.bn(b.conv(b.conv(g, 6, 1, 1, 1, true), 12, 3, 1, 6, true)), b.w(12, 1, 1)}) // depthwise ×2
		y := b.conv(d, 5, 1, 1, 1, false)
		return b.output(b.gemm(b.flatten(b.gap(y)), 3))
	}, func(tb testingTB, a *Analysis) {
		wantGroups(tb, a, []int{8, 8, 6, 5, 3}, []string{"grouped conv", "grouped conv", "", "", "graph output"})
	}},
	{"per-channel-constants", func(b *tg) *onnxio.Model {
		x := b.input(2, 3, 8, 8)
		x = b.conv(x, 6, 3, 1, 1, false)
		x = b.op("Mul", []*onnxio.Value{x, b.w(1, 6, 1, 1)})
		x = b.op("Add", []*onnxio.Value{b.w(6, 1, 1), x})
		x = b.op("Div", []*onnxio.Value{x, b.scalar(2)})
		x = b.op("InstanceNormalization", []*onnxio.Value{x, b.w(6), b.w(6)})
		x = b.op("LeakyRelu", []*onnxio.Value{x})
		x = b.op("Sub", []*onnxio.Value{x, b.w(6, 8, 8)})
		x = b.op("Max", []*onnxio.Value{x, b.relu(b.conv(b.input(2, 2, 8, 8), 6, 1, 1, 1, true))})
		return b.output(b.gemm(b.flatten(b.gap(x)), 3))
	}, func(tb testingTB, a *Analysis) {
		wantGroups(tb, a, []int{6, 3}, []string{"", "graph output"})
	}},
	{"pad-pool-resize", func(b *tg) *onnxio.Model {
		x := b.input(2, 3, 8, 8)
		x = b.relu(b.conv(x, 6, 3, 1, 1, true))
		x = b.op("Pad", []*onnxio.Value{x, b.ints(0, 0, 1, 1, 0, 0, 1, 1)}, onnxio.AttrString("mode", "reflect"))
		x = b.op("AveragePool", []*onnxio.Value{x}, onnxio.AttrInts("kernel_shape", []int64{3, 3}))
		up := b.op("Resize", []*onnxio.Value{x, nil, b.g.AddInitializer(b.name("sc"), must(onnxio.NewFloat32Tensor([]int64{4}, []float32{1, 1, 2, 2})))}, onnxio.AttrString("mode", "nearest"))
		sz := b.op("Resize", []*onnxio.Value{x, nil, nil, b.ints(2, 6, 8, 8)}, onnxio.AttrString("mode", "linear"))
		y := b.op("Concat", []*onnxio.Value{b.op("MaxPool", []*onnxio.Value{up}, onnxio.AttrInts("kernel_shape", []int64{4, 4}), onnxio.AttrInts("strides", []int64{4, 4})), b.op("AveragePool", []*onnxio.Value{sz}, onnxio.AttrInts("kernel_shape", []int64{2, 2}), onnxio.AttrInts("strides", []int64{2, 2}))}, onnxio.AttrInt("axis", 1))
		y = b.op("ReduceMean", []*onnxio.Value{y}, onnxio.AttrInts("axes", []int64{2, 3}), onnxio.AttrInt("keepdims", 0))
		return b.output(b.gemm(y, 3))
	}, func(tb testingTB, a *Analysis) {
		wantGroups(tb, a, []int{6, 3}, []string{"", "graph output"})
	}},
	{"freezes-what-it-cannot-map", func(b *tg) *onnxio.Model {
		in := b.input(2, 3, 8, 8)
		x := b.relu(b.conv(in, 8, 3, 1, 1, true))
		s := b.op("Softmax", []*onnxio.Value{b.conv(x, 6, 1, 1, 1, true)}, onnxio.AttrInt("axis", 1)) // over channels
		// onnxio's shape inference does not know DepthToSpace: declare its output.
		d := b.opTyped("DepthToSpace", []*onnxio.Value{b.conv(x, 8, 1, 1, 1, true)}, []int64{2, 2, 16, 16}, onnxio.AttrInt("blocksize", 2))
		d = b.op("MaxPool", []*onnxio.Value{d}, onnxio.AttrInts("kernel_shape", []int64{2, 2}), onnxio.AttrInts("strides", []int64{2, 2}))
		c := b.op("Concat", []*onnxio.Value{in, b.relu(b.conv(x, 5, 1, 1, 1, true)), d}, onnxio.AttrInt("axis", 1))
		y := b.conv(b.op("Concat", []*onnxio.Value{s, c}, onnxio.AttrInt("axis", 1)), 4, 1, 1, 1, true)
		return b.output(b.gemm(b.flatten(b.gap(y)), 3))
	}, func(tb testingTB, a *Analysis) {
		// x, the softmax conv, the DepthToSpace conv, the 5-channel branch,
		// the graph input and DepthToSpace output (not tracked), head, logits.
		wantGroups(tb, a, []int{8, 6, 8, 5, 3, 2, 4, 3},
			[]string{"", "Softmax", "DepthToSpace", "", "not tracked", "not tracked", "", "graph output"})
	}},
}

func init() {
	smallNets = append(smallNets,
		smallNet{"shuffle-squeeze-dropout", func(b *tg) *onnxio.Model {
			// ShuffleNet's channel shuffle mixes channels: it must freeze.
			x := b.input(2, 3, 8, 8)
			x = b.relu(b.conv(x, 8, 3, 1, 1, true))
			s := b.op("Reshape", []*onnxio.Value{x, b.ints(2, 2, 4, 8, 8)})
			s = b.op("Transpose", []*onnxio.Value{s}, onnxio.AttrInts("perm", []int64{0, 2, 1, 3, 4}))
			s = b.op("Reshape", []*onnxio.Value{s, b.ints(2, 8, 8, 8)})
			y := b.op("Dropout", []*onnxio.Value{b.conv(s, 6, 3, 1, 1, true)})
			y = b.op("Identity", []*onnxio.Value{y})
			y = b.op("Squeeze", []*onnxio.Value{b.gap(y), b.ints(2, 3)})
			return b.output(b.gemm(y, 3))
		}, func(tb testingTB, a *Analysis) {
			wantGroups(tb, a, []int{8, 6, 3}, []string{"mixes the channel axis", "", "graph output"})
		}},
		smallNet{"constant-forms", func(b *tg) *onnxio.Model {
			// Constants in ONNX's attribute forms other than value, one
			// behind an Identity: surgery reads and rewrites them as it does
			// initializers (onnxio.ConstValue, onnxio.SetConst).
			x := b.input(2, 3, 8, 8)
			x = b.relu(b.conv(x, 6, 3, 1, 1, true))
			shape := b.op("Identity", []*onnxio.Value{b.op("Constant", nil, onnxio.AttrInts("value_ints", []int64{2, 6}))})
			r := b.op("Reshape", []*onnxio.Value{b.gap(x), shape})
			scale := b.op("Constant", nil, onnxio.AttrFloats("value_floats", []float32{0.5, 1, 1.5, 2, 2.5}))
			h := b.op("Mul", []*onnxio.Value{b.gemm(r, 5), scale})
			return b.output(b.gemm(b.relu(h), 3))
		}, func(tb testingTB, a *Analysis) {
			wantGroups(tb, a, []int{6, 5, 3}, []string{"", "", "graph output"})
		}},
		smallNet{"unet-decoder", func(b *tg) *onnxio.Model {
			// Encoder, ConvTranspose upsampling, skip Concat, Resize, Expand.
			in := b.input(2, 3, 8, 8)
			skip := b.relu(b.conv(in, 5, 3, 1, 1, true))
			x := b.relu(b.conv(skip, 8, 3, 2, 1, true)) // 4×4
			// onnxio's shape inference does not know ConvTranspose.
			up := b.opTyped("ConvTranspose", []*onnxio.Value{x, b.w(8, 6, 2, 2), b.w(6)}, []int64{2, 6, 8, 8},
				onnxio.AttrInts("kernel_shape", []int64{2, 2}), onnxio.AttrInts("strides", []int64{2, 2}))
			y := b.relu(b.conv(b.op("Concat", []*onnxio.Value{up, skip}, onnxio.AttrInt("axis", 1)), 4, 3, 1, 1, true))
			g := b.op("Expand", []*onnxio.Value{b.gap(y), b.ints(1, 1, 8, 8)})
			y = b.op("Add", []*onnxio.Value{y, g})
			return b.output(b.conv(y, 2, 1, 1, 1, true))
		}, func(tb testingTB, a *Analysis) {
			wantGroups(tb, a, []int{5, 8, 6, 4, 2}, []string{"", "", "", "", "graph output"})
		}},
	)
}

func must[T any](x T, err error) T {
	if err != nil {
		panic(err)
	}
	return x
}

// wantGroups checks the groups' sizes in order and that each is frozen
// with a reason containing frozen[i] ("" = prunable).
func wantGroups(tb testingTB, a *Analysis, sizes []int, frozen []string) {
	tb.Helper()
	var got []int
	for _, g := range a.Groups {
		got = append(got, g.Size)
	}
	if len(got) != len(sizes) {
		tb.Fatalf("group sizes %v, want %v", got, sizes)
	}
	for i, g := range a.Groups {
		if g.Size != sizes[i] {
			tb.Errorf("group %d has %d channels, want %d", i, g.Size, sizes[i])
		}
		checkFrozen(tb, g, frozen[i])
	}
}

func checkFrozen(tb testingTB, g *Group, want string) {
	tb.Helper()
	switch {
	case want == "" && !g.Prunable():
		tb.Errorf("group %d (roots %v) is frozen: %s", g.ID, g.Roots, g.Frozen)
	case want != "" && g.Prunable():
		tb.Errorf("group %d (roots %v) is prunable, want frozen (%s)", g.ID, g.Roots, want)
	case want != "" && !strings.Contains(g.Frozen, want):
		tb.Errorf("group %d frozen because %q, want a reason mentioning %q", g.ID, g.Frozen, want)
	}
}
