package onnxcheck

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onnx-adapt/onnx-adapt/internal/savehook"
)

// Python is the interpreter that has python3-onnx: Debian's, which a
// python3 earlier on PATH (pyenv, a virtualenv) may lack.
var Python = "/usr/bin/python3"

//go:embed check.py
var script string

// Status is the checker's verdict on one model.
type Status string

const (
	Passed Status = "OK"
	Failed Status = "FAIL"
	// Skipped: the model is beyond the opsets or IR version the checker
	// knows.
	Skipped Status = "SKIP"
)

// Result is the verdict on one model.
type Result struct {
	Status  Status
	Message string
}

// Main runs m's tests with every model onnxio.Save writes checked, and
// returns the exit code: m's, or 1 when a model fails the checker (or the
// checker is missing in CI).
func Main(m *testing.M) int {
	c := newCollector()
	savehook.Saved, active = c.add, c
	code := m.Run()
	savehook.Saved, active = nil, nil
	if err := c.report(os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return max(code, 1)
	}
	return code
}

// collector sends every distinct model saved to a checker worker.
type collector struct {
	mu      sync.Mutex
	w       *worker
	werr    error               // why there is no worker
	files   map[string][]string // model id → paths the tests saved it to
	order   []string
	sources map[string]string // path saved → the third-party file it came from
}

// active is the collector of Main, for FromSource.
var active *collector

func newCollector() *collector {
	return &collector{files: map[string][]string{}, sources: map[string]string{}}
}

// FromSource declares that the model a test saved at written is a
// third-party model read from source, written back: when the checker
// rejects it, it is only held against onnx-adapt if the checker accepts
// source or rejects it for another reason.
func FromSource(written, source string) {
	if c := active; c != nil {
		c.mu.Lock()
		c.sources[written] = source
		c.mu.Unlock()
	}
}

// Submit has the checker of Main vet a model a test made without writing
// it to a file (name says where it came from). Outside Main it does
// nothing.
func Submit(name string, model []byte) {
	if c := active; c != nil {
		c.add(name, model)
	}
}

func (c *collector) add(path string, model []byte) {
	sum := sha256.Sum256(model)
	id := hex.EncodeToString(sum[:12])
	c.mu.Lock()
	defer c.mu.Unlock()
	_, seen := c.files[id]
	c.files[id] = append(c.files[id], path)
	if seen {
		return
	}
	c.order = append(c.order, id)
	if c.w == nil && c.werr == nil {
		if c.werr = Available(); c.werr == nil {
			c.w, c.werr = startWorker()
		}
	}
	if c.w != nil {
		c.w.send(id, model)
	}
}

// report waits for the checker's verdicts and writes a summary; it returns
// an error naming every model that failed.
func (c *collector) report(w io.Writer) error {
	if len(c.order) == 0 {
		return nil
	}
	if c.w == nil {
		if os.Getenv("CI") == "true" {
			return fmt.Errorf("onnxcheck: %v; CI must check every written model (./scripts/setup installs python3-onnx)", c.werr)
		}
		fmt.Fprintf(w, "onnxcheck: SKIPPED: %d models from the tests not checked: %v\n", len(c.order), c.werr)
		return nil
	}
	waited := time.Now()
	results, err := c.w.close()
	if err != nil {
		return err
	}
	var failed []string
	skipped, inherited := 0, 0
	for _, id := range c.order {
		r, ok := results[id]
		switch {
		case !ok:
			return fmt.Errorf("onnxcheck: no verdict on %s", strings.Join(c.files[id], ", "))
		case r.Status == Failed && c.inherited(id, r):
			inherited++
		case r.Status == Failed:
			failed = append(failed, fmt.Sprintf("  %s: %s", strings.Join(c.files[id], ", "), r.Message))
		case r.Status == Skipped:
			skipped++
		}
	}
	fmt.Fprintf(w, "onnxcheck: %d models from the tests checked with onnx.checker (full_check), alongside the tests and %.1f s after them: %d failed, %d failed as their third-party source does, %d not checked (beyond the checker's opsets)\n",
		len(c.order)-skipped, time.Since(waited).Seconds(), len(failed), inherited, skipped)
	if len(failed) > 0 {
		return fmt.Errorf("onnxcheck: %d models from the tests fail onnx.checker.check_model(full_check=True):\n%s", len(failed), strings.Join(failed, "\n"))
	}
	return nil
}

