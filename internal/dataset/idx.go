package dataset

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// IDX element type codes (the third byte of an IDX file).
const (
	IDXUint8   = 0x08
	IDXInt8    = 0x09
	IDXInt16   = 0x0B
	IDXInt32   = 0x0C
	IDXFloat32 = 0x0D
	IDXFloat64 = 0x0E
)

// Limits on what the IDX reader accepts.
const (
	// MaxIDXBytes is the largest data section ReadIDX accepts (4 GiB).
	MaxIDXBytes = 1 << 32
	// maxIDXRank bounds the number of dimensions.
	maxIDXRank = 4
	// maxDeflateRatio bounds how much a deflate stream can expand: each
	// 258-byte match costs at least 2 bits, so at most 1032:1. A gzip file
	// declaring more data than 1032 times its size is rejected before
	// anything is allocated.
	maxDeflateRatio = 1032
)

// IDX is the content of one IDX file: a typed N-dimensional array.
type IDX struct {
	Type byte   // element type, one of the IDX* constants
	Dims []int  // dimension sizes, outermost first
	Data []byte // elements, big-endian, row-major; len = product(Dims)·element size
}

func idxElemSize(t byte) int {
	switch t {
	case IDXUint8, IDXInt8:
		return 1
	case IDXInt16:
		return 2
	case IDXInt32, IDXFloat32:
		return 4
	case IDXFloat64:
		return 8
	}
	return 0
}

var gzipMagic = []byte{0x1f, 0x8b}

// ParseIDX parses an IDX file held in memory, gzip-compressed or not.
func ParseIDX(b []byte) (*IDX, error) {
	x, err := decodeIDX(bytes.NewReader(b), int64(len(b)), bytes.HasPrefix(b, gzipMagic), MaxIDXBytes)
	if err != nil {
		return nil, errf("%v", err)
	}
	return x, nil
}

// ReadIDXFile reads an IDX file, gzip-compressed or not (detected by its
// first bytes, not its name). Sizes declared in the header are checked
// against the file's length before the data is allocated.
func ReadIDXFile(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errf("%v", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, errf("%v", err)
	}
	if !st.Mode().IsRegular() {
		return nil, errf("%s: not a regular file", path)
	}
	var magic [2]byte
	n, _ := f.ReadAt(magic[:], 0)
	x, err := decodeIDX(f, st.Size(), n == 2 && bytes.Equal(magic[:], gzipMagic), MaxIDXBytes)
	if err != nil {
		return nil, errf("%s: %v", path, err)
	}
	return x, nil
}

