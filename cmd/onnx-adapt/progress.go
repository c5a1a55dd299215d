package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows a long task on stderr, the one way every command does:
// a bar redrawn in place when stderr is a terminal (and not -q), and plain
// lines at milestones (Line) otherwise; the lines appear above the bar on a
// terminal, and nothing appears under -q.
type progress struct {
	w     io.Writer
	quiet bool
	draw  bool // draw bars: stderr is a terminal and not -q
	bar   *progressbar.ProgressBar
}

// progress returns the command's progress helper.
func (e *env) progress() *progress {
	f, ok := e.stderr.(*os.File)
	draw := !e.quiet && ok && term.IsTerminal(int(f.Fd()))
	return &progress{w: e.stderr, quiet: e.quiet, draw: draw}
}

// Step moves the bar to done of total steps, and describes it with desc.
// The first Step after Finish starts a new bar (on a terminal only).
func (p *progress) Step(done, total int, desc string) {
	if !p.draw {
		return
	}
	if p.bar == nil {
		p.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(desc), progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true), progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionFullWidth(),
			progressbar.OptionClearOnFinish())
	} else {
		p.bar.Describe(desc)
	}
	_ = p.bar.Set(done)
}

// Line prints one plain line (a newline is added), above the bar if one is
// drawn.
func (p *progress) Line(format string, args ...any) {
	if p.quiet {
		return
	}
	if p.bar != nil {
		_ = p.bar.Clear()
		fmt.Fprint(p.w, "\r")
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

// Finish removes the bar, if any.
func (p *progress) Finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}