// inherited reports whether every path a failing model was saved to is a
// third-party model whose source the checker rejects with the same message.
func (c *collector) inherited(id string, failed Result) bool {
	var srcs []string
	for _, p := range c.files[id] {
		src, ok := c.sources[p]
		if !ok {
			return false
		}
		srcs = append(srcs, src)
	}
	res, err := CheckFiles(srcs)
	if err != nil {
		return false
	}
	for _, r := range res {
		if r != failed {
			return false
		}
	}
	return true
}

// Available reports whether the checker can run: Python with the onnx
// package.
func Available() error {
	out, err := exec.Command(Python, "-c", "import onnx").CombinedOutput()
	if err != nil {
		return fmt.Errorf("python3-onnx is not available (%s -c 'import onnx': %v %s)", Python, err, bytes.TrimSpace(out))
	}
	return nil
}

// CheckFiles checks model files in one Python process and returns a verdict
// per file, in order.
func CheckFiles(paths []string) ([]Result, error) {
	w, err := startWorker()
	if err != nil {
		return nil, err
	}
	for i, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("onnxcheck: %w", err)
		}
		w.send(strconv.Itoa(i), data)
	}
	res, err := w.close()
	if err != nil {
		return nil, err
	}
	out := make([]Result, len(paths))
	for i, p := range paths {
		r, ok := res[strconv.Itoa(i)]
		if !ok {
			return nil, fmt.Errorf("onnxcheck: no verdict on %s", p)
		}
		out[i] = r
	}
	return out, nil
}

// worker is a Python process running check.py.
type worker struct {
	cmd     *exec.Cmd
	in      io.WriteCloser
	werr    error // the first failed write
	stderr  bytes.Buffer
	done    chan struct{}
	results map[string]Result
	rerr    error
}

func startWorker() (*worker, error) {
	w := &worker{cmd: exec.Command(Python, "-c", script), done: make(chan struct{}), results: map[string]Result{}}
	w.cmd.Stderr = &w.stderr
	var err error
	if w.in, err = w.cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("onnxcheck: %w", err)
	}
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("onnxcheck: %w", err)
	}
	if err := w.cmd.Start(); err != nil {
		return nil, fmt.Errorf("onnxcheck: %s: %w", Python, err)
	}
	// The verdicts are read as they come, so that the worker never blocks
	// on a full stdout while the tests wait on its stdin.
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			id, rest, _ := strings.Cut(sc.Text(), "\t")
			status, msg, _ := strings.Cut(rest, "\t")
			w.results[id] = Result{Status: Status(status), Message: msg}
		}
		w.rerr = sc.Err()
	}()
	return w, nil
}

// send queues one model; the caller serialises calls.
func (w *worker) send(id string, model []byte) {
	if w.werr != nil {
		return
	}
	if _, err := fmt.Fprintf(w.in, "%s %d\n", id, len(model)); err != nil {
		w.werr = err
		return
	}
	if _, err := w.in.Write(model); err != nil {
		w.werr = err
	}
}

// close ends the input, waits for the worker and returns its verdicts by id.
func (w *worker) close() (map[string]Result, error) {
	cerr := w.in.Close()
	<-w.done
	err := errors.Join(w.werr, cerr, w.rerr, w.cmd.Wait())
	if err != nil {
		return nil, fmt.Errorf("onnxcheck: the checker failed: %v: %s", err, strings.TrimSpace(w.stderr.String()))
	}
	for id, r := range w.results {
		if r.Status != Passed && r.Status != Failed && r.Status != Skipped {
			return nil, fmt.Errorf("onnxcheck: unexpected checker answer for model %s: %+v", id, r)
		}
	}
	return w.results, nil
}