// decodeIDX reads an IDX file of total bytes from r (compressed bytes when
// gz is set) whose data section may be at most maxBytes (≤ MaxIDXBytes).
func decodeIDX(r io.Reader, total int64, gz bool, maxBytes int64) (*IDX, error) {
	limit := total // bound on header+data bytes
	if gz {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("idx: gzip: %v", err)
		}
		defer zr.Close()
		r = zr
		limit = total * maxDeflateRatio
	}
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("idx: truncated header: %v", readErr(err))
	}
	if h[0] != 0 || h[1] != 0 {
		return nil, fmt.Errorf("idx: bad magic %02x %02x (want 00 00)", h[0], h[1])
	}
	typ, rank := h[2], int(h[3])
	esize := idxElemSize(typ)
	if esize == 0 {
		return nil, fmt.Errorf("idx: unknown element type 0x%02x", typ)
	}
	if rank < 1 || rank > maxIDXRank {
		return nil, fmt.Errorf("idx: rank %d not in [1,%d]", rank, maxIDXRank)
	}
	dimBytes := make([]byte, 4*rank)
	if _, err := io.ReadFull(r, dimBytes); err != nil {
		return nil, fmt.Errorf("idx: truncated header: %v", readErr(err))
	}
	hdrLen := int64(4 + 4*rank)
	dims := make([]int, rank)
	size := int64(esize)
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(dimBytes[4*i:]))
	}
	if slices.Contains(dims, 0) {
		size = 0
	}
	for _, d := range dims {
		if size == 0 {
			break
		}
		// size ≤ maxBytes ≤ 2³² and d < 2³², so the product cannot overflow.
		if size *= int64(d); size > maxBytes {
			return nil, fmt.Errorf("idx: dimensions %v exceed the %d-byte limit", dims, maxBytes)
		}
	}
	avail := limit - hdrLen
	switch {
	case !gz && size > avail:
		return nil, fmt.Errorf("idx: truncated: dimensions %v need %d data bytes, file has %d", dims, size, max(avail, 0))
	case !gz && size < avail:
		return nil, fmt.Errorf("idx: %d trailing bytes after the %d data bytes of dimensions %v", avail-size, size, dims)
	case gz && size > avail:
		return nil, fmt.Errorf("idx: dimensions %v need %d data bytes, more than a %d-byte gzip stream can hold", dims, size, total)
	}
	data := make([]byte, size)
	if n, err := io.ReadFull(r, data); err != nil {
		return nil, fmt.Errorf("idx: truncated: dimensions %v need %d data bytes, got %d: %v", dims, size, n, readErr(err))
	}
	if gz {
		// Read to the end so that the gzip checksum is verified.
		var one [1]byte
		if n, err := io.ReadFull(r, one[:]); n != 0 {
			return nil, fmt.Errorf("idx: trailing data after the %d data bytes of dimensions %v", size, dims)
		} else if err != io.EOF {
			return nil, fmt.Errorf("idx: gzip: %v", err)
		}
	}
	return &IDX{Type: typ, Dims: dims, Data: data}, nil
}

