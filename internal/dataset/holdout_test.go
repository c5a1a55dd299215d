package dataset

import (
	"slices"
	"testing"
)

// indicesOf lists the underlying dataset indices of a HoldOut part.
func indicesOf(t *testing.T, d Dataset) []int {
	t.Helper()
	s, ok := d.(*subset)
	if !ok {
		t.Fatalf("HoldOut part is %T, want *subset", d)
	}
	return s.idx
}

// checkPartition checks that train and held are disjoint, cover ds and
// keep each sample's label.
func checkPartition(t *testing.T, ds, train, held Dataset) {
	t.Helper()
	tr, he := indicesOf(t, train), indicesOf(t, held)
	if len(tr)+len(he) != ds.Len() {
		t.Fatalf("parts of %d and %d samples from %d", len(tr), len(he), ds.Len())
	}
	all := slices.Concat(tr, he)
	slices.Sort(all)
	for k, i := range all {
		if k != i {
			t.Fatalf("parts overlap or miss samples (at %d: %d)", k, i)
		}
	}
	for k, i := range he {
		if held.Label(k) != ds.Label(i) {
			t.Fatalf("held sample %d has label %d, dataset says %d", k, held.Label(k), ds.Label(i))
		}
	}
	if !slices.IsSorted(tr) || !slices.IsSorted(he) {
		t.Error("parts are not in dataset order")
	}
}

func TestHoldOutStratified(t *testing.T) {
	// Classes of 50, 30, 15, 4 and 1 samples, interleaved.
	sizes := []int{50, 30, 15, 4, 1}
	var labels []int
	for len(labels) < 100 {
		for c, n := range sizes {
			if countOf(labels, c) < n {
				labels = append(labels, c)
			}
		}
	}
	ds := memIDX(100, 1, 1, func(i int) int { return labels[i] })
	for _, tc := range []struct {
		size float64
		want []int // held per class
	}{
		// Shares 10, 6, 3, 0.8, 0.2: floors 19, the 0.8 rounds up.
		{20, []int{10, 6, 3, 1, 0}},
		{0.2, []int{10, 6, 3, 1, 0}},
		// Shares 5, 3, 1.5, 0.4, 0.1: floors 9, then 0.5 goes first.
		{10, []int{5, 3, 2, 0, 0}},
		// Shares 0.5, 0.3, 0.15, 0.04, 0.01: the largest remainder wins.
		{1, []int{1, 0, 0, 0, 0}},
		// Shares 49.5, 29.7, 14.85, 3.96, 0.99: the four largest remainders
		// round up, down to the class of one sample.
		{99, []int{49, 30, 15, 4, 1}},
	} {
		train, held, err := HoldOut(ds, tc.size, 3)
		if err != nil {
			t.Fatal(err)
		}
		checkPartition(t, ds, train, held)
		if got := ClassCounts(held); !slices.Equal(got, tc.want) {
			t.Errorf("size %v: held per class %v, want %v", tc.size, got, tc.want)
		}
	}
}

func countOf(s []int, v int) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

func TestHoldOutDeterministic(t *testing.T) {
	ds := memIDX(500, 1, 1, func(i int) int { return i % 7 })
	_, a, _ := HoldOut(ds, 0.1, 1)
	_, b, _ := HoldOut(ds, 0.1, 1)
	_, c, _ := HoldOut(ds, 0.1, 2)
	if !slices.Equal(indicesOf(t, a), indicesOf(t, b)) {
		t.Error("same seed, different held-out sets")
	}
	if slices.Equal(indicesOf(t, a), indicesOf(t, c)) {
		t.Error("seeds 1 and 2 gave the same held-out set")
	}
}

func TestHoldOutFashion(t *testing.T) {
	s := fashion(t)
	train, held, err := HoldOut(s.Train, 5000, 11)
	if err != nil {
		t.Fatal(err)
	}
	checkPartition(t, s.Train, train, held)
	if got, want := ClassCounts(held), slices.Repeat([]int{500}, 10); !slices.Equal(got, want) {
		t.Errorf("held per class %v, want %v", got, want)
	}
	if got, want := ClassCounts(train), slices.Repeat([]int{5500}, 10); !slices.Equal(got, want) {
		t.Errorf("train per class %v, want %v", got, want)
	}
	// The fraction form gives the same split.
	_, held2, err := HoldOut(s.Train, 1.0/12, 11)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(indicesOf(t, held), indicesOf(t, held2)) {
		t.Error("HoldOut(5000) and HoldOut(1/12) differ")
	}
	// Samples decode through the held-out view.
	if img, err := held.Image(0, nil); err != nil || img.Bounds().Dx() != 28 {
		t.Errorf("held.Image(0): %v %v", img, err)
	}
}

func TestHoldOutErrors(t *testing.T) {
	ds := memIDX(100, 1, 1, func(i int) int { return i % 3 })
	for _, size := range []float64{0, -1, 100, 250, 1.5, 0.001, 0.999} {
		if _, _, err := HoldOut(ds, size, 1); err == nil {
			t.Errorf("HoldOut(%v) of 100 samples accepted", size)
		} else {
			oneLine(t, err, "holdout")
		}
	}
}

func TestCheckClasses(t *testing.T) {
	ds := memIDX(20, 1, 1, func(i int) int { return i % 12 })
	if err := CheckClasses(ds, 12); err != nil {
		t.Error(err)
	}
	if err := CheckClasses(ds, 1000); err != nil {
		t.Error(err)
	}
	oneLine(t, CheckClasses(ds, 10), "labels up to 11", "mem[11]", "only 10 classes")
	oneLine(t, CheckClasses(ds, 0), "0 output classes")
	// A declared class count larger than the model's output is an error
	// even when the labels present fit.
	ds.numClasses = 1000
	oneLine(t, CheckClasses(ds, 12), "declares 1000 classes")
}

func TestSubset(t *testing.T) {
	ds := memIDX(5, 1, 1, func(i int) int { return i })
	s, err := Subset(ds, []int{4, 0, 4})
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 3 || s.Label(0) != 4 || s.Label(1) != 0 || s.NumClasses() != 5 || s.Source(2) != "mem[4]" {
		t.Errorf("subset: Len %d labels %d %d", s.Len(), s.Label(0), s.Label(1))
	}
	if _, err := s.Image(3, nil); err == nil {
		t.Error("Image past the end succeeded")
	}
	_, err = Subset(ds, []int{5})
	oneLine(t, err, "index 5 out of range")
}
