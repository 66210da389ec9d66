package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
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

// Acceptance 1 and 2 of issue 11, from the command line: a change of
// defaults.tags over 40 accounts of all three auth types plans 40 updates of
// tags with old -> new and no credentials, and applies them without one
// credential or reused code; a rotated secret plans credentials for exactly
// that account.
func TestDefaultsTagsChangePlansTagsNotCredentials(t *testing.T) {
	demoCredentials(t)
	ee := newEngineEnv(t, emulator.Options{})
	write := func(tags string, edit func(int, string) string) string {
		m := ee.writeManifest(40, edit)
		data, _ := os.ReadFile(m)
		data = []byte(strings.Replace(string(data), "accounts:\n", "defaults:\n  tags: ["+tags+"]\naccounts:\n", 1))
		if err := os.WriteFile(m, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return m
	}
	report := filepath.Join(ee.dir, "report.json")
	m := write("wave-1", nil)
	if code, out, errs := ee.hubprov("apply", "-f", m, "--report", report, "--no-progress"); code != exitOK {
		t.Fatalf("first apply: exit %d\n%s%s", code, out, errs)
	}
	m = write("wave-1, wave-2", nil)
	code, out, errs := ee.hubprov("plan", "-f", m)
	if code != exitOK || strings.Count(out, "update     tags (instance ") != 40 ||
		strings.Count(out, `      tags: ["wave-1"] -> ["wave-1", "wave-2"]`) != 40 || strings.Contains(out, "credentials") {
		t.Fatalf("plan after a defaults.tags change: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := ee.hubprov("apply", "-f", m, "--report", report, "--no-progress"); code != exitOK || !strings.Contains(out, "40 updated") {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errs)
	}
	if s := ee.emu.Stats(); s.Updates != 40 || s.ReusedCodes != 0 || s.CredentialUpdates != 0 {
		t.Fatalf("emulator: %d updates, %d reused codes, %d carrying credentials; want 40, 0, 0", s.Updates, s.ReusedCodes, s.CredentialUpdates)
	}
	// Rotate the secret of one account of each auth type.
	m = write("wave-1, wave-2", func(i int, a string) string {
		if i < 3 {
			for _, s := range secretsOf(i) {
				a = strings.ReplaceAll(a, s, s+"-rotated")
			}
		}
		return a
	})
	code, out, _ = ee.hubprov("plan", "-f", m, "--json")
	var plan provision.SavedPlan
	if err := json.Unmarshal([]byte(out), &plan); code != exitOK || err != nil {
		t.Fatalf("plan --json: exit %d, %v\n%s", code, err, out)
	}
	for _, c := range plan.Changes {
		rotated := c.Name < "portal-0003"
		if want := map[bool]provision.Action{true: provision.Update, false: provision.Unchanged}[rotated]; c.Action != want ||
			rotated && (len(c.Diff) != 1 || c.Diff[0].Field != "credentials" || c.Diff[0].Old != nil || c.Diff[0].New != nil) {
			t.Errorf("%s: %s %+v", c.Name, c.Action, c.Diff)
		}
	}
	if strings.Contains(out, "-rotated") {
		t.Fatal("the plan shows a secret value")
	}
}
