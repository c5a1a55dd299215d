package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/google/renameio/v2"
)

// Mode is the permission of every file written here, set explicitly
// whatever the umask (models, tables and histories are meant to be read by
// others).
const Mode os.FileMode = 0o644

// File is a temporary file that replaces its destination on Commit. It is
// an io.Writer and an io.WriterAt. It is not safe for concurrent use.
type File struct {
	pending *renameio.PendingFile
	path    string
	done    bool // committed or discarded
}

// Create starts a write of path: a temporary file in path's folder, which
// must exist. The caller must Commit or Discard it; deferring Discard is
// safe, as it does nothing after a Commit.
func Create(path string) (*File, error) {
	dir := filepath.Dir(path)
	p, err := renameio.NewPendingFile(path, renameio.WithTempDir(dir), renameio.WithStaticPermissions(Mode))
	if err != nil {
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	return &File{pending: p, path: path}, nil
}

// Write writes to the temporary file.
func (f *File) Write(b []byte) (int, error) { return f.pending.Write(b) }

// WriteAt writes to the temporary file at an offset.
func (f *File) WriteAt(b []byte, off int64) (int, error) { return f.pending.WriteAt(b, off) }

// TempName is the temporary file's path (for tests and messages).
func (f *File) TempName() string { return f.pending.Name() }

// Commit syncs the temporary file, renames it over the destination and
// syncs the folder. On failure the temporary file is removed and the
// destination is as it was (or, if only the folder sync failed, already
// replaced but perhaps not yet durable).
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("atomicfile: %s: already committed or discarded", f.path)
	}
	if err := f.pending.CloseAtomicallyReplace(); err != nil {
		f.Discard()
		return fmt.Errorf("atomicfile: %w", err)
	}
	f.done = true
	if err := syncDir(filepath.Dir(f.path)); err != nil {
		return fmt.Errorf("atomicfile: %s is in place, but its folder was not synced: %w", f.path, err)
	}
	return nil
}

// Discard removes the temporary file, leaving the destination as it was.
// It does nothing after Commit or a previous Discard.
func (f *File) Discard() {
	if f.done {
		return
	}
	f.done = true
	f.pending.Cleanup()
}

// syncDir makes a rename in dir durable. File systems that cannot sync a
// folder (EINVAL, ENOTSUP) are not an error.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		err = nil
	}
	return errors.Join(err, d.Close())
}

// Write writes path atomically with what fill writes to w (buffered). An
// error from fill aborts the write and is returned as it is.
func Write(path string, fill func(w io.Writer) error) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	defer f.Discard()
	w := bufio.NewWriter(f)
	if err := fill(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	return f.Commit()
}

// WriteFile writes data to path atomically.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
