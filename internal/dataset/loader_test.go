package dataset

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// epochData is everything one epoch produced, copied out of the batches.
type epochData struct {
	x       []float32
	labels  []int
	indices []int
	sizes   []int
}

func runEpoch(t testing.TB, l *Loader, epoch int) epochData {
	t.Helper()
	var d epochData
	it := l.Epoch(context.Background(), epoch)
	defer it.Close()
	for {
		b, err := it.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(b.X) != b.N*b.C*b.H*b.W || len(b.Labels) != b.N || len(b.Indices) != b.N {
			t.Fatalf("batch of %d has %d floats, %d labels, %d indices", b.N, len(b.X), len(b.Labels), len(b.Indices))
		}
		d.x = append(d.x, b.X...)
		d.labels = append(d.labels, b.Labels...)
		d.indices = append(d.indices, b.Indices...)
		d.sizes = append(d.sizes, b.N)
	}
	if len(d.sizes) != l.NumBatches() {
		t.Fatalf("%d batches, NumBatches says %d", len(d.sizes), l.NumBatches())
	}
	return d
}

func newLoader(t testing.TB, ds Dataset, cfg Config) *Loader {
	t.Helper()
	l, err := NewLoader(ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestLoaderCoversEpoch checks that an epoch yields every sample exactly
// once (minus the dropped tail), with its label and its preprocessed
// pixels.
func TestLoaderCoversEpoch(t *testing.T) {
	const n = 103
	ds := memIDX(n, 5, 6, func(i int) int { return (i * 7) % 4 })
	pre := mustPreset(t, "none", 3, 8, 8) // stretch 6×5 → 8×8, gray → RGB
	want := make([][]float32, n)
	for i := range n {
		img, _ := ds.Image(i, nil)
		want[i] = apply(t, pre, img)
	}
	for _, tc := range []struct {
		bs, workers, prefetch int
		shuffle, dropLast     bool
	}{
		{10, 1, 1, false, false},
		{10, 3, 2, true, false},
		{10, 2, 0, true, true},
		{1, 4, 5, true, false},
		{103, 2, 1, false, true},
		{200, 2, 1, true, false},
		{200, 2, 1, true, true},
	} {
		t.Run(fmt.Sprintf("%+v", tc), func(t *testing.T) {
			l := newLoader(t, ds, Config{BatchSize: tc.bs, Workers: tc.workers, Prefetch: tc.prefetch,
				Shuffle: tc.shuffle, DropLast: tc.dropLast, Seed: 9, Preprocess: pre})
			for epoch := range 2 {
				d := runEpoch(t, l, epoch)
				wantN := n
				if tc.dropLast {
					wantN = n / tc.bs * tc.bs
				}
				if len(d.indices) != wantN {
					t.Fatalf("epoch %d: %d samples, want %d", epoch, len(d.indices), wantN)
				}
				for k, sz := range d.sizes {
					if sz > tc.bs || (sz < tc.bs && (tc.dropLast || k != len(d.sizes)-1)) {
						t.Fatalf("epoch %d: batch sizes %v for batch size %d", epoch, d.sizes, tc.bs)
					}
				}
				seen := make([]bool, n)
				sl := pre.SampleLen()
				for k, i := range d.indices {
					if seen[i] {
						t.Fatalf("epoch %d: sample %d twice", epoch, i)
					}
					seen[i] = true
					if d.labels[k] != ds.Label(i) {
						t.Fatalf("sample %d: label %d, want %d", i, d.labels[k], ds.Label(i))
					}
					if !slices.Equal(d.x[k*sl:(k+1)*sl], want[i]) {
						t.Fatalf("sample %d: pixels differ from Preprocess.Apply", i)
					}
				}
				if !tc.shuffle && !slices.IsSorted(d.indices) {
					t.Fatalf("unshuffled epoch out of order: %v", d.indices)
				}
			}
		})
	}
}

func TestLoaderShuffleOrder(t *testing.T) {
	ds := memIDX(64, 2, 2, func(i int) int { return i % 2 })
	pre := mustPreset(t, "none", 1, 2, 2)
	order := func(seed uint64, epoch int) []int {
		return runEpoch(t, newLoader(t, ds, Config{BatchSize: 8, Shuffle: true, Seed: seed, Preprocess: pre}), epoch).indices
	}
	a := order(1, 0)
	if slices.IsSorted(a) {
		t.Error("shuffled order is sorted")
	}
	if !slices.Equal(a, order(1, 0)) {
		t.Error("same seed and epoch gave different orders")
	}
	if slices.Equal(a, order(1, 1)) {
		t.Error("epochs 0 and 1 have the same order")
	}
	if slices.Equal(a, order(2, 0)) {
		t.Error("seeds 1 and 2 have the same order")
	}
}

// augTree writes JPEGs of assorted sizes, each a smooth colour ramp, so
// that random crops of them differ.
func augTree(t testing.TB, n int) Dataset {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 5))
	for i := range n {
		w, h := 20+rng.IntN(40), 20+rng.IntN(40)
		img := image.NewNRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8(i * 40), 255})
			}
		}
		writeJPEG(t, filepath.Join(dir, fmt.Sprintf("c%d", i%3), fmt.Sprintf("%03d.jpg", i)), img)
	}
	f, err := OpenFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestLoaderDeterministicAcrossWorkers checks that augmented batches do
