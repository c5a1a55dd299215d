package onnxio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/onnx-adapt/onnx-adapt/internal/atomicfile"
	"github.com/onnx-adapt/onnx-adapt/internal/onnxpb"
	"github.com/onnx-adapt/onnx-adapt/internal/savehook"
)

// Load reads an ONNX model file. External data files are read too; their
// locations must stay inside the model's folder.
func Load(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnxio: %w", err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("onnxio: %w", err)
	}
	m, err := decode(data, &externalResolver{dir: dir})
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return m, nil
}

// externalRef is where an external tensor's bytes live, as declared.
type externalRef struct {
	location       string
	offset, length int64
}

type externalResolver struct {
	dir     string
	realDir string
}

// resolve reads an external tensor's bytes into t.raw after checking that
// its location stays inside the model's folder (no absolute path, no "..",
// no symlink out) and that the file holds the declared bytes.
func (r *externalResolver) resolve(t *Tensor) error {
	ref, err := parseExternal(t.proto.GetExternalData())
	if err != nil {
		return err
	}
	n := t.NumElements()
	size := t.DataType.ByteSize(n)
	if size < 0 {
		return fmt.Errorf("external data of type %v is not supported", t.DataType)
	}
	if ref.length >= 0 && ref.length != size {
		return fmt.Errorf("external data length %d does not match shape %v of %v (%d bytes)", ref.length, t.Dims, t.DataType, size)
	}
	path, err := r.safePath(ref.location)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("external data: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("external data: %w", err)
	}
	if ref.offset < 0 || ref.offset > st.Size() || st.Size()-ref.offset < size {
		return fmt.Errorf("external data %q holds %d bytes, too few for %d bytes at offset %d", ref.location, st.Size(), size, ref.offset)
	}
	raw := make([]byte, size)
	if _, err := f.ReadAt(raw, ref.offset); err != nil && !(errors.Is(err, io.EOF) && size == 0) {
		return fmt.Errorf("external data %q: %w", ref.location, err)
	}
	t.raw = raw
	t.ext = &ref
	return nil
}

func parseExternal(entries []*onnxpb.StringStringEntryProto) (externalRef, error) {
	ref := externalRef{length: -1}
	for _, e := range entries {
		switch e.GetKey() {
		case "location":
			ref.location = e.GetValue()
		case "offset", "length":
			v, err := strconv.ParseInt(e.GetValue(), 10, 64)
			if err != nil || v < 0 {
				return ref, fmt.Errorf("external data %s %q is not a non-negative integer", e.GetKey(), e.GetValue())
			}
			if e.GetKey() == "offset" {
				ref.offset = v
			} else {
				ref.length = v
			}
		}
	}
	if ref.location == "" {
		return ref, errors.New("external data without a location")
	}
	return ref, nil
}

// safePath maps an external-data location to a file inside r.dir, refusing
// absolute paths, ".." components and symlinks that lead out of the folder.
func (r *externalResolver) safePath(location string) (string, error) {
	if filepath.IsAbs(location) || strings.HasPrefix(location, "/") || strings.HasPrefix(location, `\`) {
		return "", fmt.Errorf("external data location %q is an absolute path; it must be relative to the model's folder", location)
	}
	for _, part := range strings.FieldsFunc(location, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == ".." {
			return "", fmt.Errorf("external data location %q leaves the model's folder", location)
		}
	}
	if r.realDir == "" {
		real, err := filepath.EvalSymlinks(r.dir)
		if err != nil {
			return "", fmt.Errorf("external data: %w", err)
		}
		r.realDir = real
	}
	path := filepath.Join(r.dir, filepath.FromSlash(location))
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("external data: %w", err)
	}
	if rel, err := filepath.Rel(r.realDir, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("external data location %q is a symlink out of the model's folder", location)
	}
	return real, nil
}

// ExternalMode says how Save writes tensors that were read from external
// data files.
type ExternalMode int

const (
	// KeepExternal writes unchanged external tensors back to data files of
	// the same location names, at the same offsets, next to the new model.
	// Changed tensors are written inline.
	KeepExternal ExternalMode = iota
	// InlineExternal writes every tensor into the model file itself.
	InlineExternal
)

// SaveOptions control Save.
type SaveOptions struct {
	External ExternalMode
	// Check, when set, is called with the self-contained model bytes after
	// everything is written to temporary files and before any of them is
	// renamed into place. An error aborts the save and removes the
	// temporaries, so a model that fails the check never appears at path.
	Check func(model []byte) error
}

// Save writes m to path atomically (internal/atomicfile): every file is
// written to a temporary file in its destination folder, the model is
// checked, and then every file is synced and renamed into place (data
// files first, the model last). A failed save leaves nothing behind.
func Save(path string, m *Model, opts SaveOptions) error {
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("onnxio: save %s: folder %s does not exist", path, dir)
	}
	w := inlineAll
	type chunk struct {
		offset int64
		data   []byte
	}
	files := map[string][]chunk{}
	if opts.External == KeepExternal {
		w = func(name string, t *Tensor) (*onnxpb.TensorProto, error) {
			if t.ext == nil || t.dirty {
				return t.toProto(name), nil
			}
			files[t.ext.location] = append(files[t.ext.location], chunk{t.ext.offset, t.raw})
			if t.proto.GetName() == name {
				return t.proto, nil
			}
			p := proto.Clone(t.proto).(*onnxpb.TensorProto)
			p.Name = proto.String(name)
			return p, nil
		}
	}
	mp, err := m.encode(w)
	if err != nil {
		return err
	}
	data, err := marshal(mp)
	if err != nil {
		return err
	}

	// Every file goes to a temporary file first; none is put in place
	// before all are written and the check passed.
	var pending []*atomicfile.File
	defer func() {
		for _, f := range pending {
			f.Discard() // nothing after a Commit
		}
	}()
	locs := make([]string, 0, len(files))
	for loc := range files {
		locs = append(locs, loc)
	}
	sort.Strings(locs)
	for _, loc := range locs {
		target := filepath.Join(dir, filepath.FromSlash(loc))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return fmt.Errorf("onnxio: save %s: %w", path, err)
		}
		f, err := atomicfile.Create(target)
		if err != nil {
			return fmt.Errorf("onnxio: save %s: %w", path, err)
		}
		pending = append(pending, f)
		for _, c := range files[loc] {
			if _, err := f.WriteAt(c.data, c.offset); err != nil {
				return fmt.Errorf("onnxio: save %s: %w", path, err)
			}
		}
	}
	f, err := atomicfile.Create(path)
	if err != nil {
		return fmt.Errorf("onnxio: save %s: %w", path, err)
	}
	pending = append(pending, f) // the model last
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("onnxio: save %s: %w", path, err)
	}

	// self is the model with every tensor inline, as Check and the tests'
	// savehook see it.
	self := data
	if len(files) > 0 && (opts.Check != nil || savehook.Saved != nil) {
		if self, err = Encode(m); err != nil {
			return err
		}
	}
	if opts.Check != nil {
		if err := opts.Check(self); err != nil {
			return fmt.Errorf("onnxio: save %s: check failed: %w", path, err)
		}
	}
	for _, f := range pending {
		if err := f.Commit(); err != nil {
			return fmt.Errorf("onnxio: save %s: %w", path, err)
		}
	}
	if h := savehook.Saved; h != nil {
		h(path, self)
	}
	return nil
}
