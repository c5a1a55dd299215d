package atomicfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// names lists the entries of dir.
func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestWrite: a successful write puts exactly the new bytes in place with
// Mode, replacing an old file, and leaves no temporary file; a failed one
// leaves the old file as it was and no temporary file either.
func TestWrite(t *testing.T) {
	errFill := errors.New("fill failed")
	tests := []struct {
		name    string
		old     string // "" for no old file
		fill    func(w io.Writer) error
		want    string // the file's content afterwards ("" for absent)
		wantErr error
	}{
		{"new file", "", writeString("hello\n"), "hello\n", nil},
		{"replace", "old content\n", writeString("new\n"), "new\n", nil},
		{"empty", "old\n", writeString(""), "", nil},
		{"large", "", writeString(string(bytes.Repeat([]byte("0123456789"), 100_000))), string(bytes.Repeat([]byte("0123456789"), 100_000)), nil},
		{"fill fails after writing, old file kept", "old content\n", func(w io.Writer) error {
			if _, err := w.Write(bytes.Repeat([]byte("x"), 10_000)); err != nil {
				return err
			}
			return errFill
		}, "old content\n", errFill},
		{"fill fails, no old file", "", func(w io.Writer) error { return errFill }, "", errFill},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f.json")
			if tc.old != "" {
				if err := os.WriteFile(path, []byte(tc.old), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := Write(path, tc.fill)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			wantNames := []string{"f.json"}
			if tc.old == "" && tc.wantErr != nil {
				wantNames = nil
			}
			if got := names(t, dir); !slices.Equal(got, wantNames) {
				t.Fatalf("folder holds %q, want %q", got, wantNames)
			}
			if wantNames == nil {
				return
			}
			if got := read(t, path); got != tc.want {
				t.Errorf("content %.40q (%d bytes), want %.40q (%d bytes)", got, len(got), tc.want, len(tc.want))
			}
			st, _ := os.Stat(path)
			wantMode := Mode
			if tc.wantErr != nil {
				wantMode = 0o600 // the old file, untouched
			}
			if st.Mode().Perm() != wantMode {
				t.Errorf("mode %v, want %v", st.Mode().Perm(), wantMode)
			}
		})
	}
}

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	}
}

// TestCommitFailure: when the rename cannot happen (the destination is a
// non-empty folder), Commit fails, the temporary file is gone and the
// destination is untouched.
func TestCommitFailure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out")
	if err := os.MkdirAll(filepath.Join(path, "inner"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("data")); err == nil {
		t.Fatal("replacing a non-empty folder succeeded")
	}
	if got := names(t, dir); !slices.Equal(got, []string{"out"}) {
		t.Fatalf("folder holds %q after a failed commit", got)
	}
	if got := names(t, path); !slices.Equal(got, []string{"inner"}) {
		t.Fatalf("destination changed: %q", got)
	}
}

// TestMissingFolder: no folder, no file and an error naming the path.
func TestMissingFolder(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "none", "f")
	err := WriteFile(path, []byte("x"))
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("atomicfile:")) {
		t.Fatalf("error %v, want an atomicfile error", err)
	}
	if got := names(t, dir); len(got) != 0 {
		t.Fatalf("folder holds %q", got)
	}
}

// TestCreate: until Commit the destination keeps its old bytes while the
// temporary file (in the same folder) holds the new ones, WriteAt places
// bytes at offsets, Discard after Commit does nothing, and Discard without
// Commit removes the temporary file.
func TestCreate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}

	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(f.TempName()) != dir {
		t.Errorf("temporary file %s is not in %s", f.TempName(), dir)
	}
	if _, err := f.WriteAt([]byte("world"), 6); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("hello "), 0); err != nil {
		t.Fatal(err)
	}
	if got := read(t, path); got != "old" {
		t.Fatalf("destination changed before Commit: %q", got)
	}
	if got := read(t, f.TempName()); got != "hello world" {
		t.Fatalf("temporary file holds %q", got)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Discard()
	if got := read(t, path); got != "hello world" {
		t.Fatalf("after Commit and Discard: %q", got)
	}
	if err := f.Commit(); err == nil {
		t.Error("a second Commit succeeded")
	}

	g, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Write([]byte("never")); err != nil {
		t.Fatal(err)
	}
	g.Discard()
	if got := names(t, dir); !slices.Equal(got, []string{"model.onnx"}) {
		t.Fatalf("folder holds %q after Discard", got)
	}
	if got := read(t, path); got != "hello world" {
		t.Fatalf("Discard changed the destination: %q", got)
	}
	if err := g.Commit(); err == nil {
		t.Error("Commit after Discard succeeded")
	}
}
