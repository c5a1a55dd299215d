package dataset

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Files is a data set of image files (JPEG or PNG) decoded lazily from
// disk: an ImageNet-style class folder or a list file. Only the paths and
// labels are held in memory.
type Files struct {
	name       string // folder or list file, for messages
	paths      []string
	labels     []int32
	numClasses int
	classes    []string // class names for folders; nil for list files
}

func (f *Files) Len() int            { return len(f.paths) }
func (f *Files) NumClasses() int     { return f.numClasses }
func (f *Files) Label(i int) int     { return int(f.labels[i]) }
func (f *Files) Source(i int) string { return f.paths[i] }

// Path is the file of sample i.
func (f *Files) Path(i int) string { return f.paths[i] }

// ClassNames returns the class folder names in label order, or nil for a
// list file, whose classes have no names.
func (f *Files) ClassNames() []string { return f.classes }

// Image decodes the file of sample i.
func (f *Files) Image(i int, sc *Scratch) (image.Image, error) {
	if i < 0 || i >= len(f.paths) {
		return nil, &SampleError{Index: i, Source: f.name, Err: errIndex(i, len(f.paths))}
	}
	img, err := decodeFile(f.paths[i], sc)
	if err != nil {
		return nil, &SampleError{Index: i, Source: f.paths[i], Err: err}
	}
	return img, nil
}

// maxImageFile bounds the size of one image file.
const maxImageFile = 256 << 20

var (
	jpegMagic = []byte{0xff, 0xd8}
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
)

// decodeFile reads and decodes a JPEG or PNG file, chosen by its content.
// The file is read into sc's buffer, which is reused from call to call.
func decodeFile(path string, sc *Scratch) (image.Image, error) {
	if sc == nil {
		sc = new(Scratch)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, unwrapPath(err)
	}
	size := st.Size()
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if size > maxImageFile {
		return nil, fmt.Errorf("file of %d bytes is larger than the %d-byte limit", size, maxImageFile)
	}
	if int64(cap(sc.file)) < size {
		sc.file = make([]byte, size)
	}
	buf := sc.file[:size]
	if _, err := io.ReadFull(fh, buf); err != nil {
		return nil, readErr(err)
	}
	return decodeBytes(buf, sc, maxImagePixels)
}

// decodeBytes decodes a JPEG or PNG held in buf (which sc.rd then reads)
// if the header declares at most maxPixels pixels.
func decodeBytes(buf []byte, sc *Scratch, maxPixels int64) (image.Image, error) {
	if w, h, ok := imageSize(buf); ok && int64(w)*int64(h) > maxPixels {
		return nil, fmt.Errorf("image of %d×%d pixels is larger than the %d-pixel limit", w, h, maxPixels)
	}
	sc.rd.Reset(buf)
	var (
		img image.Image
		err error
	)
	switch {
	case bytes.HasPrefix(buf, jpegMagic):
		img, err = jpeg.Decode(&sc.rd)
	case bytes.HasPrefix(buf, pngMagic):
		img, err = png.Decode(&sc.rd)
	default:
		return nil, errors.New("not a JPEG or PNG file")
	}
	if err != nil {
		return nil, err
	}
	if img.Bounds().Empty() {
		return nil, errors.New("empty image")
	}
	return img, nil
}

// maxImagePixels bounds the pixels of one decoded image (8192×8192), so
// that a small file declaring a huge image cannot exhaust memory.
const maxImagePixels = 1 << 26

// imageSize reads the dimensions a JPEG (its first SOF segment) or PNG
// (its IHDR chunk) declares, without decoding; ok is false when it cannot
// tell, and then the decoder reports what is wrong.
func imageSize(b []byte) (w, h int, ok bool) {
	be16 := func(p []byte) int { return int(p[0])<<8 | int(p[1]) }
	if bytes.HasPrefix(b, pngMagic) {
		if len(b) < 24 || string(b[12:16]) != "IHDR" {
			return 0, 0, false
		}
		w = int(uint32(b[16])<<24 | uint32(b[17])<<16 | uint32(b[18])<<8 | uint32(b[19]))
		h = int(uint32(b[20])<<24 | uint32(b[21])<<16 | uint32(b[22])<<8 | uint32(b[23]))
		return w, h, true
	}
	if !bytes.HasPrefix(b, jpegMagic) {
		return 0, 0, false
	}
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xff {
			return 0, 0, false
		}
		m := b[i+1]
		switch {
		case m == 0xff: // fill byte
			i++
			continue
		case m == 0xd8 || m == 0x01 || (m >= 0xd0 && m <= 0xd7): // no length
			i += 2
			continue
		case m == 0xd9 || m == 0xda: // end of image, start of scan
			return 0, 0, false
		}
		n := be16(b[i+2:])
		if m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc { // SOFn
			if i+9 > len(b) {
				return 0, 0, false
			}
			return be16(b[i+7:]), be16(b[i+5:]), true
		}
		i += 2 + n
	}
	return 0, 0, false
}

