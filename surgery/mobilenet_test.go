package surgery

import (
	"fmt"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/models"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// mobileNetV2Groups is the group structure MobileNetV2 (α = 1) must have,
// in order: the stem (whose group also holds block 1's depthwise conv),
// then per stage the expansion groups of its blocks and the stage's
// residual chain, whose roots are the projection convs of all its blocks,
// the last 1×1 conv, and the frozen classifier.
func mobileNetV2Groups(classes int) []struct{ size, roots int } {
	type g = struct{ size, roots int }
	out := []g{{32, 1}, {16, 1}}
	stages := []struct{ c, n int }{{24, 2}, {32, 3}, {64, 4}, {96, 3}, {160, 3}, {320, 1}}
	in := 16
	for _, st := range stages {
		for i := 0; i < st.n; i++ {
			out = append(out, g{6 * in, 1})
			if i == 0 {
				out = append(out, g{st.c, st.n}) // the residual chain starts here
			}
			in = st.c
		}
	}
	return append(out, g{1280, 1}, g{classes, 1})
}

func checkMobileNetV2(t *testing.T, m *onnxio.Model, classes int) {
	a, err := Analyze(m.Graph)
	if err != nil {
		t.Fatal(err)
	}
	want := mobileNetV2Groups(classes)
	var got []string
	for _, g := range a.Groups {
		got = append(got, fmt.Sprintf("%d/%d", g.Size, len(g.Roots)))
	}
	var ws []string
	for _, w := range want {
		ws = append(ws, fmt.Sprintf("%d/%d", w.size, w.roots))
	}
	if strings.Join(got, " ") != strings.Join(ws, " ") {
		t.Fatalf("groups (size/roots):\n got %v\nwant %v", got, ws)
	}
	last := len(a.Groups) - 1
	for i, g := range a.Groups {
		if i == last {
			if g.Prunable() || !strings.Contains(g.Frozen, "graph output") {
				t.Errorf("classifier group %d: frozen %q, want frozen at the graph output", i, g.Frozen)
			}
			continue
		}
		if !g.Prunable() {
			t.Errorf("group %d (%d channels, roots %v) is frozen: %s", i, g.Size, g.Roots, g.Frozen)
		}
	}
	// Residual groups: every root is a 1×1 projection conv whose input is
	// an expansion group (or, in block 1, the stem) passed through a
	// depthwise conv; the members include the residual Adds.
	for _, g := range a.Groups {
		if len(g.Roots) < 2 {
			continue
		}
		adds := 0
		for _, mem := range g.Members {
			if mem.Kind == "activation" && strings.HasSuffix(nodeOp(m.Graph, mem.Tensor), "Add") {
				adds++
			}
		}
		if adds != len(g.Roots)-1 {
			t.Errorf("residual group %d (%d roots) has %d Add outputs among its members, want %d", g.ID, len(g.Roots), adds, len(g.Roots)-1)
		}
	}
	// The expansion groups hold the depthwise conv of their block.
	for _, g := range a.Groups[2 : len(a.Groups)-2] {
		if len(g.Roots) != 1 || g.Size%6 != 0 {
			continue
		}
		dw := 0
		for _, mem := range g.Members {
			if mem.Kind == "depthwise" {
				dw++
			}
		}
		if dw != 1 {
			t.Errorf("expansion group %d has %d depthwise members, want 1", g.ID, dw)
		}
	}
}

func nodeOp(g *onnxio.Graph, value string) string {
	if v := g.Value(value); v != nil && v.Producer() != nil {
		return v.Producer().Op
	}
	return ""
}

func TestMobileNetV2Groups(t *testing.T) {
	for _, bn := range []models.BNMode{models.BNKept, models.BNFolded} {
		for _, style := range []models.Style{models.StyleTorch, models.StyleTF2ONNX} {
			t.Run(fmt.Sprintf("builder-%v-%v", bn, style), func(t *testing.T) {
				m, err := models.MobileNetV2(models.Config{Resolution: 64, BN: bn, Style: style, Classes: 10})
				if err != nil {
					t.Fatal(err)
				}
				checkMobileNetV2(t, m, 10)
			})
		}
	}
	for _, f := range []string{"mobilenetv2-1.0.onnx", "mobilenetv2-1.0-bn.onnx"} {
		t.Run("imagenet-mini-"+f, func(t *testing.T) {
			checkMobileNetV2(t, loadShared(t, "imagenet-mini/"+f), 1000)
		})
	}
}

// TestImagenetMiniOracle checks the real ImageNet MobileNetV2 exports
// against the oracle at 64×64.
func TestImagenetMiniOracle(t *testing.T) {
	needORT(t)
	for i, f := range []string{"mobilenetv2-1.0.onnx", "mobilenetv2-1.0-bn.onnx"} {
		t.Run(f, func(t *testing.T) {
			m := loadShared(t, "imagenet-mini/"+f)
			if err := m.Graph.SetInputShape("input", []int64{1, 3, 64, 64}); err != nil {
				t.Fatal(err)
			}
			a, err := Analyze(m.Graph)
			if err != nil {
				t.Fatal(err)
			}
			rng := newRand(uint64(i))
			for n := 0; n < 10; {
				if checkPlan(t, m, a, randomPlan(rng, a)) {
					n++
				}
			}
		})
	}
}

// BenchmarkAnalyzeApply measures Analyze plus Apply of a plan dropping a
// quarter of every prunable group of the real MobileNetV2 (224×224).
func BenchmarkAnalyzeApply(b *testing.B) {
	m := loadShared(b, "imagenet-mini/mobilenetv2-1.0.onnx")
	a, err := Analyze(m.Graph)
	if err != nil {
		b.Fatal(err)
	}
	var p Plan
	for _, g := range a.Prunable() {
		p.Groups = append(p.Groups, GroupPlan{Group: g.ID, Drop: g.Size / 4})
	}
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		c := m.Clone()
		b.StartTimer()
		if _, err := Analyze(c.Graph); err != nil {
			b.Fatal(err)
		}
		if err := Apply(c.Graph, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAnalyze measures Analyze alone on the real MobileNetV2.
func BenchmarkAnalyze(b *testing.B) {
	m := loadShared(b, "imagenet-mini/mobilenetv2-1.0.onnx")
	for b.Loop() {
		if _, err := Analyze(m.Graph); err != nil {
			b.Fatal(err)
		}
	}
}
