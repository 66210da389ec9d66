package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/emulator"
)

// buildBinary builds hubprov into a temporary folder, once per test binary.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if runtime.GOOS == "windows" {
		t.Skip("signals")
	}
	builtOnce.Do(func() {
		gotool, err := exec.LookPath("go")
		if err != nil {
			builtErr = err
			return
		}
		dir, err := os.MkdirTemp("", "hubprov-bin-")
		if err != nil {
			builtErr = err
			return
		}
		builtBin = filepath.Join(dir, "hubprov")
		if out, err := exec.Command(gotool, "build", "-o", builtBin, ".").CombinedOutput(); err != nil {
			builtErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if builtErr != nil {
		t.Fatal(builtErr)
	}
	return builtBin
}

var (
	builtOnce sync.Once
	builtBin  string
	builtErr  error
)

// TestSIGTERMFinishesInFlightAndWritesTheReport: on SIGTERM no new request
// starts, the report is written with the rest skipped (reason interrupted,
// none failed), and the exit code is 143.
func TestSIGTERMFinishesInFlightAndWritesTheReport(t *testing.T) {
	bin := buildBinary(t)
	ee := newEngineEnv(t, emulator.Options{Latency: 10 * time.Millisecond})
	m := ee.writeManifest(400, nil)
	report := filepath.Join(ee.dir, "report.json")
	cmd := exec.Command(bin, "apply", "-f", m, "--report", report, "--no-progress", "--parallelism", "4")
	cmd.Env = append(os.Environ(), "HUBPROV_TEST_USER=demo-user", "HUBPROV_TEST_ORG=demo-org")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for ee.emu.Stats().Creates < 40 {
		time.Sleep(time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	var ee2 *exec.ExitError
	if !errors.As(err, &ee2) || ee2.ExitCode() != exitSIGTERM {
		t.Fatalf("after SIGTERM: %v, want exit 143", err)
	}
	rep := readReport(t, report)
	created := ee.emu.Stats().Creates
	if rep.Summary.Created != created || rep.Summary.Skipped != 400-created || rep.Summary.Failed != 0 || rep.Run.Aborted == "" {
		t.Fatalf("report %+v (aborted %q), emulator created %d", rep.Summary, rep.Run.Aborted, created)
	}
	for _, a := range rep.Accounts {
		if a.Status == provision.Skipped && a.Reason != provision.ReasonInterrupted {
			t.Fatalf("%s: skipped with reason %q, want %q", a.Name, a.Reason, provision.ReasonInterrupted)
		}
	}
}

// TestCrashAndRerunCreatesEachAccountOnce builds the binary, kills it with
// SIGKILL at several points of a 1,000-account apply, reruns it each time, and
// finds every account created exactly once and the final report complete.
func TestCrashAndRerunCreatesEachAccountOnce(t *testing.T) {
	bin := buildBinary(t)

	const n = 1000
	ee := newEngineEnv(t, emulator.Options{Latency: 8 * time.Millisecond})
	m := ee.writeManifest(n, nil)
	report := filepath.Join(ee.dir, "report.json")
	apply := func() *exec.Cmd {
		cmd := exec.Command(bin, "apply", "-f", m, "--report", report, "--no-progress", "--parallelism", "8")
		cmd.Env = append(os.Environ(), "HUBPROV_TEST_USER=demo-user", "HUBPROV_TEST_ORG=demo-org")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}

	for _, killAt := range []int{100, 450, 800} {
		cmd := apply()
		deadline := time.Now().Add(60 * time.Second)
		for ee.emu.Stats().Creates < killAt && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if c := ee.emu.Stats().Creates; c < killAt || c >= n {
			t.Fatalf("killed at %d creates, want between %d and %d", c, killAt, n)
		}
		if _, err := os.Stat(report + ".journal"); err != nil {
			t.Fatalf("no journal after the kill: %v", err)
		}
	}

	cmd := apply()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the rerun after the crashes: %v", err)
	}
	s := ee.emu.Stats()
	if s.Creates != n || s.Duplicates != 0 || s.CEInstances != n {
		t.Fatalf("emulator: %d creates, %d duplicates, %d instances; want %d, 0, %d", s.Creates, s.Duplicates, s.CEInstances, n, n)
	}
	rep := readReport(t, report)
	if len(rep.Accounts) != n || rep.Summary.Failed != 0 || rep.Summary.Skipped != 0 {
		t.Fatalf("final report: %d accounts, %+v", len(rep.Accounts), rep.Summary)
	}
	for _, a := range rep.Accounts {
		if a.Status != provision.Succeeded || a.InstanceID == "" {
			t.Fatalf("%s: %s, instance %q", a.Name, a.Status, a.InstanceID)
		}
	}
}
