package surgery

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/models"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// plansPerNet is how many applicable random plans each net must pass
// against the oracle.
const plansPerNet = 50

type oracleNet struct {
	name  string
	build func() (*onnxio.Model, error)
}

// builderNets are the models package's nets at 32×32 with 10 classes,
// BN kept and folded, plus the tf2onnx-style variant of each. ResNet-18 is
// built at half width: at full width its 11.7M parameters make onnxruntime
// session set-up dominate the test, and the structure is the same.
func builderNets() []oracleNet {
	type arch struct {
		name  string
		width float64
	}
	archs := []arch{
		{"mobilenetv1", 1}, {"mobilenetv1", 0.5}, {"mobilenetv2", 1}, {"mobilenetv3-small", 1},
		{"mobilenetv3-large", 1}, {"resnet", 0.5}, {"concatnet", 1},
	}
	var out []oracleNet
	for _, ar := range archs {
		for _, v := range []struct {
			tag   string
			bn    models.BNMode
			style models.Style
		}{{"bn-kept", models.BNKept, models.StyleTorch}, {"bn-folded", models.BNFolded, models.StyleTorch}, {"tf2onnx", models.BNFolded, models.StyleTF2ONNX}} {
			cfg := models.Config{Width: ar.width, Resolution: 32, Classes: 10, BN: v.bn, Style: v.style, Seed: 3}
			name := fmt.Sprintf("%s-w%g-%s", ar.name, ar.width, v.tag)
			out = append(out, oracleNet{name, func() (*onnxio.Model, error) { return models.Build(ar.name, cfg) }})
		}
	}
	return out
}

// torchNets are the real PyTorch exports under models/testdata/torch.
func torchNets(tb testing.TB) []oracleNet {
	files, _ := filepath.Glob(filepath.Join("..", "models", "testdata", "torch", "*.onnx"))
	var out []oracleNet
	for _, f := range files {
		out = append(out, oracleNet{"torch-" + strings.TrimSuffix(filepath.Base(f), ".onnx"), func() (*onnxio.Model, error) {
			return onnxio.Load(f)
		}})
	}
	return out
}

// TestOracle is the acceptance test: for every net, plansPerNet seeded
// random plans (random groups, random kept subsets down to one channel)
// give a pruned model whose onnxruntime outputs equal those of the
// original with the dropped channels' consumer weights zeroed, within
// 1e-4 of the output's scale.
func TestOracle(t *testing.T) {
	needORT(t)
	nets := append(builderNets(), torchNets(t)...)
	if len(nets) < 21 {
		t.Fatalf("only %d nets", len(nets))
	}
	for i, net := range nets {
		t.Run(net.name, func(t *testing.T) {
			t.Parallel()
			m, err := net.build()
			if err != nil {
				t.Fatal(err)
			}
			a, err := Analyze(m.Graph)
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Prunable()) == 0 {
				t.Fatal("no prunable group")
			}
			rng := rand.New(rand.NewPCG(uint64(i), 2024))
			ok := 0
			for tries := 0; ok < plansPerNet && tries < 3*plansPerNet; tries++ {
				if checkPlan(t, m, a, randomPlan(rng, a)) {
					ok++
				}
			}
			if ok < plansPerNet {
				t.Errorf("only %d of %d plans applicable", ok, plansPerNet)
			}
		})
	}
}
