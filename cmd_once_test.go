package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/emulator"
)

// startApply starts the built binary on an apply of manifest m with report.
func startApply(t *testing.T, bin, m, report string, extra ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"apply", "-f", m, "--report", report, "--no-progress"}, extra...)...)
	cmd.Env = append(os.Environ(), "HUBPROV_TEST_USER=demo-user", "HUBPROV_TEST_ORG=demo-org")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &errb
}

func procExit(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestTwoAppliesOnOneReportOneRefuses: two processes started together with the
// same report path: one runs, the other refuses with exit 3, naming the holder,
// having sent nothing; no account is created twice.
func TestTwoAppliesOnOneReportOneRefuses(t *testing.T) {
	bin := buildBinary(t)
	ee := newEngineEnv(t, emulator.Options{Latency: 20 * time.Millisecond})
	m := ee.writeManifest(200, nil)
	report := filepath.Join(ee.dir, "report.json")
	a, aerr := startApply(t, bin, m, report)
	b, berr := startApply(t, bin, m, report)
	ca, cb := procExit(a.Wait()), procExit(b.Wait())
	if ca > cb {
		ca, cb, aerr, berr = cb, ca, berr, aerr
	}
	if ca != exitOK || cb != exitInvalid {
		t.Fatalf("exit codes %d and %d, want 0 and 3\n%s\n%s", ca, cb, aerr, berr)
	}
	for _, want := range []string{"another run holds " + report + ".lock", "pid ", "started ", "apply -f " + m, "nothing was sent", "hint: "} {
		if !strings.Contains(berr.String(), want) {
			t.Errorf("the refused run's stderr does not say %q:\n%s", want, berr)
		}
	}
	if s := ee.emu.Stats(); s.Duplicates != 0 || s.Creates != 200 || s.CEInstances != 200 {
		t.Fatalf("emulator: %d creates, %d duplicates, %d instances", s.Creates, s.Duplicates, s.CEInstances)
	}
}

// TestLockTimeoutWaitsForTheOtherRun: a second in-process run with
// --lock-timeout waits until the first releases the lock, then finds nothing to do.
func TestLockTimeoutWaitsForTheOtherRun(t *testing.T) {
	demoCredentials(t)
	ee := newEngineEnv(t, emulator.Options{})
	m := ee.writeManifest(3, nil)
	report := filepath.Join(ee.dir, "report.json")
	if code, _, errs := ee.hubprov("apply", "-f", m, "--report", report); code != exitOK {
		t.Fatalf("apply: %d\n%s", code, errs)
	}
	if code, _, errs := ee.hubprov("destroy", "-f", m, "--report", report, "--lock-timeout", "-1s"); code != exitInvalid || !strings.Contains(errs, "--lock-timeout") {
		t.Fatalf("negative --lock-timeout: %d\n%s", code, errs)
	}
	holder, err := acquireForTest(report + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	before := ee.emu.Stats().Requests
	if code, _, errs := ee.hubprov("destroy", "-f", m, "--report", report); code != exitInvalid || !strings.Contains(errs, "pid 99") {
		t.Fatalf("destroy while locked: %d\n%s", code, errs)
	}
	if n := ee.emu.Stats().Requests; n != before {
		t.Fatalf("the refused destroy sent %d requests", n-before)
	}
	done := make(chan int)
	go func() {
		code, _, _ := ee.hubprov("apply", "-f", m, "--report", report, "--lock-timeout", "1h")
		done <- code
	}()
	holder.Release()
	if code := <-done; code != exitOK {
		t.Fatalf("waiting apply: exit %d", code)
	}
}

func acquireForTest(path string) (*provision.RunLock, error) {
	return provision.AcquireRunLock(context.Background(), path, 0, provision.LockHolder{PID: 99, Host: "test", StartedAt: time.Now(), Command: "test"})
}
