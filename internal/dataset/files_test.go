package dataset

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// classTree writes a class folder: classes in unsorted order, a nested
// subfolder, a non-image file and a hidden folder that must be ignored.
// Each image is 4×3 and solid grey at 10·label+k.
func classTree(t *testing.T, dir string) {
	t.Helper()
	g := func(v int) image.Image { return solid(4, 3, color.Gray{uint8(v)}) }
	writePNG(t, filepath.Join(dir, "zebra", "b.png"), g(20))
	writePNG(t, filepath.Join(dir, "zebra", "a.PNG"), g(21))
	writeJPEG(t, filepath.Join(dir, "ant", "x.jpg"), g(0))
	writePNG(t, filepath.Join(dir, "ant", "sub", "y.png"), g(1))
	writeJPEG(t, filepath.Join(dir, "Moth", "m.JPEG"), g(10))
	writeFile(t, filepath.Join(dir, "ant", "notes.txt"), []byte("not an image"))
	writePNG(t, filepath.Join(dir, ".cache", "c.png"), g(99))
	writeFile(t, filepath.Join(dir, "README"), []byte("a file, not a class"))
}

func TestOpenFolder(t *testing.T) {
	dir := t.TempDir()
	classTree(t, dir)
	f, err := OpenFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Byte order: upper case before lower case, as Python's sorted.
	if want := []string{"Moth", "ant", "zebra"}; !slices.Equal(f.ClassNames(), want) {
		t.Errorf("classes %q, want %q", f.ClassNames(), want)
	}
	if f.NumClasses() != 3 {
		t.Errorf("NumClasses = %d, want 3", f.NumClasses())
	}
	want := []struct {
		rel   string
		label int
		grey  uint8
	}{
		{"Moth/m.JPEG", 0, 10},
		{"ant/sub/y.png", 1, 1},
		{"ant/x.jpg", 1, 0},
		{"zebra/a.PNG", 2, 21},
		{"zebra/b.png", 2, 20},
	}
	if f.Len() != len(want) {
		t.Fatalf("Len = %d, want %d: %q", f.Len(), len(want), f.paths)
	}
	var sc Scratch
	for i, w := range want {
		if got := f.Path(i); got != filepath.Join(dir, w.rel) || f.Label(i) != w.label {
			t.Errorf("sample %d = %s label %d, want %s label %d", i, got, f.Label(i), w.rel, w.label)
		}
		img, err := f.Image(i, &sc)
		if err != nil {
			t.Fatal(err)
		}
		r, _, _, _ := img.At(1, 1).RGBA()
		if got := uint8(r >> 8); got != w.grey {
			t.Errorf("sample %d pixel %d, want %d", i, got, w.grey)
		}
	}
}

func TestOpenSplitFolders(t *testing.T) {
	for _, testName := range []string{"val", "test"} {
		t.Run(testName, func(t *testing.T) {
			root := t.TempDir()
			classTree(t, filepath.Join(root, "train"))
			// The test split lacks "ant": labels come from the names.
			writePNG(t, filepath.Join(root, testName, "zebra", "z.png"), solid(2, 2, color.White))
			writePNG(t, filepath.Join(root, testName, "Moth", "m.png"), solid(2, 2, color.White))
			s, err := Open(root)
			if err != nil {
				t.Fatal(err)
			}
			if s.Train.Len() != 5 || s.Test == nil || s.Test.Len() != 2 {
				t.Fatalf("splits %d / %v", s.Train.Len(), s.Test)
			}
			if s.Test.NumClasses() != 3 || s.Test.Label(0) != 0 || s.Test.Label(1) != 2 {
				t.Errorf("test split: %d classes, labels %d %d; want 3 classes, labels 0 2",
					s.Test.NumClasses(), s.Test.Label(0), s.Test.Label(1))
			}
		})
	}
	t.Run("unknown class in val", func(t *testing.T) {
		root := t.TempDir()
		classTree(t, filepath.Join(root, "train"))
		writePNG(t, filepath.Join(root, "val", "yak", "y.png"), solid(2, 2, color.White))
		_, err := Open(root)
		oneLine(t, err, `"yak"`, filepath.Join(root, "val"))
	})
	t.Run("train only", func(t *testing.T) {
		root := t.TempDir()
		classTree(t, filepath.Join(root, "train"))
		s, err := Open(root)
		if err != nil || s.Test != nil || s.Train.Len() != 5 {
			t.Errorf("Open = %+v, %v; want train only", s, err)
		}
	})
}

