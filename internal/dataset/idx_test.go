package dataset

import (
	"bytes"
	"image"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestFashionMNIST(t *testing.T) {
	s := fashion(t)
	for _, tc := range []struct {
		name string
		ds   Dataset
		n    int
	}{
		{"train", s.Train, 60000},
		{"test", s.Test, 10000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ds == nil {
				t.Fatal("split missing")
			}
			if got := tc.ds.Len(); got != tc.n {
				t.Errorf("Len = %d, want %d", got, tc.n)
			}
			if got := tc.ds.NumClasses(); got != 10 {
				t.Errorf("NumClasses = %d, want 10", got)
			}
			want := slices.Repeat([]int{tc.n / 10}, 10)
			if got := ClassCounts(tc.ds); !slices.Equal(got, want) {
				t.Errorf("class histogram %v, want %v", got, want)
			}
			var sc Scratch
			img, err := tc.ds.Image(0, &sc)
			if err != nil {
				t.Fatal(err)
			}
			g, ok := img.(*image.Gray)
			if !ok || g.Bounds() != image.Rect(0, 0, 28, 28) {
				t.Fatalf("image 0 is %T %v, want 28×28 *image.Gray", img, img.Bounds())
			}
			// Fashion-MNIST images are dark backgrounds with bright
			// garments: corners black, some pixel bright.
			if g.GrayAt(0, 0).Y != 0 || slices.Max(g.Pix) < 200 {
				t.Errorf("image 0 does not look like a Fashion-MNIST image: corner %d, max %d", g.GrayAt(0, 0).Y, slices.Max(g.Pix))
			}
			if _, err := tc.ds.Image(tc.n, &sc); err == nil {
				t.Error("Image(Len()) did not fail")
			}
		})
	}
	// The first training label of Fashion-MNIST is 9 (ankle boot), the
	// first test label also 9.
	if s.Train.Label(0) != 9 || s.Test.Label(0) != 9 {
		t.Errorf("first labels %d, %d; want 9, 9", s.Train.Label(0), s.Test.Label(0))
	}
}

func TestReadIDXFileErrors(t *testing.T) {
	good := idxBytes(IDXUint8, []uint32{2, 3}, []byte{1, 2, 3, 4, 5, 6})
	gz := func(b []byte) []byte { return gzipBytes(t, b) }
	corruptCRC := gz(good)
	corruptCRC[len(corruptCRC)-8] ^= 0xff // CRC32 in the gzip trailer
	bomb := gz(idxBytes(IDXUint8, []uint32{1 << 30, 4}, nil))
	for _, tc := range []struct {
		name string
		data []byte
		want string // in the error; "" = must succeed
	}{
		{"ok", good, ""},
		{"ok gzip", gz(good), ""},
		{"ok empty dimension", idxBytes(IDXUint8, []uint32{0, 5}, nil), ""},
		{"ok int32", idxBytes(IDXInt32, []uint32{2}, make([]byte, 8)), ""},
		{"empty file", nil, "truncated header"},
		{"short header", good[:3], "truncated header"},
		{"short dims", good[:9], "truncated header"},
		{"bad magic", append([]byte{1}, good[1:]...), "bad magic"},
		{"bad type", idxBytes(0x07, []uint32{1}, []byte{0}), "unknown element type 0x07"},
		{"rank 0", idxBytes(IDXUint8, nil, nil), "rank 0"},
		{"rank 5", idxBytes(IDXUint8, []uint32{1, 1, 1, 1, 1}, []byte{0}), "rank 5"},
		{"truncated data", good[:len(good)-1], "truncated"},
		{"trailing data", append(slices.Clone(good), 9), "1 trailing bytes"},
		{"huge dims", idxBytes(IDXFloat64, []uint32{1 << 31, 1 << 31}, nil), "exceed"},
		{"gzip truncated data", gz(good[:len(good)-2]), "truncated"},
		{"gzip trailing data", gz(append(slices.Clone(good), 1, 2)), "trailing data"},
		{"gzip cut stream", gz(good)[:15], "idx:"},
		{"gzip bad checksum", corruptCRC, "gzip"},
		{"gzip bomb header", bomb, "more than a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x-idx")
			writeFile(t, path, tc.data)
			x, err := ReadIDXFile(path)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				n := idxElemSize(x.Type)
				for _, d := range x.Dims {
					n *= d
				}
				if len(x.Data) != n {
					t.Errorf("data has %d bytes, dims %v say %d", len(x.Data), x.Dims, n)
				}
				return
			}
			oneLine(t, err, tc.want, path)
		})
	}
}