// unwrapPath drops the path from an *fs.PathError, which the caller names
// already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// isImageName reports whether a file name has a JPEG or PNG extension.
func isImageName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpg", ".jpeg", ".png":
		return true
	}
	return false
}

// Option configures Open and the Open* functions.
type Option func(*options)

type options struct {
	numClasses int
}

func collect(opts []Option) options {
	var o options
	for _, f := range opts {
		f(&o)
	}
	return o
}

// WithNumClasses declares the number of classes (for example 1000 for an
// ImageNet subset) instead of deriving it from the data (largest label + 1,
// or the number of class folders). A label at or past n is then an error.
func WithNumClasses(n int) Option {
	return func(o *options) { o.numClasses = n }
}

func (o options) classes(name string, derived int) (int, error) {
	switch {
	case o.numClasses < 0:
		return 0, errf("%s: negative number of classes %d declared", name, o.numClasses)
	case o.numClasses == 0:
		return derived, nil
	case derived > o.numClasses:
		return 0, errf("%s: data has %d classes but %d declared", name, derived, o.numClasses)
	}
	return o.numClasses, nil
}

// OpenFolder opens an ImageNet-style folder: one subfolder per class, the
// class index being the subfolder's position among the sorted names
// (byte order, as Python's sorted). Subfolders whose names begin with '.'
// are ignored. JPEG and PNG files (by extension, case-insensitive) are
// collected recursively in lexical order; other files are ignored. A class
// folder without images is an error.
func OpenFolder(dir string, opts ...Option) (*Files, error) {
	return openFolder(dir, collect(opts))
}

func openFolder(dir string, o options) (*Files, error) {
	classes, err := classDirs(dir)
	if err != nil {
		return nil, err
	}
	n, err := o.classes(dir, len(classes))
	if err != nil {
		return nil, err
	}
	f := &Files{name: dir, numClasses: n, classes: classes}
	if err := f.scan(dir, classes, nil); err != nil {
		return nil, err
	}
	return f, nil
}

// classDirs lists the class subfolders of dir, sorted.
func classDirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, errf("%v", err)
	}
	var classes []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		isDir := e.IsDir()
		if e.Type()&fs.ModeSymlink != 0 {
			if st, err := os.Stat(filepath.Join(dir, e.Name())); err == nil {
				isDir = st.IsDir()
			}
		}
		if isDir {
			classes = append(classes, e.Name())
		}
	}
	if len(classes) == 0 {
		return nil, errf("%s: no class subfolders", dir)
	}
	slices.Sort(classes)
	return classes, nil
}

// scan adds the images below dir/<class> for each class name; index maps a
// class name to its label (nil: position in classes).
func (f *Files) scan(dir string, classes []string, index map[string]int) error {
	for ci, c := range classes {
		label := ci
		if index != nil {
			l, ok := index[c]
			if !ok {
				return errf("%s: class folder %q is not a class of the training split", dir, c)
			}
			label = l
		}
		cdir := filepath.Join(dir, c)
		before := len(f.paths)
		err := filepath.WalkDir(cdir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if p != cdir && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if isImageName(d.Name()) {
				f.paths = append(f.paths, p)
				f.labels = append(f.labels, int32(label))
			}
			return nil
		})
		if err != nil {
			return errf("%v", err)
		}
		if len(f.paths) == before {
			return errf("%s: class folder has no JPEG or PNG files", cdir)
		}
	}
	return nil
}

// openFolderSplits opens root/train and root/<test>, both class folders;
// the test split's classes are named by the training split's.
func openFolderSplits(root, test string, o options) (*Splits, error) {
	trdir := filepath.Join(root, "train")
	train, err := openFolder(trdir, o)
	if err != nil {
		return nil, err
	}
	s := &Splits{Train: train}
	if test == "" {
		return s, nil
	}
	tedir := filepath.Join(root, test)
	classes, err := classDirs(tedir)
	if err != nil {
		return nil, err
	}
	index := make(map[string]int, len(train.classes))
	for i, c := range train.classes {
		index[c] = i
	}
	te := &Files{name: tedir, numClasses: train.numClasses, classes: train.classes}
	if err := te.scan(tedir, classes, index); err != nil {
		return nil, err
	}
	s.Test = te
	return s, nil
}

