package dataset

import (
	"fmt"
	"image"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Unlabelled data: a Dataset whose labels must not be used, because there
// are none (a folder of images without class subfolders, synthetic inputs)
// or because the user said so (--unlabelled). Such a data set reports one
// class and label 0 for every sample, so that everything that only needs
// images (loaders, held-out splits, calibration) works unchanged;
// Labelled tells the code that would learn from labels, or score against
// them, not to.

// unlabelled is a view of a data set without its labels.
type unlabelled struct{ Dataset }

func (u unlabelled) NumClasses() int { return 1 }
func (u unlabelled) Label(int) int   { return 0 }
func (u unlabelled) hasLabels() bool { return false }

// labelled is implemented by views that know whether their samples carry
// labels.
type labelled interface{ hasLabels() bool }

// Unlabelled returns ds without its labels: one class, label 0 for every
// sample, and Labelled reports false for it and every Subset or HoldOut
// part of it.
func Unlabelled(ds Dataset) Dataset {
	if !Labelled(ds) {
		return ds
	}
	return unlabelled{ds}
}

// Labelled reports whether ds's labels are class labels that may be learnt
// from and scored against (see Unlabelled).
func Labelled(ds Dataset) bool {
	if l, ok := ds.(labelled); ok {
		return l.hasLabels()
	}
	return true
}

func (s *subset) hasLabels() bool { return Labelled(s.ds) }

// relabelled is a view of a data set with other labels.
type relabelled struct {
	Dataset
	labels     []int
	numClasses int
}

func (r *relabelled) NumClasses() int { return r.numClasses }
func (r *relabelled) Label(i int) int { return r.labels[i] }
func (r *relabelled) hasLabels() bool { return true }

// Relabel returns ds with labels[i] as the label of sample i, out of
// numClasses classes: for example the predictions of a reference model, so
// that accuracy against them measures agreement with it. The result is
// labelled (see Labelled) even when ds is not.
func Relabel(ds Dataset, labels []int, numClasses int) (Dataset, error) {
	if len(labels) != ds.Len() {
		return nil, errf("relabel: %d labels for %d samples", len(labels), ds.Len())
	}
	for i, l := range labels {
		if l < 0 || l >= numClasses {
			return nil, errf("relabel: label %d of %s is outside [0,%d)", l, ds.Source(i), numClasses)
		}
	}
	return &relabelled{Dataset: ds, labels: slices.Clone(labels), numClasses: numClasses}, nil
}

// OpenImages opens a folder of JPEG and PNG files without class
// subfolders as unlabelled data: the images found recursively below dir,
// in lexical order (hidden folders are skipped).
func OpenImages(dir string) (Dataset, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if isImageName(d.Name()) {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, errf("%v", err)
	}
	if len(paths) == 0 {
		return nil, errf("%s: no class subfolders and no JPEG or PNG files", dir)
	}
	return Unlabelled(&Files{name: dir, paths: paths, labels: make([]int32, len(paths)), numClasses: 1}), nil
}

// hasLooseImages reports whether dir holds image files directly.
func hasLooseImages(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if !e.IsDir() && isImageName(e.Name()) {
			return true
		}
	}
	return false
}

// Images is an in-memory, unlabelled data set of decoded images (for
// example synthetic calibration inputs).
type Images struct {
	name string
	imgs []image.Image
}

// NewImages returns the images as an unlabelled data set named name (for
// messages).
func NewImages(name string, imgs []image.Image) Dataset {
	return Unlabelled(&Images{name: name, imgs: slices.Clone(imgs)})
}

func (m *Images) Len() int            { return len(m.imgs) }
func (m *Images) NumClasses() int     { return 1 }
func (m *Images) Label(int) int       { return 0 }
func (m *Images) Source(i int) string { return fmt.Sprintf("%s[%d]", m.name, i) }

// Image returns image i; it is shared, not copied.
func (m *Images) Image(i int, _ *Scratch) (image.Image, error) {
	if i < 0 || i >= len(m.imgs) {
		return nil, &SampleError{Index: i, Source: m.name, Err: errIndex(i, len(m.imgs))}
	}
	return m.imgs[i], nil
}
