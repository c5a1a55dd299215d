package dataset

import (
	"context"
	"fmt"
	"io"
	"testing"
)

// benchLoader runs b.N batches through l, across epochs as needed, and
// reports images/s (ns/op is per batch).
func benchLoader(b *testing.B, l *Loader) {
	b.ReportAllocs()
	images := 0
	epoch := 0
	it := l.Epoch(context.Background(), epoch)
	b.ResetTimer()
	for range b.N {
		batch, err := it.Next()
		if err == io.EOF {
			epoch++
			it = l.Epoch(context.Background(), epoch)
			batch, err = it.Next()
		}
		if err != nil {
			b.Fatal(err)
		}
		images += batch.N
	}
	b.StopTimer()
	it.Close()
	b.ReportMetric(float64(images)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkLoaderFashionMNIST: training batches of 128, 28×28 stretched
// to 32×32, pad-4 random crop and flip, shuffled.
func BenchmarkLoaderFashionMNIST(b *testing.B) {
	s := fashion(b)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			l := newLoader(b, s.Train, Config{BatchSize: 128, Shuffle: true, Workers: workers,
				Preprocess: mustPreset(b, "none", 1, 32, 32), Augment: &Augment{Pad: 4, HFlip: true}})
			benchLoader(b, l)
		})
	}
}

// BenchmarkLoaderImagenetMini: evaluation batches of 32 of imagenet-mini's
// 227×227 JPEGs with the imagenet preset (resize to 256, crop 224), and
// training batches with random-resized-crop and flip.
func BenchmarkLoaderImagenetMini(b *testing.B) {
	f := imagenetMini(b)
	for _, tc := range []struct {
		name    string
		workers int
		aug     *Augment
	}{
		{"eval/workers=1", 1, nil},
		{"eval/workers=2", 2, nil},
		{"train-rrc-flip/workers=2", 2, &Augment{RandomResizedCrop: true, HFlip: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			l := newLoader(b, f, Config{BatchSize: 32, Workers: tc.workers, Shuffle: tc.aug != nil,
				Preprocess: mustPreset(b, "imagenet", 3, 224, 224), Augment: tc.aug})
			benchLoader(b, l)
		})
	}
}
