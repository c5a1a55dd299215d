package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/onnx-adapt/onnx-adapt/internal/measure"
)

// Exit codes: the CLI has one exit point (main), and run maps every outcome
// to one of these.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand.
type command interface {
	// name is what the user types; usage is the synopsis after the program
	// name; summary is one line for the command list.
	name() string
	usage() string
	summary() string
	// flags registers the command's own flags.
	flags(fs *pflag.FlagSet)
	// run does the work; a *usageError means the user asked wrongly.
	run(e *env, args []string) error
}

// commands lists every subcommand. The NetAdapt job itself is "adapt", also
// reached as "onnx-adapt MODEL ..." without a subcommand name.
func commands() []command {
	return []command{
		&inspectCmd{},
		&measureCmd{},
		&groupsCmd{},
		&pruneCmd{},
		&lutCmd{},
		&estimateCmd{},
		&zooCmd{},
		&finetuneCmd{},
		&evalCmd{},
		&adaptCmd{},
		&opsCmd{},
		&reportCmd{},
		&batchCmd{},
	}
}

// env is what a command may touch: its output streams, logger, context and
// the global flags.
type env struct {
	ctx      context.Context
	stdout   io.Writer
	stderr   io.Writer
	log      *slog.Logger
	json     bool
	quiet    bool
	logLevel slog.Level
	// live is the progress helper last made (env.progress): log records
	// go through it, so that a bar it draws does not overwrite them.
	// (nil: not kept, the logger writes to stderr.)
	live *atomic.Pointer[progress]
}

// logWriter is where the logger writes: w, through the live progress
// helper when there is one.
type logWriter struct {
	w    io.Writer
	live *atomic.Pointer[progress]
}

func (lw logWriter) Write(b []byte) (int, error) {
	if p := lw.live.Load(); p != nil {
		return p.Write(b)
	}
	return lw.w.Write(b)
}

// writeJSON prints v as indented JSON on stdout.
func (e *env) writeJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// usageError is a mistake in how the command was called: exit code 2, the
// message on one line and where the help is (not the help itself).
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// logLevel is a pflag.Value for slog levels.
type logLevel struct{ l *slog.Level }

func (v logLevel) String() string { return strings.ToLower(v.l.String()) }
func (v logLevel) Type() string   { return "debug|info|warn|error" }
func (v logLevel) Set(s string) error {
	switch strings.ToLower(s) {
	case "debug":
		*v.l = slog.LevelDebug
	case "info":
		*v.l = slog.LevelInfo
	case "warn", "warning":
		*v.l = slog.LevelWarn
	case "error":
		*v.l = slog.LevelError
	default:
		return fmt.Errorf("want debug, info, warn or error")
	}
	return nil
}

// run is the whole program. It never panics to the caller and returns the
// exit code.
func run(args []string, stdout, stderr io.Writer) (code int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first SIGINT or SIGTERM cancels ctx: the command finishes the
	// file it is writing and returns. A second one kills the process as
	// usual (every file is written whole, so that is safe too).
	go func() {
		<-ctx.Done()
		stop()
	}()
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "onnx-adapt: internal error: %v\n", r)
			if os.Getenv("ONNX_ADAPT_TRACE") != "" {
				stderr.Write(debug.Stack())
			}
			code = exitError
		}
	}()

	cmds := commands()
	if len(args) == 0 {
		printHelp(stderr, cmds)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		if len(args) > 1 && args[0] == "help" {
			if c := find(cmds, args[1]); c != nil {
				printCommandHelp(stdout, c, newFlagSet(c, &env{}))
				return exitOK
			}
		}
		printHelp(stdout, cmds)
		return exitOK
	case "-V", "--version", "version":
		fmt.Fprintf(stdout, "onnx-adapt %s\n", version)
		return exitOK
	case measureChild:
		// Not a user's command: the fresh process of one of a search's
		// latency measurements (searchTimer).
		if err := measure.Serve(os.Stdin, stdout); err != nil {
			fmt.Fprintf(stderr, "onnx-adapt: %s\n", oneLine(err.Error()))
			return exitError
		}
		return exitOK
	}
	c := find(cmds, args[0])
	rest := args[1:]
	if c == nil {
		if a := find(cmds, "adapt"); a != nil && !strings.HasPrefix(args[0], "-") {
			c, rest = a, args // "onnx-adapt MODEL ..." runs adapt
		} else {
			return usageMistake(stderr, "", fmt.Sprintf("unknown command %q", args[0]))
		}
	}

	e := &env{ctx: ctx, stdout: stdout, stderr: stderr, logLevel: slog.LevelWarn}
	fs := newFlagSet(c, e)
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			printCommandHelp(stdout, c, fs)
			return exitOK
		}
		return usageMistake(stderr, c.name(), err.Error())
	}
	level := new(slog.LevelVar)
	level.Set(e.logLevel)
	e.live = new(atomic.Pointer[progress])
	e.log = slog.New(slog.NewTextHandler(logWriter{stderr, e.live}, &slog.HandlerOptions{Level: level}))

	err := c.run(e, fs.Args())
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return usageMistake(stderr, c.name(), ue.msg)
	case errors.Is(err, context.Canceled):
		msg := "interrupted"
		var r *resumeHint
		if errors.As(err, &r) {
			msg += "; " + r.hint
		}
		fmt.Fprintf(stderr, "onnx-adapt %s: %s\n", c.name(), msg)
		return exitError
	default:
		fmt.Fprintf(stderr, "onnx-adapt %s: %s\n", c.name(), oneLine(err.Error()))
		return exitError
	}
}

// usageMistake reports a usage mistake as one line, and where the full
// help is, and returns exitUsage. cmd is empty for the program itself.
func usageMistake(w io.Writer, cmd, msg string) int {
	prog := "onnx-adapt"
	if cmd != "" {
		prog += " " + cmd
	}
	fmt.Fprintf(w, "%s: %s\nsee '%s --help'\n", prog, oneLine(msg), prog)
	return exitUsage
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

func find(cmds []command, name string) command {
	for _, c := range cmds {
		if c.name() == name {
			return c
		}
	}
	return nil
}

func newFlagSet(c command, e *env) *pflag.FlagSet {
	fs := pflag.NewFlagSet(c.name(), pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	c.flags(fs)
	fs.BoolVar(&e.json, "json", false, "print machine-readable JSON on stdout")
	fs.BoolVarP(&e.quiet, "quiet", "q", false, "no progress output")
	fs.Var(logLevel{&e.logLevel}, "log-level", "log level on stderr")
	return fs
}

func printHelp(w io.Writer, cmds []command) {
	fmt.Fprintf(w, `onnx-adapt %s: fit a pretrained ONNX CNN to a latency budget (NetAdapt).

Usage:
  onnx-adapt MODEL --latency-ms MS --data DATASET -o OUTDIR   adapt a model
  onnx-adapt COMMAND [flags]

Commands:
`, version)
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-10s %s\n", c.name(), c.summary())
	}
	fmt.Fprint(w, `
Run "onnx-adapt COMMAND --help" for a command's flags.
Exit codes: 0 success, 1 error, 2 usage mistake.
`)
}

func printCommandHelp(w io.Writer, c command, fs *pflag.FlagSet) {
	fmt.Fprintf(w, "%s\n\nUsage:\n  onnx-adapt %s\n\nFlags:\n%s", c.summary(), c.usage(), fs.FlagUsages())
}
