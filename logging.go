package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/term"

	"github.com/hubprov/hubprov/internal/redact"
)

// redactor replaces every known secret value, in every form an echo takes
// (package redact), with [redacted]. It guards the log stream and platform
// messages: a second line of defence behind manifest.Secret, which never
// prints itself.
type redactor struct {
	mu     sync.Mutex
	values map[string]bool
	r      atomic.Pointer[strings.Replacer]
}

func newRedactor() *redactor {
	return &redactor{values: map[string]bool{}}
}

// add makes vs secrets to redact; the replacer is rebuilt once per call, so
// add a run's instance tokens together. Values shorter than 4 bytes are
// ignored: replacing them would garble ordinary text and they protect nothing.
func (r *redactor) add(vs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	added := false
	for _, v := range vs {
		if len(v) >= 4 && !r.values[v] {
			r.values[v], added = true, true
		}
	}
	if !added {
		return
	}
	vals := make([]string, 0, len(r.values))
	for s := range r.values {
		vals = append(vals, s)
	}
	// Every form an echo takes (raw, JSON-, HTML-, URL-escaped), longest first.
	r.r.Store(redact.NewReplacer(vals, 0))
}

func (r *redactor) scrub(s string) string {
	if rep := r.r.Load(); rep != nil {
		return rep.Replace(s)
	}
	return s
}

// redactWriter scrubs every write. zerolog writes one event per call.
type redactWriter struct {
	w io.Writer
	r *redactor
}

func (w redactWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(w.w, w.r.scrub(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	if l, ok := w.(*lockedWriter); ok {
		w = l.w
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// terminalWidth is the width of the terminal w, or 80 when it cannot tell.
func terminalWidth(w io.Writer) int {
	if l, ok := w.(*lockedWriter); ok {
		w = l.w
	}
	if f, ok := w.(*os.File); ok {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
			return cols
		}
	}
	return 80
}

// lockedWriter serializes writes to stderr: the run's workers log, and the
// progress bar draws, on the same stream. While a status line (the bar) is
// shown, a write first clears it and, after a complete line, draws it again
// below, so log lines never mix with it.
type lockedWriter struct {
	mu     sync.Mutex
	w      io.Writer
	status string // the status line shown at the bottom; "" for none
}

// clearLine returns the cursor to the start of the line and erases it.
const clearLine = "\r\x1b[K"

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.status == "" {
		return l.w.Write(p)
	}
	_, _ = io.WriteString(l.w, clearLine)
	n, err := l.w.Write(p)
	if len(p) > 0 && p[len(p)-1] == '\n' {
		_, _ = io.WriteString(l.w, l.status)
	}
	return n, err
}

// setStatus draws s as the status line, replacing the one shown.
func (l *lockedWriter) setStatus(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.w, clearLine+s)
	l.status = s
}

// endStatus draws the last status line, ends it, and stops redrawing.
func (l *lockedWriter) endStatus(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.w, clearLine+s+"\n")
	l.status = ""
}

// logFlags are --log-format and --log-level. run reads them from the
// arguments before any command parses them, so that the one logger, and every
// line on stderr, has its format from the start; each command's flag set
// declares them too, which checks their values and lists them in its help.
type logFlags struct {
	format, level string
}

// scanLogFlags finds --log-format and --log-level among args.
func scanLogFlags(args []string) logFlags {
	var lf logFlags
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || (name != "log-format" && name != "log-level") {
			continue
		}
		if !hasVal && i+1 < len(args) {
			i++
			val = args[i]
		}
		if name == "log-format" {
			lf.format = val
		} else {
			lf.level = val
		}
	}
	return lf
}

// register declares the flags on fs, checking their values.
func (lf *logFlags) register(fs *flag.FlagSet) {
	fs.Func("log-format", "log `FORMAT` on stderr: console or json (default: console on a terminal, json otherwise)", func(v string) error {
		if v != "console" && v != "json" {
			return fmt.Errorf("want console or json")
		}
		lf.format = v
		return nil
	})
	fs.Func("log-level", "log `LEVEL`: debug, info, warn or error (default info)", func(v string) error {
		if _, err := zerolog.ParseLevel(v); err != nil || v == "" || v == "trace" || v == "fatal" || v == "panic" || v == "disabled" {
			return fmt.Errorf("want debug, info, warn or error")
		}
		lf.level = v
		return nil
	})
}

// defaultLogFormat, when not empty, replaces the terminal test as the default
// of --log-format. The package's tests set it to console, to read the text.
var defaultLogFormat = ""

// newEnv builds the process's environment for the command in args: stderr
// serialized and scrubbed of secrets, the one logger, the ui.
func newEnv(args []string, stdin io.Reader, stdout, stderr io.Writer) *cmdEnv {
	locked := &lockedWriter{w: stderr}
	env := &cmdEnv{stdin: stdin, stdout: stdout, stderr: locked, getenv: os.Getenv, redactor: newRedactor()}
	lf := scanLogFlags(args)
	lvl, err := zerolog.ParseLevel(lf.level)
	if err != nil || lf.level == "" {
		lvl = zerolog.InfoLevel
	}
	term := isTerminal(stderr)
	format := lf.format
	if format != "console" && format != "json" {
		format = "json"
		if term {
			format = "console"
		}
		if defaultLogFormat != "" {
			format = defaultLogFormat
		}
	}
	scrubbed := redactWriter{w: locked, r: env.redactor}
	var w io.Writer = scrubbed
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: scrubbed, TimeFormat: time.TimeOnly, NoColor: !term}
	}
	env.log = zerolog.New(w).Level(lvl).With().Timestamp().Logger()
	env.ui = &ui{w: scrubbed, json: format == "json", log: env.log}
	return env
}
