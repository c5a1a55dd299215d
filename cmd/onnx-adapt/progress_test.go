package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestProgress: without a terminal only the lines appear, under -q
// nothing, and on a terminal the bar shows its description and count,
// the lines stay readable above it, and a finished bar gives way to a new
// one.
func TestProgress(t *testing.T) {
	var drawn func(*progress) // on a terminal: waits until the bar is drawn
	run := func(p *progress) {
		p.Step(3, 10, "measuring")
		if drawn != nil {
			drawn(p)
		}
		p.Line("iteration %d: done", 1)
		p.Finish()
		p.Step(1, 5, "second")
		p.Finish()
	}

	var plain bytes.Buffer
	run(&progress{w: &plain})
	if got := plain.String(); got != "iteration 1: done\n" {
		t.Errorf("without a terminal: %q, want the line alone", got)
	}

	var quiet bytes.Buffer
	run(&progress{w: &quiet, quiet: true})
	if quiet.Len() != 0 {
		t.Errorf("-q printed %q", quiet.String())
	}

	// The bar redraws on ticks from the test rather than mpb's timer. mpb
	// takes a second tick only once its renderer has taken the first, and
	// the renderer finishes drawing before it takes the line, so the bar is
	// drawn before the line whatever the scheduling. (Finish draws and
	// removes the bar without a tick.)
	drawn = func(p *progress) { p.tick <- nil; p.tick <- nil }
	var tty bytes.Buffer
	run(&progress{w: &tty, draw: true, tick: make(chan any)})
	inOrder(t, "terminal output", tty.String(), "measuring", "3/10", "iteration 1: done\n", "second", "1/5")
}

// inOrder checks that out contains every one of wants, in that order.
func inOrder(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	at := 0
	for _, want := range wants {
		i := strings.Index(out[at:], want)
		if i < 0 {
			t.Errorf("%s lacks %q after byte %d:\n%q", what, want, at, out)
			return
		}
		at += i + len(want)
	}
}

// TestProgressDrawsOnlyOnTerminals: a buffer or a plain file is no
// terminal, and -q never draws.
func TestProgressDrawsOnlyOnTerminals(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, e := range []*env{{stderr: &bytes.Buffer{}}, {stderr: f}, {stderr: os.Stderr, quiet: true}} {
		if p := e.progress(); p.draw {
			t.Errorf("%T (quiet %v): draws a bar", e.stderr, e.quiet)
		}
	}
}

// TestLogAboveBar: while a progress helper is live (env.live), log
// records go through it, and so above the bar it draws (as Line's lines
// do; on a terminal, a record written straight to stderr is drawn over at
// the bar's next redraw); with no helper they go to stderr.
func TestLogAboveBar(t *testing.T) {
	var stderr, bar bytes.Buffer // bar: what the helper writes
	live := new(atomic.Pointer[progress])
	log := slog.New(slog.NewTextHandler(logWriter{&stderr, live}, nil))
	log.Info("before")

	p := &progress{w: &bar, draw: true, tick: make(chan any)}
	live.Store(p)
	p.Step(3, 10, "measuring")
	p.tick <- nil
	p.tick <- nil
	log.Info("candidate", "group", 4)
	p.Finish()

	if got := stderr.String(); !strings.Contains(got, "msg=before") || strings.Contains(got, "candidate") {
		t.Errorf("stderr: %q, want the record before the helper only", got)
	}
	inOrder(t, "the helper's output", bar.String(), "3/10", "msg=candidate group=4\n")
}
