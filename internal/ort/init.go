package ort

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	ortgo "github.com/yalue/onnxruntime_go"
)

// RequiredVersion is the onnxruntime version whose C API headers
// onnxruntime_go v1.27.0 ships, and the version ./scripts/setup installs.
// A newer library exposes the same API and loads too; an older one does not.
const RequiredVersion = "1.24.1"

// EnvLibrary names the environment variable that, when set, gives the path of
// the onnxruntime shared library to load, overriding every other location.
const EnvLibrary = "ONNXRUNTIME_LIB"

// setupHint is how the user gets a library; it ends every "not found" error.
const setupHint = "run ./scripts/setup (or set " + EnvLibrary + " to the path of libonnxruntime.so.1, onnxruntime " + RequiredVersion + ")"

// ErrLibraryNotFound is wrapped by the error [Init] returns when no
// onnxruntime shared library could be found.
var ErrLibraryNotFound = errors.New("onnxruntime shared library not found")

var (
	initOnce sync.Once
	initErr  error
	libPath  string
	version  string
)

// Init loads the onnxruntime shared library and creates the process-wide
// onnxruntime environment (telemetry off, log level error). It is safe to
// call from any goroutine, any number of times: the first call does the work
// and every call returns that first call's result.
//
// The library is searched for in this order, and the first one found is used:
//
//  1. the file named by $ONNXRUNTIME_LIB, when that is set (and nothing else:
//     a set but wrong $ONNXRUNTIME_LIB is an error, never silently replaced);
//  2. the project's install location,
//     .deps/onnxruntime/1.24.1/linux-<x64|arm64>/libonnxruntime.so.1, first
//     relative to the running executable (<exe dir>/../.deps and
//     <exe dir>/.deps, for bin/onnx-adapt), then in the current directory and
//     each parent up to the one holding go.mod (for go test in any package);
//  3. the system's library path, by dlopen of libonnxruntime.so.1 and then
//     libonnxruntime.so.
//
// A library file that is found but fails to load is reported as such, not
// skipped. When nothing is found the error wraps [ErrLibraryNotFound] and
// names the set-up command, ./scripts/setup.
func Init() error {
	initOnce.Do(func() {
		initErr = initialize()
	})
	return initErr
}

// LibraryPath returns the path (or, for a system library, the bare name) of
// the onnxruntime library that [Init] loaded, or "" before a successful Init.
func LibraryPath() string {
	if Init() != nil {
		return ""
	}
	return libPath
}

// Version returns the version string onnxruntime reports (e.g. "1.24.1"),
// or "" when [Init] has not succeeded.
func Version() string {
	if Init() != nil {
		return ""
	}
	return version
}

func initialize() error {
	var one uint16 = 1
	if *(*byte)(unsafe.Pointer(&one)) != 1 {
		return errors.New("ort: big-endian hosts are not supported (Tensor.Data is little-endian)")
	}
	exe, _ := os.Executable()
	wd, _ := os.Getwd()
	cands, err := locate(os.Getenv, fileExists, exe, wd, runtime.GOOS, runtime.GOARCH)
	if err != nil {
		return err
	}
	// onnxruntime_go calls dlopen and, on failure, dlerror in two cgo
	// calls; dlerror is per thread, and a goroutine may move to another
	// thread between them, which leaves the reason empty (CI under load:
	// a missing system library then read as one that fails to load).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, c := range cands {
		ortgo.SetSharedLibraryPath(c.path)
		err := ortgo.InitializeEnvironment(ortgo.WithLogLevelError())
		if err == nil {
			if err := ortgo.DisableTelemetry(); err != nil {
				_ = ortgo.DestroyEnvironment()
				return fmt.Errorf("ort: %v", err)
			}
			libPath = c.path
			version = ortgo.GetVersion()
			return nil
		}
		msg := oneLine(err.Error())
		if c.bare && strings.Contains(msg, "cannot open shared object file") {
			continue // not on the system library path: try the next name
		}
		// A library that exists but does not load (wrong architecture, an
		// onnxruntime older than the API we need, a missing dependency) is
		// reported, never skipped: the user would not expect another one.
		return fmt.Errorf("ort: cannot load onnxruntime from %s (%s): %s; %s",
			c.path, c.source, msg, setupHint)
	}
	return fmt.Errorf("ort: %w (%s); %s", ErrLibraryNotFound, lookedIn(cands), setupHint)
}

// candidate is one place [Init] tries to load the library from.
type candidate struct {
	path   string // a file path, or a bare soname for dlopen to resolve
	source string // why it is a candidate, for messages
	bare   bool   // a bare soname: failing to load it means "not found"
}

// lookedIn summarises, for the not-found message, where the search went.
func lookedIn(cands []candidate) string {
	var sys []string
	for _, c := range cands {
		if c.bare {
			sys = append(sys, c.path)
		}
	}
	platform := archDir(runtime.GOOS, runtime.GOARCH)
	if platform == "" {
		platform = "<platform>"
	}
	return fmt.Sprintf("searched %s near the executable and from the working directory up to go.mod, and %s on the system library path",
		projectLib(platform), strings.Join(sys, ", "))
}

// archDir maps a Go GOOS/GOARCH to the platform folder name of the install
// location, the one used by onnxruntime-node; "" for unsupported platforms.
func archDir(goos, goarch string) string {
	if goos != "linux" {
		return ""
	}
	switch goarch {
	case "amd64":
		return "linux-x64"
	case "arm64":
		return "linux-arm64"
	}
	return ""
}

// projectLib is the install location of the library relative to a project root.
func projectLib(platform string) string {
	return filepath.Join(".deps", "onnxruntime", RequiredVersion, platform, "libonnxruntime.so.1")
}

// locate returns the candidates to try, in order. An explicit $ONNXRUNTIME_LIB
// or a project install that exists yields exactly one candidate; otherwise the
// bare system names follow. It returns an error only when $ONNXRUNTIME_LIB is
// set but names no file. It touches nothing but through its arguments, so
// tests can drive it with a fake environment and file system.
func locate(getenv func(string) string, exists func(string) bool, exe, wd, goos, goarch string) ([]candidate, error) {
	if p := getenv(EnvLibrary); p != "" {
		if !exists(p) {
			return nil, fmt.Errorf("ort: %w: %s=%s: no such file; %s", ErrLibraryNotFound, EnvLibrary, p, setupHint)
		}
		return []candidate{{path: p, source: "$" + EnvLibrary}}, nil
	}
	if platform := archDir(goos, goarch); platform != "" {
		rel := projectLib(platform)
		var dirs []string
		if exe != "" {
			d := filepath.Dir(exe)
			dirs = append(dirs, filepath.Join(d, ".."), d)
		}
		if wd != "" {
			for d := wd; ; d = filepath.Dir(d) {
				dirs = append(dirs, d)
				if exists(filepath.Join(d, "go.mod")) {
					break
				}
				if filepath.Dir(d) == d {
					break
				}
			}
		}
		for _, d := range dirs {
			if p := filepath.Join(d, rel); exists(p) {
				return []candidate{{path: filepath.Clean(p), source: "project install"}}, nil
			}
		}
	}
	return []candidate{
		{path: "libonnxruntime.so.1", source: "system library path", bare: true},
		{path: "libonnxruntime.so", source: "system library path", bare: true},
	}, nil
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// oneLine folds a possibly multi-line message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