func TestOpenFolderErrors(t *testing.T) {
	t.Run("empty class", func(t *testing.T) {
		dir := t.TempDir()
		classTree(t, dir)
		os.MkdirAll(filepath.Join(dir, "empty"), 0o755)
		_, err := OpenFolder(dir)
		oneLine(t, err, filepath.Join(dir, "empty"), "no JPEG or PNG")
	})
	t.Run("no classes", func(t *testing.T) {
		dir := t.TempDir()
		writePNG(t, filepath.Join(dir, "loose.png"), solid(1, 1, color.White))
		_, err := OpenFolder(dir)
		oneLine(t, err, dir, "no class subfolders")
	})
	t.Run("no classes, no images", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "notes.txt"), []byte("not an image"))
		_, err := OpenImages(dir)
		oneLine(t, err, dir, "no class subfolders and no JPEG or PNG")
	})
	t.Run("declared classes too few", func(t *testing.T) {
		dir := t.TempDir()
		classTree(t, dir)
		_, err := OpenFolder(dir, WithNumClasses(2))
		oneLine(t, err, dir, "3 classes but 2 declared")
	})
	t.Run("missing", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "nope")
		_, err := Open(dir)
		oneLine(t, err, dir, "no such file")
	})
}

// TestImageDecodeErrors checks that a file that is not a valid image fails
// with a *SampleError naming it.
func TestImageDecodeErrors(t *testing.T) {
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "c", "good.png"), solid(3, 3, color.White))
	good, _ := os.ReadFile(filepath.Join(dir, "c", "good.png"))
	writeFile(t, filepath.Join(dir, "c", "cut.png"), good[:len(good)/2])
	writeFile(t, filepath.Join(dir, "c", "text.jpg"), []byte("hello"))
	writeFile(t, filepath.Join(dir, "c", "empty.png"), nil)
	f, err := OpenFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range f.Len() {
		_, err := f.Image(i, nil)
		if strings.HasSuffix(f.Path(i), "good.png") {
			if err != nil {
				t.Errorf("good.png: %v", err)
			}
			continue
		}
		var se *SampleError
		if !errors.As(err, &se) || se.Index != i || se.Source != f.Path(i) {
			t.Errorf("%s: error %v is not a SampleError for sample %d", f.Path(i), err, i)
		}
		oneLine(t, err, f.Path(i))
	}
	os.Remove(filepath.Join(dir, "c", "good.png"))
	_, err = f.Image(slices.IndexFunc(f.paths, func(p string) bool { return strings.HasSuffix(p, "good.png") }), nil)
	oneLine(t, err, "good.png", "no such file")
}

func TestOpenList(t *testing.T) {
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "img", "a.png"), solid(2, 2, color.Black))
	writePNG(t, filepath.Join(dir, "img", "with space.png"), solid(2, 2, color.Black))
	abs := filepath.Join(t.TempDir(), "abs.png")
	writePNG(t, abs, solid(2, 2, color.Black))
	list := filepath.Join(dir, "labels.txt")
	writeFile(t, list, []byte(fmt.Sprintf(`# a comment
img/a.png 3

   # indented comment
img/with space.png	0
%s 7
img/a.png 3   `+"\r\n", abs)))
	for _, tc := range []struct {
		name    string
		opts    []Option
		classes int
	}{
		{"derived classes", nil, 8},
		{"declared classes", []Option{WithNumClasses(1000)}, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(list, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			f := s.Train.(*Files)
			if s.Test != nil || f.Len() != 4 || f.NumClasses() != tc.classes || f.ClassNames() != nil {
				t.Fatalf("Len %d NumClasses %d test %v; want 4, %d, nil", f.Len(), f.NumClasses(), s.Test, tc.classes)
			}
			wantPaths := []string{filepath.Join(dir, "img/a.png"), filepath.Join(dir, "img/with space.png"), abs, filepath.Join(dir, "img/a.png")}
			wantLabels := []int{3, 0, 7, 3}
			for i := range wantPaths {
				if f.Path(i) != wantPaths[i] || f.Label(i) != wantLabels[i] {
					t.Errorf("sample %d: %s %d, want %s %d", i, f.Path(i), f.Label(i), wantPaths[i], wantLabels[i])
				}
			}
		})
	}
}

func TestOpenListErrors(t *testing.T) {
	for _, tc := range []struct {
		name, list string
		opts       []Option
		want       []string
	}{
		{"missing file", "a.png 0\nnope.png 1\n", nil, []string{":2:", "nope.png", "no such file"}},
		{"negative label", "a.png -1\n", nil, []string{":1:", `label "-1"`}},
		{"word label", "a.png cat\n", nil, []string{`label "cat"`}},
		{"float label", "# c\na.png 1.5\n", nil, []string{":2:", `label "1.5"`}},
		{"no label", "a.png\n", nil, []string{":1:", "PATH LABEL"}},
		{"label past declared", "a.png 10\n", []Option{WithNumClasses(10)}, []string{"label 10 out of range for 10 classes"}},
		{"empty", "# nothing\n\n", nil, []string{"no samples"}},
		{"directory as file", "img 0\n", nil, []string{"not a regular file"}},
		{"huge label", "a.png 99999999999999999999\n", nil, []string{"not a non-negative integer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writePNG(t, filepath.Join(dir, "a.png"), solid(2, 2, color.Black))
			os.Mkdir(filepath.Join(dir, "img"), 0o755)
			list := filepath.Join(dir, "list.txt")
			writeFile(t, list, []byte(tc.list))
			_, err := Open(list, tc.opts...)
			oneLine(t, err, append(tc.want, list)...)
		})
	}
}