// not depend on the number of workers or on how far ahead they run.
func TestLoaderDeterministicAcrossWorkers(t *testing.T) {
	type setup struct {
		name string
		ds   Dataset
		pre  Preprocess
		aug  Augment
	}
	setups := []setup{
		{"jpeg random-resized-crop", augTree(t, 40), mustPreset(t, "imagenet", 3, 16, 16),
			Augment{RandomResizedCrop: true, HFlip: true}},
		{"jpeg rrc with pad", augTree(t, 20), mustPreset(t, "imagenet", 1, 12, 12),
			Augment{RandomResizedCrop: true, Scale: [2]float64{0.3, 0.9}, Pad: 2, HFlip: true}},
	}
	if s := fashionOrNil(); s != nil {
		sub, _ := Subset(s.Test, seq(0, 2000))
		setups = append(setups, setup{"fashion pad-crop flip", sub, mustPreset(t, "none", 1, 32, 32), Augment{Pad: 4, HFlip: true}})
	} else {
		t.Log("Fashion-MNIST absent; its case is skipped")
	}
	for _, s := range setups {
		t.Run(s.name, func(t *testing.T) {
			run := func(workers, prefetch, epoch int) epochData {
				aug := s.aug
				return runEpoch(t, newLoader(t, s.ds, Config{BatchSize: 7, Shuffle: true, Seed: 77, Workers: workers,
					Prefetch: prefetch, Preprocess: s.pre, Augment: &aug}), epoch)
			}
			for epoch := range 2 {
				one := run(1, 1, epoch)
				four := run(4, 3, epoch)
				if !slices.Equal(one.indices, four.indices) || !slices.Equal(one.x, four.x) {
					t.Fatalf("epoch %d: 1 and 4 workers gave different batches", epoch)
				}
			}
			// The same sample is augmented differently in another epoch.
			e0, e1 := run(2, 2, 0), run(2, 2, 1)
			if samePixels(e0, e1, s.pre.SampleLen()) {
				t.Error("epochs 0 and 1 augment every sample identically")
			}
		})
	}
}

// samePixels reports whether every sample has the same pixels in both
// epochs (which are ordered differently).
func samePixels(a, b epochData, sl int) bool {
	pos := map[int]int{}
	for k, i := range b.indices {
		pos[i] = k
	}
	for k, i := range a.indices {
		j := pos[i]
		if !slices.Equal(a.x[k*sl:(k+1)*sl], b.x[j*sl:(j+1)*sl]) {
			return false
		}
	}
	return true
}

func fashionOrNil() *Splits {
	s, err := Open(fashionDir)
	if err != nil {
		return nil
	}
	return s
}

func seq(lo, hi int) []int {
	s := make([]int, hi-lo)
	for i := range s {
		s[i] = lo + i
	}
	return s
}

// TestLoaderErrorNamesFile checks that a broken file ends the epoch with
// a SampleError naming it, through Next and through Batches.
func TestLoaderErrorNamesFile(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	for i := range 30 {
		name := fmt.Sprintf("img%02d.png", i)
		if i == 17 {
			writeFile(t, filepath.Join(dir, name), []byte("\x89PNG\r\n\x1a\ntruncated"))
		} else {
			writePNG(t, filepath.Join(dir, name), solid(4, 4, color.Gray{uint8(i)}))
		}
		lines = append(lines, fmt.Sprintf("%s %d", name, i%2))
	}
	writeFile(t, filepath.Join(dir, "list.txt"), []byte(strings.Join(lines, "\n")))
	f, err := OpenList(filepath.Join(dir, "list.txt"))
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "img17.png")
	l := newLoader(t, f, Config{BatchSize: 4, Workers: 3, Preprocess: mustPreset(t, "none", 1, 4, 4)})
	check := func(err error, batches int) {
		t.Helper()
		var se *SampleError
		if !errors.As(err, &se) || se.Source != bad || se.Index != 17 {
			t.Fatalf("error %v, want a SampleError for sample 17 (%s)", err, bad)
		}
		oneLine(t, err, bad)
		if batches != 4 { // samples 0..15 come through first
			t.Errorf("%d good batches before the error, want 4", batches)
		}
	}
	it := l.Epoch(context.Background(), 0)
	batches := 0
	for {
		_, err := it.Next()
		if err != nil {
			check(err, batches)
			if _, err2 := it.Next(); err2 != err {
				t.Errorf("Next after the error returned %v", err2)
			}
			break
		}
		batches++
	}
	it.Close()
	batches = 0
	for _, err := range l.Batches(context.Background(), 1) {
		if err != nil {
			check(err, batches)
			break
		}
		batches++
	}
}

