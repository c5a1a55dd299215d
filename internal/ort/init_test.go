package ort

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// helperEnv makes the test binary, when re-run by TestInitLibraryMissing, call
// Init with the environment it was given and report the result.
const helperEnv = "ORT_TEST_INIT_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		err := Init()
		fmt.Printf("INIT-ERROR: %v\n", err)
		fmt.Printf("NOT-FOUND: %v\n", errors.Is(err, ErrLibraryNotFound))
		os.Exit(0)
	}
	// These tests run the real onnxruntime; without it they fail, never skip.
	if err := Init(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func TestInitLoadsPinnedVersion(t *testing.T) {
	if err := Init(); err != nil {
		t.Fatal(err)
	}
	if err := Init(); err != nil { // idempotent
		t.Fatal(err)
	}
	if got := Version(); got != RequiredVersion {
		t.Errorf("Version() = %q, want %q (library %s)", got, RequiredVersion, LibraryPath())
	}
	p := LibraryPath()
	if filepath.Base(p) != "libonnxruntime.so.1" {
		t.Errorf("LibraryPath() = %q, want a libonnxruntime.so.1", p)
	}
	if os.Getenv(EnvLibrary) == "" {
		// Found through the walk up from the package directory.
		want := filepath.Join(".deps", "onnxruntime", RequiredVersion)
		if !strings.Contains(p, want) || !fileExists(p) {
			t.Errorf("LibraryPath() = %q, want the project install under %s", p, want)
		}
	}
}

func TestInitConcurrent(t *testing.T) {
	errs := make(chan error, 8)
	for range 8 {
		go func() { errs <- Init() }()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestInitFailures runs Init in fresh processes where no usable library can
// be found: Init must fail with one line naming the set-up command.
func TestInitFailures(t *testing.T) {
	tmp := t.TempDir()
	missing := filepath.Join(tmp, "no", "libonnxruntime.so.1")
	garbage := filepath.Join(tmp, "garbage.so")
	if err := os.WriteFile(garbage, []byte("not an ELF file"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      string // $ONNXRUNTIME_LIB; "" unsets it
		notFound bool
		want     []string
	}{
		{"env names no file", missing, true, []string{EnvLibrary + "=" + missing, "no such file"}},
		// Run from a directory with no .deps above it; the test binary
		// lives in the go build cache, which has none either.
		{"nothing installed", "", true, []string{"not found", "libonnxruntime.so on the system library path", "up to go.mod"}},
		{"file is no library", garbage, false, []string{"cannot load onnxruntime from " + garbage}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env == "" && os.Getenv("LD_LIBRARY_PATH") != "" {
				t.Skip("LD_LIBRARY_PATH is set: a system library may be found")
			}
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Dir = tmp
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, EnvLibrary+"=") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			cmd.Env = append(cmd.Env, helperEnv+"=1")
			if tc.env != "" {
				cmd.Env = append(cmd.Env, EnvLibrary+"="+tc.env)
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helper process: %v\n%s", err, out)
			}
			var msg, notFound string
			for _, line := range strings.Split(string(out), "\n") {
				if v, ok := strings.CutPrefix(line, "INIT-ERROR: "); ok {
					msg = v
				}
				if v, ok := strings.CutPrefix(line, "NOT-FOUND: "); ok {
					notFound = v
				}
			}
			t.Logf("Init error: %s", msg)
			if msg == "" || msg == "<nil>" {
				t.Fatalf("Init succeeded or printed nothing; output:\n%s", out)
			}
			for _, want := range append([]string{"ort: ", "./scripts/setup"}, tc.want...) {
				if !strings.Contains(msg, want) {
					t.Errorf("Init error %q does not mention %q", msg, want)
				}
			}
			if notFound != fmt.Sprint(tc.notFound) {
				t.Errorf("errors.Is(err, ErrLibraryNotFound) = %s, want %v", notFound, tc.notFound)
			}
		})
	}
}

// fakeFS is a set of existing files for locate.
type fakeFS map[string]bool

func (f fakeFS) exists(p string) bool { return f[filepath.Clean(p)] }

func TestLocate(t *testing.T) {
	lib := func(root, plat string) string {
		return filepath.Join(root, ".deps/onnxruntime", RequiredVersion, plat, "libonnxruntime.so.1")
	}
	bare := []string{"libonnxruntime.so.1", "libonnxruntime.so"}
	tests := []struct {
		name          string
		env           string
		files         fakeFS
		exe, wd       string
		goos, goarch  string
		want          []string
		wantErrSubstr []string
	}{
		{name: "env wins over project install", env: "/opt/ort/lib.so",
			files: fakeFS{"/opt/ort/lib.so": true, lib("/repo", "linux-x64"): true, "/repo/go.mod": true},
			wd:    "/repo/internal/ort", goos: "linux", goarch: "amd64", want: []string{"/opt/ort/lib.so"}},
		{name: "env names no file", env: "/nope/lib.so", files: fakeFS{lib("/repo", "linux-x64"): true},
			wd: "/repo", goos: "linux", goarch: "amd64",
			wantErrSubstr: []string{"ONNXRUNTIME_LIB=/nope/lib.so", "./scripts/setup"}},
		{name: "next to binary's parent (bin/onnx-adapt)",
			files: fakeFS{lib("/proj", "linux-x64"): true, lib("/repo", "linux-x64"): true, "/repo/go.mod": true},
			exe:   "/proj/bin/onnx-adapt", wd: "/repo", goos: "linux", goarch: "amd64",
			want: []string{lib("/proj", "linux-x64")}},
		{name: "next to binary", files: fakeFS{lib("/proj/bin", "linux-arm64"): true},
			exe: "/proj/bin/onnx-adapt", wd: "/", goos: "linux", goarch: "arm64",
			want: []string{lib("/proj/bin", "linux-arm64")}},
		{name: "walk up from package dir to go.mod",
			files: fakeFS{lib("/repo", "linux-x64"): true, "/repo/go.mod": true},
			exe:   "/tmp/go-build1/b001/ort.test", wd: "/repo/internal/ort", goos: "linux", goarch: "amd64",
			want: []string{lib("/repo", "linux-x64")}},
		{name: "walk stops at go.mod",
			files: fakeFS{lib("/", "linux-x64"): true, "/repo/go.mod": true},
			wd:    "/repo/internal/ort", goos: "linux", goarch: "amd64", want: bare},
		{name: "arch matters", files: fakeFS{lib("/repo", "linux-arm64"): true, "/repo/go.mod": true},
			wd: "/repo", goos: "linux", goarch: "amd64", want: bare},
		{name: "other OS: system only", files: fakeFS{lib("/repo", "linux-x64"): true, "/repo/go.mod": true},
			wd: "/repo", goos: "darwin", goarch: "amd64", want: bare},
		{name: "nothing anywhere", files: fakeFS{}, wd: "/a/b", goos: "linux", goarch: "amd64", want: bare},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == EnvLibrary {
					return tc.env
				}
				return ""
			}
			cands, err := locate(getenv, tc.files.exists, tc.exe, tc.wd, tc.goos, tc.goarch)
			if tc.wantErrSubstr != nil {
				if err == nil {
					t.Fatalf("locate = %v, want an error", cands)
				}
				for _, s := range tc.wantErrSubstr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				if !errors.Is(err, ErrLibraryNotFound) || strings.Contains(err.Error(), "\n") {
					t.Errorf("error %q: want one line wrapping ErrLibraryNotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range cands {
				got = append(got, c.path)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("candidates = %q, want %q", got, tc.want)
			}
		})
	}
}
