package main

// This file holds the rules of hubprov's user-facing text, and its helpers.
// Every line a command writes to stderr goes through ui, so the rules hold
// for the console and for JSON logs alike:
//
//   - A message is lowercase, has no trailing period, and says what failed
//     first: "hubprov apply: read plan.json: ...". The prefix is the command.
//   - Problems the user can fix say where (file:line:col, an account, a flag)
//     and how: a "hint:" line, flush left, after the message and its details.
//   - Details (one per account, file, or problem) are indented two spaces.
//   - Never a raw Go error chain: "context canceled", "dial tcp ..." are
//     translated into what happened and what to do (see userError).
//   - Once per cause: the same condition is worded one way everywhere.
//   - With --log-format json every stderr line is one JSON object: an error
//     is {"level":"error","command":...,"error":...,"details":[...],
//     "hint":...,"exitCode":N}, and informational lines are log events.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/rs/zerolog"

	"github.com/hubprov/hubprov/manifest"
)

// cliError is an error that stops a command: its exit code, the lines that
// detail it, and hints for what to do. Commands return it; ui.exit prints it.
type cliError struct {
	code    int
	err     error
	details []string
	hints   []string
}

func (e *cliError) Error() string { return e.err.Error() }
func (e *cliError) Unwrap() error { return e.err }

// withHint adds a hint line.
func (e *cliError) withHint(format string, args ...any) *cliError {
	e.hints = append(e.hints, fmt.Sprintf(format, args...))
	return e
}

// withDetails adds indented detail lines.
func (e *cliError) withDetails(lines ...string) *cliError {
	e.details = append(e.details, lines...)
	return e
}

func newCLIError(code int, err error) *cliError { return &cliError{code: code, err: err} }

// invalidf is a usage or manifest error: exit 3, nothing was sent.
func invalidf(format string, args ...any) *cliError {
	return newCLIError(exitInvalid, fmt.Errorf(format, args...))
}

// abortedf is a run stopped before its end: exit 4.
func abortedf(format string, args ...any) *cliError {
	return newCLIError(exitAborted, fmt.Errorf(format, args...))
}

// failuresf is a command that finished with failures: exit 1.
func failuresf(format string, args ...any) *cliError {
	return newCLIError(exitFailures, fmt.Errorf(format, args...))
}

// exitStatus is an exit code without a message: what the command had to say
// it printed already (validate's problems, plan's pending changes).
type exitStatus int

func (s exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

// ui writes the user-facing lines of one hubprov process to stderr: errors
// with their hints, and short notes, as text or as JSON log events.
type ui struct {
	mu   sync.Mutex
	w    io.Writer // stderr, serialized and scrubbed
	json bool
	log  zerolog.Logger
}

// exit prints err, when it has a message, and returns the exit code for it.
func (u *ui) exit(command string, err error) int {
	code := exitCode(err)
	var st exitStatus
	if err == nil || errors.As(err, &st) {
		return code
	}
	var ce *cliError
	if !errors.As(err, &ce) {
		ce = &cliError{err: err}
	}
	prefix := "hubprov"
	if command != "" {
		prefix += " " + command
	}
	if u.json {
		ev := u.log.Error().Str("command", command).Int("exitCode", code).Str("error", ce.err.Error())
		if len(ce.details) > 0 {
			ev = ev.Strs("details", ce.details)
		}
		if len(ce.hints) > 0 {
			ev = ev.Str("hint", strings.Join(ce.hints, "; "))
		}
		ev.Msg(prefix + ": " + ce.err.Error())
		return code
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", prefix, ce.err)
	for _, d := range ce.details {
		fmt.Fprintf(&b, "  %s\n", d)
	}
	for _, h := range ce.hints {
		fmt.Fprintf(&b, "hint: %s\n", h)
	}
	u.write(b.String())
	return code
}

// note prints a line that is the command's result on stderr ("valid: ...",
// "merged ..."): plain text on the console, an info event in JSON.
func (u *ui) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if u.json {
		u.log.Info().Msg(msg)
		return
	}
	u.write(msg + "\n")
}

// problem prints a manifest problem on stderr: "file:line:col: severity:
// message" and its hint, or one JSON event with the position as fields.
func (u *ui) problem(p manifest.Problem) {
	if u.json {
		lvl := zerolog.WarnLevel
		if p.Severity == manifest.Error {
			lvl = zerolog.ErrorLevel
		}
		ev := u.log.WithLevel(lvl).Str("file", p.Pos.File).Int("line", p.Pos.Line).Int("column", p.Pos.Col)
		if p.Hint != "" {
			ev = ev.Str("hint", p.Hint)
		}
		ev.Msg(p.Message)
		return
	}
	s := p.String() + "\n"
	if p.Hint != "" {
		s += "    hint: " + p.Hint + "\n"
	}
	u.write(s)
}

func (u *ui) write(s string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	_, _ = io.WriteString(u.w, s)
}

// exitCode is the one exit-code switch (README "Exit codes").
func exitCode(err error) int {
	var st exitStatus
	var ce *cliError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &st):
		return int(st)
	case errors.As(err, &ce) && ce.code != 0:
		return ce.code
	case errors.Is(err, context.Canceled):
		return exitAborted
	default:
		return exitFailures
	}
}

// plural is word, with an s unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// warn prints a condition the user should fix that does not stop the
// command: "hubprov: warning: message", its details and a hint, or one
// JSON warn event with them as fields.
func (u *ui) warn(msg string, details []string, hint string) {
	if u.json {
		ev := u.log.Warn()
		if len(details) > 0 {
			ev = ev.Strs("details", details)
		}
		if hint != "" {
			ev = ev.Str("hint", hint)
		}
		ev.Msg(msg)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "hubprov: warning: %s\n", msg)
	for _, d := range details {
		fmt.Fprintf(&b, "  %s\n", d)
	}
	if hint != "" {
		fmt.Fprintf(&b, "hint: %s\n", hint)
	}
	u.write(b.String())
}
