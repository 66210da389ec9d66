package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	// The Go tests and the scripts read the console format; the scripts that
	// test JSON logs ask for them.
	defaultLogFormat = "console"
	testscript.Main(cleanup{m}, map[string]func(){"hubprov": main})
}

// cleanup runs the tests, then removes the binary buildBinary built.
type cleanup struct{ m *testing.M }

func (c cleanup) Run() int {
	code := c.m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	return code
}

// TestScripts runs the end-to-end scripts of testdata/script: one feature
// each, running hubprov as a user does (the testscript format: age's
// cmd/age/testdata is the model). Each script starts with $WORK holding a
// copy of examples/quickstart.yaml.
func TestScripts(t *testing.T) {
	quickstart, err := os.ReadFile("examples/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			return os.WriteFile(filepath.Join(e.WorkDir, "quickstart.yaml"), quickstart, 0o600)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":     cmdExits,
			"jsonlines": cmdJSONLines,
			"manifest":  cmdManifest,
			"interrupt": cmdInterrupt,
			"count":     cmdCount,
		},
	})
}

// exits CODE PROGRAM ARGS...: runs the program and checks its exit code;
// stdout and stderr are kept for the next commands, as exec keeps them.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROGRAM ARGS...")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: %v", err)
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exits: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit code %d, want %d", got, want)
	}
}

// jsonlines FILE|stderr: every line is one JSON object. With a second
// argument KEY=VALUE, the last line that has KEY must hold VALUE there.
func cmdJSONLines(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: jsonlines FILE|stdout|stderr [KEY=VALUE...]")
	}
	text := ts.ReadFile(args[0])
	var last map[string]any
	lines := 0
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			if neg {
				return
			}
			ts.Fatalf("not a JSON line: %q", line)
		}
		lines++
		last = ev
	}
	if neg {
		ts.Fatalf("every line of %s is JSON", args[0])
	}
	for _, kv := range args[1:] {
		k, v, _ := strings.Cut(kv, "=")
		if got := fmt.Sprint(last[k]); got != v {
			ts.Fatalf("the last line's %s is %q, want %q", k, got, v)
		}
	}
	ts.Logf("%d JSON lines", lines)
}

// manifest N FILE: writes a manifest of N apiKey accounts of set "bulk" for
// the emulator (--emulate accepts its credentials).
func cmdManifest(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: manifest N FILE")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("manifest: %v", err)
	}
	var b bytes.Buffer
	b.WriteString("version: 1\nset: bulk\ntarget:\n  platform: cloud-elements\n  credentials: {user: demo-user, organization: demo-org}\ndefaults:\n  element: hubspotcrm\naccounts:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {name: portal-%05d, auth: {type: oauth2, clientId: app, clientSecret: s3cr3t-%05d, callbackURL: https://app.example.com/cb, scopes: [oauth], code: code-%05d}}\n", i, i, i)
	}
	if err := os.WriteFile(ts.MkAbs(args[1]), b.Bytes(), 0o600); err != nil {
		ts.Fatalf("manifest: %v", err)
	}
}

// count N PATTERN FILE: FILE has exactly N lines containing PATTERN.
func cmdCount(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: count N SUBSTRING FILE")
	}
	n, _ := strconv.Atoi(args[0])
	got := strings.Count(ts.ReadFile(args[2]), args[1])
	if (got == n) == neg {
		ts.Fatalf("%q occurs %d times in %s, want %d", args[1], got, args[2], n)
	}
}

// interrupt [-twice] SIGNAL CODE LINES hubprov ARGS...: starts hubprov, waits
// until its journal (hubprov-report.json.journal) has LINES lines, sends
// SIGNAL (INT or TERM) once (twice with -twice), and checks the exit code.
// Its stdout and stderr go to the files interrupt.stdout and interrupt.stderr.
func cmdInterrupt(ts *testscript.TestScript, neg bool, args []string) {
	twice := len(args) > 0 && args[0] == "-twice"
	if twice {
		args = args[1:]
	}
	if neg || len(args) < 4 {
		ts.Fatalf("usage: interrupt [-twice] INT|TERM CODE LINES PROGRAM ARGS...")
	}
	sig := map[string]syscall.Signal{"INT": syscall.SIGINT, "TERM": syscall.SIGTERM}[args[0]]
	want, _ := strconv.Atoi(args[1])
	lines, _ := strconv.Atoi(args[2])
	path, err := exec.LookPath(args[3])
	if err != nil {
		ts.Fatalf("interrupt: %v", err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(path, args[4:]...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = append(os.Environ(), "HOME="+ts.Getenv("HOME"), "TMPDIR="+ts.Getenv("TMPDIR"))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		ts.Fatalf("interrupt: %v", err)
	}
	journal := ts.MkAbs("hubprov-report.json.journal")
	deadline := time.Now().Add(60 * time.Second)
	for journalLines(journal) < lines {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			ts.Fatalf("the journal never reached %d lines", lines)
		}
		time.Sleep(2 * time.Millisecond)
	}
	_ = cmd.Process.Signal(sig)
	if twice {
		time.Sleep(20 * time.Millisecond)
		_ = cmd.Process.Signal(sig)
	}
	err = cmd.Wait()
	got := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		got = ee.ExitCode()
	}
	_ = os.WriteFile(ts.MkAbs("interrupt.stdout"), stdout.Bytes(), 0o600)
	_ = os.WriteFile(ts.MkAbs("interrupt.stderr"), stderr.Bytes(), 0o600)
	ts.Logf("[stderr]\n%s", stderr.String())
	if got != want {
		ts.Fatalf("exit code %d, want %d", got, want)
	}
}

func journalLines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
	}
	return n
}
