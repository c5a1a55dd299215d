package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
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

	mu   sync.Mutex    // guards bars and bar
	bars *mpb.Progress // the container of the bar being drawn, nil when none is
	bar  *mpb.Bar
	// desc is the bar's description, which mpb reads from its own
	// goroutine as it draws.
	desc atomic.Pointer[string]
	// tick, when set (tests), redraws on each receive instead of mpb's
	// timer.
	tick chan any
}

// progress returns the command's progress helper.
func (e *env) progress() *progress {
	f, ok := e.stderr.(*os.File)
	draw := !e.quiet && ok && term.IsTerminal(int(f.Fd()))
	p := &progress{w: e.stderr, quiet: e.quiet, draw: draw}
	if e.live != nil {
		e.live.Store(p)
	}
	return p
}

// Step moves the bar to done of total steps, and describes it with desc.
// The first Step after Finish starts a new bar (on a terminal only).
func (p *progress) Step(done, total int, desc string) {
	if !p.draw {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.desc.Store(&desc)
	if p.bar == nil {
		refresh := mpb.WithAutoRefresh()
		if p.tick != nil {
			refresh = mpb.WithManualRefresh(p.tick)
		}
		p.bars = mpb.New(mpb.WithOutput(p.w), refresh)
		// Created with no total, the bar never completes by itself (a
		// completed bar would ignore later Steps and stay drawn); SetTotal
		// gives it the total it shows, and Finish drops it.
		p.bar = p.bars.AddBar(0,
			mpb.PrependDecorators(
				decor.Any(func(decor.Statistics) string { return *p.desc.Load() },
					decor.WC{C: decor.DindentRight | decor.DextraSpace}),
				decor.CountersNoUnit("%d/%d"),
			),
			mpb.AppendDecorators(
				decor.Elapsed(decor.ET_STYLE_GO),
				decor.Name(" ETA "),
				decor.AverageETA(decor.ET_STYLE_GO),
			))
	}
	p.bar.SetTotal(int64(total), false)
	p.bar.SetCurrent(int64(done))
}

// Line prints one plain line (a newline is added), above the bar if one is
// drawn.
func (p *progress) Line(format string, args ...any) {
	if p.quiet {
		return
	}
	p.Write(fmt.Appendf(nil, format+"\n", args...))
}

// Write writes b (whole lines) to stderr, above the bar if one is drawn:
// the logger writes through it (env.live), whatever the quiet flag.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bars != nil {
		// mpb writes the line above the bar at its next redraw, and at the
		// latest when Finish waits for it.
		if n, err := p.bars.Write(b); err == nil {
			return n, nil
		}
	}
	return p.w.Write(b)
}

// Finish removes the bar, if any.
func (p *progress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Abort(true)
		p.bars.Wait()
		p.bar, p.bars = nil, nil
	}
}
