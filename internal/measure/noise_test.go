package measure

import (
	"math"
	"testing"
)

// TestMedianNoise: the figure is the median of the blocks and its noise
// the standard error from their MAD; one wild block moves neither much.
func TestMedianNoise(t *testing.T) {
	blocks := []float64{1.00, 1.02, 0.98, 1.01, 0.99, 1.00, 1.03, 0.97, 1.00, 1.00}
	wild := append([]float64(nil), blocks...)
	wild[3] = 2.5
	for _, c := range []struct {
		name   string
		blocks []float64
	}{{"steady", blocks}, {"one wild block", wild}} {
		l := summarize(c.blocks)
		if math.Abs(l.MS-1.0) > 0.005 || l.NoiseMS <= 0 || l.NoiseMS > 0.02 {
			t.Errorf("%s: %v", c.name, l)
		}
	}
}

// TestDriftNoise: blocks that drift slowly, each close to its neighbours,
// look steady to the MAD of the blocks; the batch medians see the drift,
// and the noise is theirs.
func TestDriftNoise(t *testing.T) {
	xs := make([]float64, 40)
	for i := range xs {
		// A slow wave of ±10% over the rounds, with tiny jitter.
		xs[i] = 1 + 0.1*math.Sin(2*math.Pi*float64(i)/40) + 0.001*float64(i%2)
	}
	_, naive := medianSE(xs)
	med, se := noiseOf(xs)
	if math.Abs(med-1) > 0.05 {
		t.Errorf("median %v", med)
	}
	// The batch medians lie at about ±0.06 and ±0.1: their standard error
	// is about 0.04.
	if se < 0.02 || se <= naive {
		t.Errorf("drifting blocks: noise %v (blocks alone say %v); want the batches' ≥ 0.02", se, naive)
	}
	// Too few blocks for batches: the blocks' own error.
	short := xs[:2*Batches-1]
	_, a := medianSE(short)
	if _, b := noiseOf(short); a != b {
		t.Errorf("%d blocks: noise %v, want the blocks' %v", len(short), b, a)
	}
}
