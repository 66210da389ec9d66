package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/emulator"
)

// Acceptance 4 of issue 11: --verify on a run with nothing to change reports
// an invalid instance unhealthy and exits 1, on every run until it is fixed,
// judging unchanged instances by the list without reading each by id.
func TestVerifyChecksUnchangedInstances(t *testing.T) {
	demoCredentials(t)
	ee := newEngineEnv(t, emulator.Options{})
	m := ee.writeManifest(6, nil)
	report := filepath.Join(ee.dir, "report.json")
	if code, out, errs := ee.hubprov("apply", "-f", m, "--report", report, "--no-progress"); code != exitOK {
		t.Fatalf("first apply: exit %d\n%s%s", code, out, errs)
	}
	var broken string
	for _, a := range readReport(t, report).Accounts {
		if a.Name == "portal-0003" {
			broken = a.InstanceID
		}
	}
	ee.emu.SetValid(broken, false)
	for run := 1; run <= 2; run++ {
		gets := ee.emu.Stats().ByOp[emulator.OpGet]
		code, out, errs := ee.hubprov("apply", "-f", m, "--verify", "--report", report, "--no-progress")
		if code != exitFailures || !strings.Contains(out, "No changes") {
			t.Fatalf("run %d: exit %d, want 1 with nothing to change\n%s%s", run, code, out, errs)
		}
		rep := readReport(t, report)
		if rep.Summary.Unhealthy != 1 || rep.Summary.Unchanged != 5 {
			t.Fatalf("run %d: summary %+v, want 1 unhealthy and 5 unchanged", run, rep.Summary)
		}
		for _, a := range rep.Accounts {
			if (a.Name == "portal-0003") != (a.Status == provision.Unhealthy) || a.Action != provision.Unchanged {
				t.Errorf("run %d: %s %s %s", run, a.Name, a.Action, a.Status)
			}
		}
		if n := ee.emu.Stats().ByOp[emulator.OpGet] - gets; n != 0 {
			t.Errorf("run %d: %d reads by id; the list already says valid and disabled", run, n)
		}
	}
	ee.emu.SetValid(broken, true)
	if code, _, errs := ee.hubprov("apply", "-f", m, "--verify", "--report", report, "--no-progress"); code != exitOK {
		t.Fatalf("after the fix: exit %d\n%s", code, errs)
	}
}

// Acceptance 5 of issue 11: 'apply plan.json' interrupted, then rerun: exit
// 0, and every account created exactly once.
func TestInterruptedSavedPlanResumes(t *testing.T) {
	demoCredentials(t)
	const n = 120
	ee := newEngineEnv(t, emulator.Options{Latency: 5 * time.Millisecond})
	m := ee.writeManifest(n, nil)
	planPath := filepath.Join(ee.dir, "plan.json")
	report := filepath.Join(ee.dir, "report.json")
	if code, out, errs := ee.hubprov("plan", "-f", m, "--out", planPath); code != exitOK {
		t.Fatalf("plan --out: exit %d\n%s%s", code, out, errs)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer cancel()
		for ee.emu.Stats().Creates < n/4 {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"apply", planPath, "--report", report, "--no-progress", "--parallelism", "4"}, strings.NewReader(""), &out, &errb)
	close(done)
	created := ee.emu.Stats().Creates
	if code == exitOK || created >= n {
		t.Fatalf("the interrupted apply: exit %d, %d creates; want an interruption part way\n%s%s", code, created, out.String(), errb.String())
	}

	code, stdout, errs := ee.hubprov("apply", planPath, "--report", report, "--no-progress")
	if code != exitOK {
		t.Fatalf("rerun of the saved plan: exit %d, want 0\n%s%s", code, stdout, errs)
	}
	s := ee.emu.Stats()
	if s.Creates != n || s.Duplicates != 0 || s.CEInstances != n || s.ReusedCodes != 0 {
		t.Fatalf("emulator: %d creates, %d duplicates, %d instances, %d reused codes; want %d, 0, %d, 0", s.Creates, s.Duplicates, s.CEInstances, s.ReusedCodes, n, n)
	}
	rep := readReport(t, report)
	seen := map[string]bool{}
	for _, a := range rep.Accounts {
		if seen[a.Name] || a.Status != provision.Succeeded || a.InstanceID == "" {
			t.Fatalf("%s: %s, instance %q (twice: %v)", a.Name, a.Status, a.InstanceID, seen[a.Name])
		}
		seen[a.Name] = true
	}
	if len(seen) != n {
		t.Fatalf("report maps %d accounts, want %d", len(seen), n)
	}
}
