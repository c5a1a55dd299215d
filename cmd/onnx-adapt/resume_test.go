package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/search"
)

// child returns the onnx-adapt command with args, run by this test binary
// in its own process (see TestMain).
func child(args ...string) *exec.Cmd {
	c := exec.Command(os.Args[0], args...)
	c.Env = append(os.Environ(), "ONNX_ADAPT_TEST_CLI=1")
	return c
}

// trainOnly is Fashion-MNIST's training split alone (the IDX files
// linked into a folder), so that a run evaluates no 10,000-image test
// split at every iteration.
func trainOnly(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"} {
		if err := os.Symlink(filepath.Join(fashionMNIST, name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// quickAdapt are the arguments of a short adaptation to a MACs target (a
// few seconds per iteration), with progress lines on stderr.
func quickAdapt(model, data, table, out string) []string {
	return []string{model, "--macs", "400000", "--data", data, "--short-steps", "2", "--batch", "16", "--held-out", "100",
		"--long-epochs", "0.003", "--blocks", "2", "--block-ms", "1", "--iterations", "3", "--tune-top", "3",
		"--max-drop", "-1", // untrained nets: held-out top-1 is chance, not a guard's business
		"--lut", table, "-o", out}
}

// runFor starts cmd and stops it with sig once it has printed a line on
// stderr for which until (given the line and its number, from 1) is true,
// after a random pause of up to 300 ms: a moment in the middle of the
// run. It reports whether the signal ended the command, with its exit
// code and stderr.
func runFor(t *testing.T, cmd *exec.Cmd, until func(line string, n int) bool, sig syscall.Signal, rng *rand.Rand) (bool, int, string) {
	t.Helper()
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	cmd.Stderr = io.MultiWriter(pw, &stderr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(done)
	}()
	sc := bufio.NewScanner(pr)
	for n := 1; sc.Scan() && !until(sc.Text(), n); n++ {
	}
	go io.Copy(io.Discard, pr)
	time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
	_ = cmd.Process.Signal(sig) // fails when the process has ended already
	<-done
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	hit := ws.Signaled() && ws.Signal() == sig || sig == syscall.SIGTERM && strings.Contains(stderr.String(), "interrupted")
	return hit, cmd.ProcessState.ExitCode(), stderr.String()
}

// runFiles returns the files of an adaptation folder that are the run's
// output, by name.
func runFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".onnx") {
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out[e.Name()] = data
		}
	}
	return out
}

// checkConsistent checks a folder an interrupted run left: a history that
// parses, every model it records in place and loading, and, unless the
// process was killed outright, no temporary file.
func checkConsistent(t *testing.T, dir string, killed bool) int {
	t.Helper()
	res, err := search.ReadHistory(dir)
	if err != nil {
		t.Fatalf("after the interruption: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") && !killed {
			t.Errorf("a temporary file is left after a signal: %s", e.Name())
		}
		if strings.HasSuffix(e.Name(), ".onnx") {
			if _, err := onnxio.Load(filepath.Join(dir, e.Name())); err != nil {
				t.Errorf("a half-written model: %v", err)
			}
		}
	}
	if res == nil {
		return 0
	}
	for _, it := range res.Iterations {
		if _, err := os.Stat(filepath.Join(dir, filepath.Base(it.File))); err != nil {
			t.Errorf("history records %s, which is not there", it.File)
		}
	}
	return len(res.Iterations)
}

// TestResumeAfterKill: an adaptation killed with kill -9 at random
// moments, and stopped by SIGTERM at another, each time run again with
// the same command, ends with the same files, byte for byte, as an
// uninterrupted run with the same seed. ONNX_ADAPT_KILLS sets the number
// of kill -9s (default 1); the moments are drawn from a seed the test logs
// (ONNX_ADAPT_KILL_SEED replays one).
func TestResumeAfterKill(t *testing.T) {
	model := zooModel(t, "mobilenetv2", "--in-channels", "1")
	data := trainOnly(t)
	table := filepath.Join(t.TempDir(), "lut.json")
	ref := filepath.Join(t.TempDir(), "ref")

	// The uninterrupted run, in a process of its own like the others.
	var refErr bytes.Buffer
	c := child(quickAdapt(model, data, table, ref)...)
	c.Stderr = &refErr
	if err := c.Run(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, refErr.String())
	}
	lines := strings.Count(refErr.String(), "\n")
	want := runFiles(t, ref)
	if len(want) < 3 {
		t.Fatalf("the uninterrupted run wrote %d models; want iterations to interrupt", len(want))
	}

	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("ONNX_ADAPT_KILL_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	kills := 1
	if s := os.Getenv("ONNX_ADAPT_KILLS"); s != "" {
		kills, _ = strconv.Atoi(s)
	}
	t.Logf("seed %d: %d kill -9 and one SIGTERM over %d progress lines", seed, kills, lines)
	rng := rand.New(rand.NewPCG(seed, 0))
	out := filepath.Join(t.TempDir(), "out")
	signals := slices.Repeat([]syscall.Signal{syscall.SIGKILL}, kills)
	signals = slices.Insert(signals, rng.IntN(len(signals)+1), syscall.SIGTERM)
	interrupted, done, total := 0, 0, len(want)-1
	for _, sig := range signals {
		// A moment among the lines this attempt will print: a resumed run
		// prints about the share of lines of the iterations left.
		at := 1 + rng.IntN(max(lines*(total-done)/total-1, 1))
		hit, code, stderr := runFor(t, child(quickAdapt(model, data, table, out)...), func(_ string, n int) bool { return n >= at }, sig, rng)
		if !hit {
			t.Logf("%v after line %d: the run had already finished (exit %d)", sig, at, code)
			continue
		}
		interrupted++
		done = checkConsistent(t, out, sig == syscall.SIGKILL)
		t.Logf("%v after line %d: %d iterations recorded", sig, at, done)
		if sig == syscall.SIGTERM {
			if code != exitError || !strings.Contains(stderr, "interrupted; "+out+" holds every finished iteration; run the same command again to resume") {
				t.Errorf("SIGTERM: exit %d, stderr does not say how to resume:\n%s", code, stderr)
			}
		}
	}
	if interrupted == 0 {
		t.Fatal("no signal interrupted the run")
	}
	code, _, stderr := cli(t, append(quickAdapt(model, data, table, out), "-q")...)
	if code != exitOK {
		t.Fatalf("resumed run: exit %d\n%s", code, stderr)
	}
	got := runFiles(t, out)
	for name, w := range want {
		if g, ok := got[name]; !ok || !bytes.Equal(g, w) {
			t.Errorf("%s of the resumed run differs from the uninterrupted run's (present %v)", name, ok)
		}
	}
	if len(got) != len(want) {
		t.Errorf("the resumed run wrote %d models, the uninterrupted one %d", len(got), len(want))
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("a temporary file is left after resuming: %s", e.Name())
		}
	}
	var hist struct {
		Iterations []json.RawMessage `json:"iterations"`
	}
	if data, err := os.ReadFile(filepath.Join(out, "history.json")); err != nil || json.Unmarshal(data, &hist) != nil || len(hist.Iterations) != len(want)-1 {
		t.Errorf("history of the resumed run: %v, %d iterations", err, len(hist.Iterations))
	}
}
