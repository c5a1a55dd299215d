package cost_test

import (
	"math"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/cost"
	"github.com/onnx-adapt/onnx-adapt/models"
)

// TestPublishedSizes: the totals `onnx-adapt inspect` prints for MobileNetV1
// and V2 (α = 1, 224×224) are within 1% of the published multiply-adds and
// parameters. The published parameter counts leave out BatchNormalization
// (Howard et al. 2017 Table 8: 4.2M; the TF-slim MobileNetV2 release table:
// 3.47M, which the V2 paper rounds to 3.4M), so both BN forms are checked
// against them: BN kept (no conv biases) and folded (conv biases added).
func TestPublishedSizes(t *testing.T) {
	for _, tc := range []struct {
		name           string
		macs, params   float64
		wantKeptParams int64
	}{
		{"mobilenetv1", 569e6, 4.2e6, 4_210_088},
		{"mobilenetv2", 300e6, 3.47e6, 3_470_760},
	} {
		for _, bn := range []models.BNMode{models.BNKept, models.BNFolded} {
			m, err := models.Build(tc.name, models.Config{BN: bn})
			if err != nil {
				t.Fatal(err)
			}
			r, err := cost.Analyze(m.Graph)
			if err != nil {
				t.Fatal(err)
			}
			if d := math.Abs(float64(r.MACs)/tc.macs - 1); d > 0.01 {
				t.Errorf("%s %v: %d MACs, %.2f%% off the published %.0fM", tc.name, bn, r.MACs, 100*d, tc.macs/1e6)
			}
			if d := math.Abs(float64(r.Params)/tc.params - 1); d > 0.01 {
				t.Errorf("%s %v: %d params, %.2f%% off the published %.2fM", tc.name, bn, r.Params, 100*d, tc.params/1e6)
			}
			if bn == models.BNKept && r.Params != tc.wantKeptParams {
				t.Errorf("%s: %d params with BN kept, want %d", tc.name, r.Params, tc.wantKeptParams)
			}
			t.Logf("%s %v: %d MACs, %d params, %d BN params", tc.name, bn, r.MACs, r.Params, r.BNParams)
		}
	}
}