// maxListLine bounds one line of a list file.
const maxListLine = 1 << 16

// OpenList opens a list file of "PATH LABEL" lines. PATH is relative to
// the list file's folder unless absolute and may contain spaces (the label
// is the last field); LABEL is a 0-based integer. Blank lines and lines
// whose first non-blank character is '#' are skipped. Every file must
// exist. The number of classes is the largest label + 1 unless declared
// with WithNumClasses.
func OpenList(path string, opts ...Option) (*Files, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, errf("%v", err)
	}
	defer fh.Close()
	return parseList(fh, path, collect(opts), func(p string) error {
		st, err := os.Stat(p)
		if err != nil {
			return unwrapPath(err)
		}
		if !st.Mode().IsRegular() {
			return errors.New("not a regular file")
		}
		return nil
	})
}

// parseList reads a list file named name from r; check validates each
// sample's file.
func parseList(r io.Reader, name string, o options, check func(string) error) (*Files, error) {
	if o.numClasses < 0 {
		return nil, errf("%s: negative number of classes %d declared", name, o.numClasses)
	}
	dir := filepath.Dir(name)
	f := &Files{name: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxListLine)
	maxLabel := -1
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		sep := strings.LastIndexAny(line, " \t")
		if sep < 0 {
			return nil, errf("%s:%d: want \"PATH LABEL\", got %q", name, lineNo, line)
		}
		p, ls := strings.TrimSpace(line[:sep]), line[sep+1:]
		label, err := strconv.Atoi(ls)
		if err != nil || label < 0 || label > 1<<30 {
			return nil, errf("%s:%d: label %q is not a non-negative integer", name, lineNo, ls)
		}
		if o.numClasses > 0 && label >= o.numClasses {
			return nil, errf("%s:%d: label %d out of range for %d classes", name, lineNo, label, o.numClasses)
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := check(p); err != nil {
			return nil, errf("%s:%d: %s: %v", name, lineNo, p, err)
		}
		maxLabel = max(maxLabel, label)
		f.paths = append(f.paths, p)
		f.labels = append(f.labels, int32(label))
	}
	if err := sc.Err(); err != nil {
		return nil, errf("%s: %v", name, err)
	}
	if len(f.paths) == 0 {
		return nil, errf("%s: no samples", name)
	}
	f.numClasses = maxLabel + 1
	if o.numClasses > 0 {
		f.numClasses = o.numClasses
	}
	return f, nil
}

// Open opens the data set at spec, detecting its format:
//
//   - a regular file is a list file (see OpenList); it has no test split;
//   - a directory holding train-images-*idx* files is an IDX directory
//     (see OpenIDXDir);
//   - a directory with a train/ subfolder is split into train/ and val/
//     (or test/ when there is no val/), each a class folder;
//   - a directory with image files and no class subfolders is unlabelled
//     data (see OpenImages and Unlabelled);
//   - any other directory is a class folder (see OpenFolder) with no test
//     split.
func Open(spec string, opts ...Option) (*Splits, error) {
	o := collect(opts)
	st, err := os.Stat(spec)
	if err != nil {
		return nil, errf("%v", err)
	}
	if !st.IsDir() {
		f, err := OpenList(spec, opts...)
		if err != nil {
			return nil, err
		}
		return &Splits{Train: f}, nil
	}
	entries, err := os.ReadDir(spec)
	if err != nil {
		return nil, errf("%v", err)
	}
	if ti, _ := idxFiles(entries, spec, "train"); ti != "" {
		return openIDXDir(spec, entries, o)
	}
	isDir := func(name string) bool {
		st, err := os.Stat(filepath.Join(spec, name))
		return err == nil && st.IsDir()
	}
	if isDir("train") {
		test := ""
		switch {
		case isDir("val"):
			test = "val"
		case isDir("test"):
			test = "test"
		}
		return openFolderSplits(spec, test, o)
	}
	if _, err := classDirs(spec); err != nil && hasLooseImages(spec) {
		ds, err := OpenImages(spec)
		if err != nil {
			return nil, err
		}
		return &Splits{Train: ds}, nil
	}
	f, err := OpenFolder(spec, opts...)
	if err != nil {
		return nil, err
	}
	return &Splits{Train: f}, nil
}
