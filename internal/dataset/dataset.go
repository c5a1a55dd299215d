package dataset

import (
	"bytes"
	"fmt"
	"image"
	"slices"
)

// Dataset is a labelled collection of images addressed by index 0..Len()-1.
//
// Len, NumClasses and Label are cheap and never touch the disk, so they may
// be called for every sample (HoldOut and CheckClasses do). Image may decode
// a file; implementations must allow concurrent calls with distinct Scratch
// values.
type Dataset interface {
	// Len is the number of samples.
	Len() int
	// NumClasses is the number of classes the labels index into: every
	// Label(i) is in [0, NumClasses()).
	NumClasses() int
	// Label is the class index of sample i.
	Label(i int) int
	// Image decodes sample i. sc is per-goroutine scratch space that the
	// implementation may use for the result and for I/O buffers, so the
	// returned image is valid only until the next call with the same sc.
	// sc may be nil, and then the image is the caller's to keep. Failures
	// are reported as *SampleError.
	Image(i int, sc *Scratch) (image.Image, error)
	// Source names sample i for messages: a file path, or path[i] for
	// samples packed in one file.
	Source(i int) string
}

// Scratch is reusable per-goroutine space for Dataset.Image. The zero value
// is ready to use. A Scratch must not be used by two goroutines at once.
type Scratch struct {
	gray image.Gray   // header for in-memory grayscale samples (IDX)
	file []byte       // file contents of the last decoded image
	rd   bytes.Reader // reader over file
}

// Splits is what Open returns. Test is nil when the data has no test split.
type Splits struct {
	Train, Test Dataset
}

// SampleError reports a sample that could not be loaded.
type SampleError struct {
	Index  int    // index of the sample in the dataset that failed
	Source string // file (or file[i]) that failed
	Err    error
}

func (e *SampleError) Error() string {
	return fmt.Sprintf("dataset: %s (sample %d): %v", e.Source, e.Index, e.Err)
}

func (e *SampleError) Unwrap() error { return e.Err }

// errf returns a one-line error prefixed with "dataset: ".
func errf(format string, args ...any) error {
	return fmt.Errorf("dataset: "+format, args...)
}

// ClassCounts returns the number of samples of each class of ds
// (length ds.NumClasses()). It panics on a label outside that range, which
// a valid Dataset never has.
func ClassCounts(ds Dataset) []int {
	counts := make([]int, ds.NumClasses())
	for i := range ds.Len() {
		counts[ds.Label(i)]++
	}
	return counts
}

// CheckClasses reports whether the labels of ds fit a model whose output
// has modelClasses classes. A data set with fewer classes than the model
// (a subset of ImageNet for an ImageNet model) is fine; one whose labels
// reach past the model's output is not.
func CheckClasses(ds Dataset, modelClasses int) error {
	if modelClasses <= 0 {
		return errf("model has %d output classes", modelClasses)
	}
	maxLabel, at := -1, -1
	for i := range ds.Len() {
		if l := ds.Label(i); l > maxLabel {
			maxLabel, at = l, i
		}
	}
	if maxLabel >= modelClasses {
		return errf("data has labels up to %d (%s) but the model outputs only %d classes (labels 0..%d)",
			maxLabel, ds.Source(at), modelClasses, modelClasses-1)
	}
	if n := ds.NumClasses(); n > modelClasses {
		return errf("data declares %d classes but the model outputs only %d", n, modelClasses)
	}
	return nil
}

// subset is a view of some samples of another dataset.
type subset struct {
	ds  Dataset
	idx []int
}

// Subset returns the samples of ds at the given indices, in that order.
// Indices may repeat. The slice is copied.
func Subset(ds Dataset, indices []int) (Dataset, error) {
	n := ds.Len()
	for _, i := range indices {
		if i < 0 || i >= n {
			return nil, errf("subset index %d out of range [0,%d)", i, n)
		}
	}
	return &subset{ds: ds, idx: slices.Clone(indices)}, nil
}

func (s *subset) Len() int            { return len(s.idx) }
func (s *subset) NumClasses() int     { return s.ds.NumClasses() }
func (s *subset) Label(i int) int     { return s.ds.Label(s.idx[i]) }
func (s *subset) Source(i int) string { return s.ds.Source(s.idx[i]) }
func (s *subset) Image(i int, sc *Scratch) (image.Image, error) {
	if i < 0 || i >= len(s.idx) {
		return nil, &SampleError{Index: i, Source: "subset", Err: errIndex(i, len(s.idx))}
	}
	return s.ds.Image(s.idx[i], sc)
}

func errIndex(i, n int) error {
	return fmt.Errorf("index %d out of range [0,%d)", i, n)
}
