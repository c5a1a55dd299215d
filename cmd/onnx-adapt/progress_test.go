package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProgress: without a terminal only the lines appear, under -q
// nothing, and on a terminal the bar shows its description and count,
// the lines stay readable above it, and a finished bar gives way to a new
// one.
func TestProgress(t *testing.T) {
	run := func(p *progress) {
		p.Step(3, 10, "measuring")
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

	var tty bytes.Buffer
	run(&progress{w: &tty, draw: true})
	out := tty.String()
	for _, want := range []string{"measuring", "3/10", "\riteration 1: done\n", "second", "1/5"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, out)
		}
	}
	if i, j := strings.Index(out, "3/10"), strings.Index(out, "1/5"); i > j {
		t.Errorf("the second bar came before the first:\n%q", out)
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