// slowDS delays each sample so that cancellation lands mid-epoch.
type slowDS struct{ Dataset }

func (s slowDS) Image(i int, sc *Scratch) (image.Image, error) {
	time.Sleep(time.Millisecond)
	return s.Dataset.Image(i, sc)
}

func TestLoaderCancel(t *testing.T) {
	ds := slowDS{memIDX(400, 4, 4, func(i int) int { return i % 5 })}
	pre := mustPreset(t, "none", 1, 4, 4)
	l := newLoader(t, ds, Config{BatchSize: 10, Workers: 2, Preprocess: pre})
	ctx, cancel := context.WithCancel(context.Background())
	it := l.Epoch(ctx, 0)
	if _, err := it.Next(); err != nil {
		t.Fatal(err)
	}
	cancel()
	var err error
	for range 100 { // batches already decoded may still come through
		if _, err = it.Next(); err != nil {
			break
		}
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel, Next returned %v", err)
	}
	oneLine(t, err, "canceled")
	it.Close()
	// The loader is usable again, and a full epoch still covers everything.
	if d := runEpoch(t, l, 1); len(d.indices) != 400 {
		t.Errorf("epoch after cancel has %d samples", len(d.indices))
	}
}

func TestLoaderOneEpochAtATime(t *testing.T) {
	l := newLoader(t, memIDX(10, 2, 2, func(int) int { return 0 }), Config{BatchSize: 3, Preprocess: mustPreset(t, "none", 1, 2, 2)})
	a := l.Epoch(context.Background(), 0)
	b := l.Epoch(context.Background(), 1)
	_, err := b.Next()
	oneLine(t, err, "another epoch is open")
	b.Close()
	if _, err := a.Next(); err != nil {
		t.Fatalf("first epoch broken by the second: %v", err)
	}
	a.Close()
	if _, err := a.Next(); err == nil {
		t.Error("Next after Close succeeded")
	}
	c := l.Epoch(context.Background(), 2)
	defer c.Close()
	if _, err := c.Next(); err != nil {
		t.Fatalf("epoch after Close: %v", err)
	}
}

func TestLoaderConfigErrors(t *testing.T) {
	ds := memIDX(4, 2, 2, func(int) int { return 0 })
	ok := mustPreset(t, "none", 1, 2, 2)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"zero batch", Config{Preprocess: ok}, "batch size 0"},
		{"negative workers", Config{BatchSize: 1, Workers: -1, Preprocess: ok}, "negative workers"},
		{"bad preprocess", Config{BatchSize: 1}, "0 channels"},
		{"bad augment", Config{BatchSize: 1, Preprocess: ok, Augment: &Augment{Pad: -1}}, "padding"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewLoader(ds, tc.cfg)
			oneLine(t, err, tc.want)
		})
	}
}

// TestLoaderSteadyStateAllocs checks that batches cost no allocation per
// sample once the loader runs: an epoch of 10000 samples in 100 batches
// allocates only its per-epoch setup.
func TestLoaderSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	ds := memIDX(10000, 28, 28, func(i int) int { return i % 10 })
	l := newLoader(t, ds, Config{BatchSize: 100, Shuffle: true, Workers: 2, Preprocess: mustPreset(t, "none", 1, 32, 32),
		Augment: &Augment{Pad: 4, HFlip: true}})
	epoch := 0
	allocs := testing.AllocsPerRun(3, func() {
		for _, err := range l.Batches(context.Background(), epoch) {
			if err != nil {
				t.Fatal(err)
			}
		}
		epoch++
	})
	t.Logf("%.0f allocations per epoch of 100 batches", allocs)
	if allocs > 50 {
		t.Errorf("%.0f allocations per epoch of 100 batches of 100 samples; want ≤ 50 (no per-sample allocation)", allocs)
	}
}

// TestLoaderMatchesApplyImagenetMini checks the evaluation path on real
// JPEGs: sequential batches equal single-image preprocessing.
func TestLoaderMatchesApplyImagenetMini(t *testing.T) {
	f := imagenetMini(t)
	sub, err := Subset(f, seq(100, 124))
	if err != nil {
		t.Fatal(err)
	}
	pre := mustPreset(t, "imagenet", 3, 224, 224)
	d := runEpoch(t, newLoader(t, sub, Config{BatchSize: 10, Preprocess: pre}), 0)
	sl := pre.SampleLen()
	for k := range sub.Len() {
		img, err := sub.Image(k, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(d.x[k*sl:(k+1)*sl], apply(t, pre, img)) || d.labels[k] != f.Label(100+k) {
			t.Fatalf("sample %d (%s) differs from Preprocess.Apply", k, sub.Source(k))
		}
	}
}
