package dataset

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fashionDir is where Debian's dataset-fashion-mnist installs its files.
const fashionDir = "/usr/share/datasets/fashion-mnist"

// fashion opens Fashion-MNIST or skips the test.
func fashion(t testing.TB) *Splits {
	t.Helper()
	if _, err := os.Stat(filepath.Join(fashionDir, "train-images-idx3-ubyte.gz")); err != nil {
		t.Skipf("Fashion-MNIST absent (apt-get install dataset-fashion-mnist): %v", err)
	}
	s, err := Open(fashionDir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sharedDir finds ../shared/<name> next to the repository root (the
// folder holding go.mod) or skips the test.
func sharedDir(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("go.mod not found above the package")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s absent: %v", p, err)
	}
	return p
}

// imagenetMini opens ../shared/imagenet-mini/labels.txt or skips.
func imagenetMini(t testing.TB) *Files {
	t.Helper()
	dir := sharedDir(t, "imagenet-mini")
	f, err := OpenList(filepath.Join(dir, "labels.txt"), WithNumClasses(1000))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// idxBytes encodes an IDX file.
func idxBytes(typ byte, dims []uint32, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, typ, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(data)
	return b.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writePNG(t testing.TB, path string, img image.Image) {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, b.Bytes())
}

func writeJPEG(t testing.TB, path string, img image.Image) {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, b.Bytes())
}

func solid(w, h int, c color.Color) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, c)
		}
	}
	return img
}

// coords is a w×h image whose pixel (x,y) is (x, y, 100+x+y): every
// pixel tells where it came from.
func coords(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x), uint8(y), uint8(100 + x + y), 255})
		}
	}
	return img
}

// memIDX builds an in-memory IDX dataset of n h×w samples; sample i has
// label labelOf(i) and pixel (x,y) = (i·7 + x·3 + y·5) mod 256.
func memIDX(n, h, w int, labelOf func(int) int) *idxDataset {
	d := &idxDataset{name: "mem", n: n, h: h, w: w, pix: make([]byte, n*h*w), labels: make([]byte, n)}
	for i := range n {
		d.labels[i] = byte(labelOf(i))
		for y := range h {
			for x := range w {
				d.pix[(i*h+y)*w+x] = byte(i*7 + x*3 + y*5)
			}
		}
	}
	d.numClasses = d.maxLabel() + 1
	return d
}

// oneLine checks that err is a one-line error prefixed "dataset:"
// mentioning each of want.
func oneLine(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one mentioning %q", want)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "dataset: ") || strings.Contains(msg, "\n") {
		t.Errorf("error %q is not one line prefixed \"dataset: \"", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not mention %q", msg, w)
		}
	}
}