// FuzzListFile checks that no list file makes the parser panic, and that
// what it accepts is consistent. Files named "missing*" do not exist.
func FuzzListFile(f *testing.F) {
	f.Add([]byte("a.png 0\nb.png 3\n"), 0)
	f.Add([]byte("# c\n\n  x y.png\t2\r\n"), 5)
	f.Add([]byte("missing.png 1\n"), 0)
	f.Add([]byte("a.png -7\n"), 0)
	f.Add([]byte("/abs/a.png 4\n"), 3)
	f.Fuzz(func(t *testing.T, data []byte, classes int) {
		check := func(p string) error {
			if strings.HasPrefix(filepath.Base(p), "missing") {
				return os.ErrNotExist
			}
			return nil
		}
		files, err := parseList(bytes.NewReader(data), "/data/list.txt", options{numClasses: classes}, check)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "dataset: /data/list.txt") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q is not one line naming the list", err)
			}
			return
		}
		if files.Len() == 0 || files.NumClasses() <= 0 || (classes > 0 && files.NumClasses() != classes) {
			t.Fatalf("Len %d NumClasses %d for declared %d", files.Len(), files.NumClasses(), classes)
		}
		for i := range files.Len() {
			if l := files.Label(i); l < 0 || l >= files.NumClasses() {
				t.Fatalf("label %d outside [0,%d)", l, files.NumClasses())
			}
			if p := files.Path(i); !filepath.IsAbs(p) {
				t.Fatalf("path %q is not absolute", p)
			}
		}
	})
}

func TestImagenetMiniList(t *testing.T) {
	f := imagenetMini(t)
	if f.Len() != 1300 || f.NumClasses() != 1000 {
		t.Fatalf("Len %d NumClasses %d; want 1300, 1000", f.Len(), f.NumClasses())
	}
	present := 0
	for _, c := range ClassCounts(f) {
		if c > 0 {
			present++
		}
	}
	if present != 725 {
		t.Errorf("%d classes present, want 725", present)
	}
	if err := CheckClasses(f, 1000); err != nil {
		t.Error(err)
	}
	oneLine(t, CheckClasses(f, 10), "only 10 classes")
	// Without the declaration, the classes stop at the largest label.
	g, err := OpenList(filepath.Join(filepath.Dir(f.Path(0)), "..", "labels.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if g.NumClasses() != 999 {
		t.Errorf("derived NumClasses %d, want 999 (largest label 998)", g.NumClasses())
	}
}

// TestImageSize checks the header sniffing that guards against images
// declaring more pixels than maxImagePixels.
func TestImageSize(t *testing.T) {
	dir := t.TempDir()
	writeJPEG(t, filepath.Join(dir, "a.jpg"), coords(37, 21))
	writePNG(t, filepath.Join(dir, "b.png"), coords(5, 9))
	for _, tc := range []struct {
		path string
		w, h int
	}{
		{filepath.Join(dir, "a.jpg"), 37, 21},
		{filepath.Join(dir, "b.png"), 5, 9},
		{filepath.Join("testdata", "pil420.jpg"), 23, 17}, // Pillow writes JFIF APP0 first
	} {
		b, err := os.ReadFile(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if w, h, ok := imageSize(b); !ok || w != tc.w || h != tc.h {
			t.Errorf("%s: imageSize = %d×%d %v, want %d×%d", tc.path, w, h, ok, tc.w, tc.h)
		}
	}
	// A PNG header declaring 100000×100000 pixels is refused before the
	// decoder allocates anything.
	bomb := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x01\x86\xa0\x00\x01\x86\xa0\x08\x02\x00\x00\x00")
	writeFile(t, filepath.Join(dir, "c", "bomb.png"), bomb)
	f, err := OpenFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Image(0, nil)
	oneLine(t, err, "bomb.png", "100000×100000", "limit")
	for _, b := range [][]byte{nil, jpegMagic, {0xff, 0xd8, 0xff}, {0xff, 0xd8, 0xff, 0xc0, 0, 2}, bomb[:20]} {
		if _, _, ok := imageSize(b); ok {
			t.Errorf("imageSize(% x) claims a size", b)
		}
	}
}

// FuzzDecodeImage checks that no file content makes decoding panic, and
// that the pixel limit holds. The limit is 2²⁰ pixels to keep runs fast.
func FuzzDecodeImage(f *testing.F) {
	for _, name := range []string{"pil420.jpg", "pil422.jpg"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, coords(3, 2)); err != nil {
		f.Fatal(err)
	}
	f.Add(pngBuf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		const maxPixels = 1 << 20
		img, err := decodeBytes(data, new(Scratch), maxPixels)
		if err != nil {
			return
		}
		if r := img.Bounds(); r.Empty() || int64(r.Dx())*int64(r.Dy()) > maxPixels {
			t.Fatalf("decoded %v past the %d-pixel limit", r, maxPixels)
		}
		// Whatever decodes must preprocess without panicking.
		p := Preprocess{Channels: 3, Height: 4, Width: 4, Resize: ResizeShorter, Size: 5}
		if err := p.Apply(img, make([]float32, p.SampleLen())); err != nil {
			t.Fatal(err)
		}
	})
}
