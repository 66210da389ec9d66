package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/emulator"
)

// TestCrashAndRerunCreatesEachAccountOnce builds the binary, kills it with
// SIGKILL at several points of a 1,000-account apply, reruns it each time, and
// finds every account created exactly once and the final report complete.
func TestCrashAndRerunCreatesEachAccountOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs 1,000 accounts")
	}
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL")
	}
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build the binary")
	}
	bin := filepath.Join(t.TempDir(), "hubprov")
	if out, err := exec.Command(gotool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

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