func readErr(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// idxDataset is an in-memory uint8 IDX image set.
type idxDataset struct {
	name       string // images file, for messages
	n, h, w    int
	pix        []byte // n·h·w
	labels     []byte // n
	numClasses int
}

// OpenIDX opens a pair of IDX files: images (uint8, rank 3: N×H×W) and
// labels (uint8, rank 1: N). The number of classes is the largest label
// plus one unless WithNumClasses says otherwise.
func OpenIDX(imagesPath, labelsPath string, opts ...Option) (Dataset, error) {
	o := collect(opts)
	d, err := readIDXPair(imagesPath, labelsPath)
	if err != nil {
		return nil, err
	}
	if err := setIDXClasses(o, d); err != nil {
		return nil, err
	}
	return d, nil
}

func readIDXPair(imagesPath, labelsPath string) (*idxDataset, error) {
	im, err := ReadIDXFile(imagesPath)
	if err != nil {
		return nil, err
	}
	if im.Type != IDXUint8 || len(im.Dims) != 3 {
		return nil, errf("%s: want uint8 images of rank 3 (N×H×W), got type 0x%02x dims %v", imagesPath, im.Type, im.Dims)
	}
	if im.Dims[1] == 0 || im.Dims[2] == 0 {
		return nil, errf("%s: empty image size %d×%d", imagesPath, im.Dims[1], im.Dims[2])
	}
	lb, err := ReadIDXFile(labelsPath)
	if err != nil {
		return nil, err
	}
	if lb.Type != IDXUint8 || len(lb.Dims) != 1 {
		return nil, errf("%s: want uint8 labels of rank 1, got type 0x%02x dims %v", labelsPath, lb.Type, lb.Dims)
	}
	if lb.Dims[0] != im.Dims[0] {
		return nil, errf("%s has %d labels but %s has %d images", labelsPath, lb.Dims[0], imagesPath, im.Dims[0])
	}
	return &idxDataset{
		name: imagesPath,
		n:    im.Dims[0], h: im.Dims[1], w: im.Dims[2],
		pix:    im.Data,
		labels: lb.Data,
	}, nil
}

func (d *idxDataset) maxLabel() int {
	m := -1
	for _, l := range d.labels {
		m = max(m, int(l))
	}
	return m
}

// setIDXClasses sets the class count of the given splits to the declared
// count or to the largest label of any split plus one.
func setIDXClasses(o options, ds ...*idxDataset) error {
	m := -1
	for _, d := range ds {
		if d != nil {
			m = max(m, d.maxLabel())
		}
	}
	n := m + 1
	if o.numClasses > 0 {
		if m >= o.numClasses {
			for _, d := range ds {
				if d != nil && d.maxLabel() == m {
					return errf("%s: label %d but %d classes declared", d.name, m, o.numClasses)
				}
			}
		}
		n = o.numClasses
	}
	for _, d := range ds {
		if d != nil {
			d.numClasses = n
		}
	}
	return nil
}

func (d *idxDataset) Len() int            { return d.n }
func (d *idxDataset) NumClasses() int     { return d.numClasses }
func (d *idxDataset) Label(i int) int     { return int(d.labels[i]) }
func (d *idxDataset) Source(i int) string { return fmt.Sprintf("%s[%d]", d.name, i) }

// Image returns sample i as an *image.Gray that shares the dataset's
// memory; it must not be modified.
func (d *idxDataset) Image(i int, sc *Scratch) (image.Image, error) {
	if i < 0 || i >= d.n {
		return nil, &SampleError{Index: i, Source: d.name, Err: errIndex(i, d.n)}
	}
	var g *image.Gray
	if sc != nil {
		g = &sc.gray
	} else {
		g = new(image.Gray)
	}
	sz := d.h * d.w
	*g = image.Gray{Pix: d.pix[i*sz : (i+1)*sz : (i+1)*sz], Stride: d.w, Rect: image.Rect(0, 0, d.w, d.h)}
	return g, nil
}

// idxFiles finds the IDX files of split prefix ("train" or "t10k") in dir:
// names beginning with prefix+"-images" / prefix+"-labels" and containing
// "idx", compressed or not (an uncompressed file wins over a .gz one).
func idxFiles(entries []os.DirEntry, dir, prefix string) (images, labels string) {
	find := func(kind string) string {
		var raw, gz []string
		for _, e := range entries {
			n := e.Name()
			if e.IsDir() || !strings.HasPrefix(n, prefix+"-"+kind) || !strings.Contains(n, "idx") {
				continue
			}
			if strings.HasSuffix(n, ".gz") {
				gz = append(gz, n)
			} else {
				raw = append(raw, n)
			}
		}
		slices.Sort(raw)
		slices.Sort(gz)
		if len(raw) > 0 {
			return filepath.Join(dir, raw[0])
		}
		if len(gz) > 0 {
			return filepath.Join(dir, gz[0])
		}
		return ""
	}
	return find("images"), find("labels")
}

// OpenIDXDir opens a directory of MNIST-style IDX files: train-images-*,
// train-labels-* and optionally t10k-images-*, t10k-labels-*.
func OpenIDXDir(dir string, opts ...Option) (*Splits, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, errf("%v", err)
	}
	return openIDXDir(dir, entries, collect(opts))
}

func openIDXDir(dir string, entries []os.DirEntry, o options) (*Splits, error) {
	ti, tl := idxFiles(entries, dir, "train")
	if ti == "" || tl == "" {
		return nil, errf("%s: no train-images-*idx* and train-labels-*idx* files", dir)
	}
	train, err := readIDXPair(ti, tl)
	if err != nil {
		return nil, err
	}
	var test *idxDataset
	switch ei, el := idxFiles(entries, dir, "t10k"); {
	case ei != "" && el != "":
		if test, err = readIDXPair(ei, el); err != nil {
			return nil, err
		}
		if test.h != train.h || test.w != train.w {
			return nil, errf("%s: test images are %d×%d but train images are %d×%d", ei, test.h, test.w, train.h, train.w)
		}
	case ei != "" || el != "":
		return nil, errf("%s: t10k images and labels must come together", dir)
	}
	if err := setIDXClasses(o, train, test); err != nil {
		return nil, err
	}
	s := &Splits{Train: train}
	if test != nil {
		s.Test = test
	}
	return s, nil
}
