package dataset

import (
	"image"
	"image/color"
	"path/filepath"
	"testing"
)

// TestOpenLooseImages: a folder of images without class subfolders opens
// as unlabelled data, and its held-out and subset parts stay unlabelled.
func TestOpenLooseImages(t *testing.T) {
	dir := t.TempDir()
	for i, name := range []string{"b.png", "a.JPG", "c.png", "d.png"} {
		if filepath.Ext(name) == ".JPG" {
			writeJPEG(t, filepath.Join(dir, name), solid(4, 3, color.Gray{uint8(10 * i)}))
		} else {
			writePNG(t, filepath.Join(dir, name), solid(4, 3, color.Gray{uint8(10 * i)}))
		}
	}
	writeFile(t, filepath.Join(dir, "notes.txt"), []byte("not an image"))
	sp, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ds := sp.Train
	if sp.Test != nil || ds.Len() != 4 || ds.NumClasses() != 1 || Labelled(ds) {
		t.Fatalf("Open = %d samples, %d classes, labelled %v, test %v; want 4 unlabelled samples, 1 class, no test",
			ds.Len(), ds.NumClasses(), Labelled(ds), sp.Test)
	}
	if got := filepath.Base(ds.Source(0)); got != "a.JPG" {
		t.Errorf("first sample %s, want a.JPG (lexical order)", got)
	}
	for i := range ds.Len() {
		if ds.Label(i) != 0 {
			t.Errorf("Label(%d) = %d, want 0", i, ds.Label(i))
		}
		if _, err := ds.Image(i, nil); err != nil {
			t.Error(err)
		}
	}
	train, held, err := HoldOut(ds, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := Subset(ds, []int{0, 2})
	if err != nil {
		t.Fatal(err)
	}
	for name, part := range map[string]Dataset{"train": train, "held-out": held, "subset": sub} {
		if Labelled(part) {
			t.Errorf("%s part of unlabelled data reports labels", name)
		}
	}
}

// TestUnlabelledAndRelabel: Unlabelled hides a labelled set's labels;
// Relabel gives any set new labels (a reference model's predictions) and
// makes it labelled again.
func TestUnlabelledAndRelabel(t *testing.T) {
	dir := t.TempDir()
	classTree(t, dir)
	f, err := OpenFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !Labelled(f) {
		t.Fatal("a class folder is not labelled")
	}
	u := Unlabelled(f)
	if Labelled(u) || u.NumClasses() != 1 || u.Label(4) != 0 || u.Len() != f.Len() || u.Source(4) != f.Source(4) {
		t.Errorf("Unlabelled: labelled %v, %d classes, label %d, len %d; want unlabelled, 1 class, 0, %d",
			Labelled(u), u.NumClasses(), u.Label(4), u.Len(), f.Len())
	}
	if Unlabelled(u) != u {
		t.Error("Unlabelled of unlabelled data wraps it again")
	}
	r, err := Relabel(u, []int{4, 3, 2, 1, 0}, 7)
	if err != nil {
		t.Fatal(err)
	}
	if !Labelled(r) || r.NumClasses() != 7 || r.Label(0) != 4 || r.Label(4) != 0 {
		t.Errorf("Relabel: labelled %v, %d classes, labels %d..%d; want labelled, 7, 4..0", Labelled(r), r.NumClasses(), r.Label(0), r.Label(4))
	}
	if _, err := Relabel(u, []int{0, 1}, 7); err == nil {
		t.Error("Relabel accepted 2 labels for 5 samples")
	}
	if _, err := Relabel(u, []int{0, 1, 2, 3, 7}, 7); err == nil {
		t.Error("Relabel accepted label 7 of 7 classes")
	}
}

func TestNewImages(t *testing.T) {
	imgs := []image.Image{solid(2, 2, color.White), solid(2, 2, color.Black)}
	ds := NewImages("synthetic", imgs)
	if ds.Len() != 2 || Labelled(ds) || ds.Source(1) != "synthetic[1]" {
		t.Fatalf("NewImages: len %d, labelled %v, source %q", ds.Len(), Labelled(ds), ds.Source(1))
	}
	img, err := ds.Image(1, nil)
	if err != nil || img != imgs[1] {
		t.Errorf("Image(1) = %v, %v; want the second image", img, err)
	}
	if _, err := ds.Image(2, nil); err == nil {
		t.Error("Image(2) of 2 images did not fail")
	}
}