func TestOpenIDXErrors(t *testing.T) {
	imgs := idxBytes(IDXUint8, []uint32{3, 2, 2}, make([]byte, 12))
	labels := idxBytes(IDXUint8, []uint32{3}, []byte{0, 4, 2})
	for _, tc := range []struct {
		name           string
		images, labels []byte
		opts           []Option
		want           string
	}{
		{"ok", imgs, labels, nil, ""},
		{"count mismatch", imgs, idxBytes(IDXUint8, []uint32{2}, []byte{0, 1}), nil, "has 2 labels but"},
		{"images rank 1", labels, labels, nil, "rank 3"},
		{"images int32", idxBytes(IDXInt32, []uint32{3, 1, 1}, make([]byte, 12)), labels, nil, "type 0x0c"},
		{"empty image size", idxBytes(IDXUint8, []uint32{3, 0, 2}, nil), labels, nil, "empty image size"},
		{"labels rank 2", imgs, idxBytes(IDXUint8, []uint32{3, 1}, []byte{0, 1, 2}), nil, "rank 1"},
		{"label past declared classes", imgs, labels, []Option{WithNumClasses(4)}, "label 4 but 4 classes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ip, lp := filepath.Join(dir, "i-idx3"), filepath.Join(dir, "l-idx1")
			writeFile(t, ip, tc.images)
			writeFile(t, lp, tc.labels)
			ds, err := OpenIDX(ip, lp, tc.opts...)
			if tc.want != "" {
				oneLine(t, err, tc.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ds.Len() != 3 || ds.NumClasses() != 5 || ds.Label(1) != 4 {
				t.Errorf("Len %d NumClasses %d Label(1) %d; want 3, 5, 4", ds.Len(), ds.NumClasses(), ds.Label(1))
			}
		})
	}
}

// TestOpenIDXDir checks detection and split pairing on a small directory
// in both the Debian (gzipped) and the plain naming.
func TestOpenIDXDir(t *testing.T) {
	img := func(n int) []byte {
		return idxBytes(IDXUint8, []uint32{uint32(n), 4, 3}, bytes.Repeat([]byte{7}, n*12))
	}
	lab := func(l ...byte) []byte { return idxBytes(IDXUint8, []uint32{uint32(len(l))}, l) }
	t.Run("gzip with test split", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "train-images-idx3-ubyte.gz"), gzipBytes(t, img(3)))
		writeFile(t, filepath.Join(dir, "train-labels-idx1-ubyte.gz"), gzipBytes(t, lab(0, 1, 1)))
		writeFile(t, filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), gzipBytes(t, img(2)))
		writeFile(t, filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"), gzipBytes(t, lab(3, 0)))
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if s.Test == nil || s.Train.Len() != 3 || s.Test.Len() != 2 {
			t.Fatalf("splits %+v", s)
		}
		// Classes span both splits: the test split has label 3.
		if s.Train.NumClasses() != 4 || s.Test.NumClasses() != 4 {
			t.Errorf("NumClasses %d, %d; want 4, 4", s.Train.NumClasses(), s.Test.NumClasses())
		}
		im, err := s.Test.Image(1, nil)
		if err != nil || im.Bounds() != image.Rect(0, 0, 3, 4) {
			t.Errorf("test image: %v %v", im.Bounds(), err)
		}
	})
	t.Run("plain names, no test split", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "train-images.idx3-ubyte"), img(2))
		writeFile(t, filepath.Join(dir, "train-labels.idx1-ubyte"), lab(1, 0))
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if s.Test != nil || s.Train.Len() != 2 {
			t.Errorf("splits %+v", s)
		}
	})
	t.Run("test images without labels", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "train-images-idx3-ubyte"), img(2))
		writeFile(t, filepath.Join(dir, "train-labels-idx1-ubyte"), lab(1, 0))
		writeFile(t, filepath.Join(dir, "t10k-images-idx3-ubyte"), img(2))
		_, err := Open(dir)
		oneLine(t, err, "t10k", dir)
	})
	t.Run("missing labels", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "train-images-idx3-ubyte"), img(2))
		_, err := OpenIDXDir(dir)
		oneLine(t, err, "train-labels", dir)
	})
}

// TestFashionCorrupt truncates and corrupts a real Fashion-MNIST file.
func TestFashionCorrupt(t *testing.T) {
	fashion(t)
	raw, err := os.ReadFile(filepath.Join(fashionDir, "t10k-labels-idx1-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	flipped := slices.Clone(raw)
	flipped[len(flipped)/2] ^= 0x55
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"truncated gzip", raw[:len(raw)/2]},
		{"flipped byte", flipped},
		{"gzip trailer only", raw[len(raw)-8:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "t10k-labels-idx1-ubyte.gz")
			writeFile(t, path, tc.data)
			_, err := ReadIDXFile(path)
			oneLine(t, err, path)
		})
	}
}

// FuzzIDX checks that no input makes the IDX reader panic or return data
// inconsistent with its header. Declared sizes are capped at 1 MiB.
func FuzzIDX(f *testing.F) {
	good := idxBytes(IDXUint8, []uint32{2, 3}, []byte{1, 2, 3, 4, 5, 6})
	f.Add(good)
	f.Add(good[:7])
	f.Add(idxBytes(IDXFloat32, []uint32{1, 1, 1}, make([]byte, 4)))
	f.Add(idxBytes(IDXUint8, []uint32{1 << 30}, nil))
	f.Add(gzipBytes(f, good))
	f.Add(gzipBytes(f, idxBytes(IDXInt16, []uint32{1 << 20, 1 << 20}, nil)))
	f.Fuzz(func(t *testing.T, data []byte) {
		const maxBytes = 1 << 20
		x, err := decodeIDX(bytes.NewReader(data), int64(len(data)), bytes.HasPrefix(data, gzipMagic), maxBytes)
		if err != nil {
			return
		}
		n := idxElemSize(x.Type)
		for _, d := range x.Dims {
			n *= d
		}
		if len(x.Data) != n || n > maxBytes {
			t.Fatalf("dims %v type %#x: %d data bytes, want %d ≤ %d", x.Dims, x.Type, len(x.Data), n, maxBytes)
		}
	})
}

func TestParseIDX(t *testing.T) {
	x, err := ParseIDX(gzipBytes(t, idxBytes(IDXUint8, []uint32{2, 2}, []byte{1, 2, 3, 4})))
	if err != nil || !slices.Equal(x.Dims, []int{2, 2}) || !slices.Equal(x.Data, []byte{1, 2, 3, 4}) {
		t.Errorf("ParseIDX = %+v, %v", x, err)
	}
	_, err = ParseIDX([]byte{0, 0, 8})
	oneLine(t, err, "truncated header")
}
