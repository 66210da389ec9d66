package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/emulator"
)

// startApply starts the built binary on an apply of manifest m with report.
func startApply(t *testing.T, bin, m, report string, extra ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"apply", "-f", m, "--report", report, "--no-progress", "--log-format", "console"}, extra...)...)
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

// writeSetManifest writes a copy of manifest m for another set, with the
// accounts renamed, and returns its path.
func writeSetManifest(t *testing.T, m, set string) string {
	t.Helper()
	data, err := os.ReadFile(m)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(data), "set: acme", "set: "+set, 1)
	s = strings.ReplaceAll(s, "name: portal-", "name: "+set+"-")
	s = strings.ReplaceAll(s, "code: PLANTED-code-", "code: PLANTED-"+set+"-code-") // a code is used once
	path := filepath.Join(filepath.Dir(m), set+".yaml")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAnotherSetNeverDropsUnresolvedIntents: after a SIGKILL of set A's run,
// a run of set B with the same report path refuses (exit 3) instead of
// starting a new journal; the rerun of A then creates every account once.
func TestAnotherSetNeverDropsUnresolvedIntents(t *testing.T) {
	bin := buildBinary(t)
	demoCredentials(t)
	const n = 300
	ee := newEngineEnv(t, emulator.Options{Latency: 10 * time.Millisecond})
	m := ee.writeManifest(n, nil)
	mb := writeSetManifest(t, m, "globex")
	report := filepath.Join(ee.dir, "report.json")
	a, _ := startApply(t, bin, m, report)
	for ee.emu.Stats().Creates < 50 {
		time.Sleep(time.Millisecond)
	}
	_ = a.Process.Signal(syscall.SIGKILL)
	_ = a.Wait()
	journal, _ := os.ReadFile(report + ".journal")

	// (Requests of the killed process may still arrive: compare what B could send.)
	before := ee.emu.Stats().ByOp[emulator.OpList]
	code, _, errs := ee.hubprov("apply", "-f", mb, "--report", report)
	if code != exitInvalid || !strings.Contains(errs, `unresolved creates of set "acme"`) || !strings.Contains(errs, "--report "+report) {
		t.Fatalf("set B on A's journal: exit %d\n%s", code, errs)
	}
	if after, _ := os.ReadFile(report + ".journal"); string(after) != string(journal) || ee.emu.Stats().ByOp[emulator.OpList] != before {
		t.Fatalf("the refused run touched the journal or sent a request")
	}

	if code, _, errs := ee.hubprov("apply", "-f", m, "--report", report); code != exitOK {
		t.Fatalf("rerun of A: exit %d\n%s", code, errs)
	}
	if s := ee.emu.Stats(); s.Duplicates != 0 || s.CEInstances != n {
		t.Fatalf("emulator: %d duplicates, %d instances, want 0 and %d", s.Duplicates, s.CEInstances, n)
	}
	if code, _, errs := ee.hubprov("apply", "-f", mb, "--report", report); code != exitOK {
		t.Fatalf("set B after A finished: exit %d\n%s", code, errs)
	}
}

// TestTornJournalRerunSucceeds: a journal with a torn last line and a garbage
// line in the middle does not stop the rerun, which creates nothing twice.
func TestTornJournalRerunSucceeds(t *testing.T) {
	demoCredentials(t)
	ee := newEngineEnv(t, emulator.Options{})
	m := ee.writeManifest(10, nil)
	report := filepath.Join(ee.dir, "report.json")
	if code, _, errs := ee.hubprov("apply", "-f", m, "--report", report, "--select", "portal-000[0-4]"); code != exitOK {
		t.Fatalf("first apply: %d\n%s", code, errs)
	}
	intent := func(name string) string {
		return `{"time":"2026-12-01T21:00:00Z","type":"intent","set":"acme","platform":"cloud-elements","baseURL":"` + ee.ceURL + `","name":"` + name + `","action":"create"}` + "\n"
	}
	j := intent("portal-0003") + intent("portal-0004")[:60] + "\x00\x00\x00\n" + intent("portal-0002") + intent("portal-0007")[:50]
	if err := os.WriteFile(report+".journal", []byte(j), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(report)
	code, out, errs := ee.hubprov("apply", "-f", m, "--report", report)
	if code != exitOK || !strings.Contains(out, "Plan: 5 to create") {
		t.Fatalf("rerun: exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"last line is incomplete", "unreadable lines"} {
		if !strings.Contains(errs, want) {
			t.Errorf("no warning %q:\n%s", want, errs)
		}
	}
	if s := ee.emu.Stats(); s.Duplicates != 0 || s.CEInstances != 10 {
		t.Fatalf("emulator: %d duplicates, %d instances", s.Duplicates, s.CEInstances)
	}
}

// TestCreateAnsweredWithoutIDIsLookedUp: a create answered 200 with {} or
// with no body is ambiguous: the instance is found by lookup, not created
// again, and the report carries its id and token.
func TestCreateAnsweredWithoutIDIsLookedUp(t *testing.T) {
	demoCredentials(t)
	for _, c := range []struct {
		body string
		lag  time.Duration
	}{{"{}", 0}, {"", 0}, {"{}", time.Second}, {"", time.Second}} {
		body := c.body
		// Under list lag the lookup right after the create finds nothing:
		// the run must wait for the list, never send the create again.
		e := emulator.New(emulator.Options{ListLag: c.lag})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/instances") {
				e.ServeHTTP(httptest.NewRecorder(), r)
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, body)
				return
			}
			e.ServeHTTP(w, r)
		}))
		ee := &engineEnv{t: t, emu: e, ceURL: srv.URL + emulator.CloudElementsPrefix, dir: t.TempDir()}
		m := ee.writeManifest(6, nil)
		report := filepath.Join(ee.dir, "report.json")
		code, _, errs := ee.hubprov("apply", "-f", m, "--report", report)
		srv.Close()
		if code != exitOK {
			t.Fatalf("body %q: exit %d\n%s", body, code, errs)
		}
		if s := e.Stats(); s.Creates != 6 || s.Duplicates != 0 {
			t.Fatalf("body %q: %d creates, %d duplicates", body, s.Creates, s.Duplicates)
		}
		for _, a := range readReport(t, report).Accounts {
			v, ok := e.Instance(a.InstanceID)
			if a.Status != provision.Succeeded || !ok || v.Name != a.Name || a.Token != v.Token {
				t.Fatalf("body %q: %s: %s, instance %q (%v)", body, a.Name, a.Status, a.InstanceID, ok)
			}
		}
	}
}

// TestPlantedDuplicate: a second marked instance with an account's name is a
// duplicate in every plan output; --detailed-exitcode counts it; apply
// --max-deletes 0 refuses; apply deletes it and keeps the oldest.
func TestPlantedDuplicate(t *testing.T) {
	demoCredentials(t)
	ee := newEngineEnv(t, emulator.Options{})
	m := ee.writeManifest(4, nil)
	report := filepath.Join(ee.dir, "report.json")
	if code, _, errs := ee.hubprov("apply", "-f", m, "--report", report); code != exitOK {
		t.Fatalf("apply: %d\n%s", code, errs)
	}
	var keep string
	for _, a := range readReport(t, report).Accounts {
		if a.Name == "portal-0002" {
			keep = a.InstanceID
		}
	}
	orig, _ := ee.emu.Instance(keep)
	planted := ee.emu.AddInstance(emulator.Seed{Name: "portal-0002", Element: orig.Element, Tags: orig.Tags, Configuration: orig.Configuration})

	code, out, errs := ee.hubprov("plan", "-f", m, "--detailed-exitcode")
	if code != exitChanges || !strings.Contains(out, "portal-0002  duplicate  2 live instances: keeps "+keep+" (the oldest), deletes "+planted) {
		t.Fatalf("plan: exit %d\n%s\n%s", code, out, errs)
	}
	_, js, _ := ee.hubprov("plan", "-f", m, "--json")
	var sp provision.SavedPlan
	if err := json.Unmarshal([]byte(js), &sp); err != nil || sp.Summary.Duplicate != 1 {
		t.Fatalf("plan --json: %v\n%s", err, js)
	}
	for _, c := range sp.Changes {
		if c.Name == "portal-0002" && (c.Action != provision.Duplicate || c.Remote.InstanceID != keep || len(c.Duplicates) != 1 || c.Duplicates[0] != planted) {
			t.Fatalf("plan --json change %+v", c)
		}
	}
	if _, md, _ := ee.hubprov("plan", "-f", m, "--format", "markdown"); !strings.Contains(md, "| duplicate |") || !strings.Contains(md, "keeps "+keep+" (the oldest), deletes "+planted) {
		t.Fatalf("markdown plan:\n%s", md)
	}

	code, _, errs = ee.hubprov("apply", "-f", m, "--report", report, "--max-deletes", "0")
	if code != exitInvalid || !strings.Contains(errs, "1 deletions planned, more than --max-deletes 0") {
		t.Fatalf("--max-deletes 0: exit %d\n%s", code, errs)
	}
	if _, ok := ee.emu.Instance(planted); !ok {
		t.Fatal("the refused run deleted the duplicate")
	}
	code, out, errs = ee.hubprov("apply", "-f", m, "--report", report)
	if code != exitOK || !strings.Contains(out, "1 duplicate instances deleted") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errs)
	}
	if _, ok := ee.emu.Instance(planted); ok {
		t.Fatal("the duplicate is still live")
	}
	if _, ok := ee.emu.Instance(keep); !ok {
		t.Fatal("the oldest instance was deleted")
	}
	rep := readReport(t, report)
	if rep.Summary.DuplicatesDeleted != 1 {
		t.Fatalf("summary %+v", rep.Summary)
	}
	for _, a := range rep.Accounts {
		if a.Name == "portal-0002" && (a.Action != provision.Duplicate || a.InstanceID != keep || a.Token != orig.Token) {
			t.Fatalf("report entry %+v", a)
		}
	}
	if code, out, _ := ee.hubprov("plan", "-f", m, "--detailed-exitcode"); code != exitOK {
		t.Fatalf("plan after apply: exit %d\n%s", code, out)
	}
}

// TestTwoRunnersConverge: two applies of one manifest with different report
// paths (two CI runners) started together, over every auth type (oauth2
// codes are single-use: the second create of one is refused), against a
// platform whose pages are offsets (a delete behind a listing in progress
// makes it skip an instance), whose creation times are whole seconds, and
// whose lists lag: both exit 0, every account has exactly one live instance,
// both reports map it to that instance, and the duplicates the reports say
// they deleted are the deletes the platform received.
func TestTwoRunnersConverge(t *testing.T) {
	bin := buildBinary(t)
	const n = 300
	for _, c := range []struct {
		name string
		opts emulator.Options
	}{
		{"offset pages", emulator.Options{Latency: 2 * time.Millisecond, OffsetPages: true}},
		{"offset pages, lists lag 1s", emulator.Options{Latency: 2 * time.Millisecond, OffsetPages: true, ListLag: time.Second}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ee := newEngineEnv(t, c.opts)
			m := ee.writeManifest(n, nil)
			ra, rb := filepath.Join(ee.dir, "a.json"), filepath.Join(ee.dir, "b.json")
			a, aerr := startApply(t, bin, m, ra)
			b, berr := startApply(t, bin, m, rb)
			if ca, cb := procExit(a.Wait()), procExit(b.Wait()); ca != exitOK || cb != exitOK {
				t.Fatalf("exit codes %d and %d\n%s\n%s", ca, cb, aerr, berr)
			}
			s := ee.emu.Stats()
			live := map[string]string{}
			for _, id := range ee.emu.Instances() {
				v, _ := ee.emu.Instance(id)
				if live[v.Name] != "" {
					t.Errorf("%s has two live instances", v.Name)
				}
				live[v.Name] = id
			}
			if s.CEInstances != n {
				t.Fatalf("%d live instances, want %d (%d creates, %d duplicates made)", s.CEInstances, n, s.Creates, s.Duplicates)
			}
			deleted := 0
			for _, path := range []string{ra, rb} {
				rep := readReport(t, path)
				if len(rep.Accounts) != n {
					t.Fatalf("%s: %d accounts", path, len(rep.Accounts))
				}
				deleted += rep.Summary.DuplicatesDeleted
				for _, acc := range rep.Accounts {
					if acc.InstanceID != live[acc.Name] || acc.Status != provision.Succeeded {
						t.Errorf("%s: %s maps %s (%s), live is %s", path, acc.Name, acc.InstanceID, acc.Status, live[acc.Name])
					}
				}
			}
			if deleted != s.Deletes {
				t.Errorf("the reports count %d duplicates deleted, the platform received %d deletes", deleted, s.Deletes)
			}
			t.Logf("%d creates, %d of them duplicates, %d deletes, %d reused codes", s.Creates, s.Duplicates, s.Deletes, s.ReusedCodes)
		})
	}
}

// TestLaggingListRerunCreatesNothing: lists lag writes by 5 s (the emulator's
// clock stands still, so they never catch up); a second apply at once reads
// the instances the report and journal know by id and creates nothing.
func TestLaggingListRerunCreatesNothing(t *testing.T) {
	demoCredentials(t)
	frozen := time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)
	ee := newEngineEnv(t, emulator.Options{ListLag: 5 * time.Second, Now: func() time.Time { return frozen }})
	m := ee.writeManifest(100, nil)
	report := filepath.Join(ee.dir, "report.json")
	// The list never catches up: the end-of-run check waits --max-lag-wait for it.
	if code, _, errs := ee.hubprov("apply", "-f", m, "--report", report, "--max-lag-wait", "100ms"); code != exitOK {
		t.Fatalf("apply: %d\n%s", code, errs)
	}
	for range 2 {
		code, out, errs := ee.hubprov("apply", "-f", m, "--report", report)
		if code != exitOK || !strings.Contains(out, "No changes: 100 accounts") {
			t.Fatalf("apply at once: exit %d\n%s\n%s", code, out, errs)
		}
		if s := ee.emu.Stats(); s.Creates != 100 || s.Duplicates != 0 {
			t.Fatalf("emulator: %d creates, %d duplicates", s.Creates, s.Duplicates)
		}
		for _, a := range readReport(t, report).Accounts {
			if a.InstanceID == "" || a.Token == "" || a.Action != provision.Unchanged {
				t.Fatalf("%s: %s, instance %q", a.Name, a.Action, a.InstanceID)
			}
		}
	}
}

// TestCrashUnderListLag: SIGKILL a run while lists lag writes by 2 s and rerun
// at once: the creates the killed run left pending are not repeated, because
// the rerun waits for the list to catch up with them before it believes a
// lookup that finds nothing; every account ends up with exactly one instance.
func TestCrashUnderListLag(t *testing.T) {
	bin := buildBinary(t)
	demoCredentials(t)
	const n = 200
	ee := newEngineEnv(t, emulator.Options{Latency: 5 * time.Millisecond, ListLag: 2 * time.Second})
	m := ee.writeManifest(n, nil)
	report := filepath.Join(ee.dir, "report.json")
	a, _ := startApply(t, bin, m, report)
	for ee.emu.Stats().Creates < 60 {
		time.Sleep(time.Millisecond)
	}
	_ = a.Process.Signal(syscall.SIGKILL)
	_ = a.Wait()
	if code, _, errs := ee.hubprov("apply", "-f", m, "--report", report); code != exitOK {
		t.Fatalf("rerun: exit %d\n%s", code, errs)
	}
	if s := ee.emu.Stats(); s.Duplicates != 0 || s.CEInstances != n {
		t.Fatalf("emulator: %d duplicates, %d instances, want 0 and %d", s.Duplicates, s.CEInstances, n)
	}
	for _, acc := range readReport(t, report).Accounts {
		if acc.Status != provision.Succeeded || acc.InstanceID == "" {
			t.Fatalf("%s: %s, instance %q", acc.Name, acc.Status, acc.InstanceID)
		}
	}
}

// TestReportMapsEveryLiveAccount: whatever --select, --shard or destroy
// chose, the report maps every live account of the manifest to its instance
// and token; a --select or --shard that matches nothing is exit 3.
func TestReportMapsEveryLiveAccount(t *testing.T) {
	demoCredentials(t)
	ee := newEngineEnv(t, emulator.Options{})
	m := ee.writeManifest(6, nil)
	report := filepath.Join(ee.dir, "report.json")
	if code, _, errs := ee.hubprov("apply", "-f", m, "--report", report); code != exitOK {
		t.Fatalf("apply: %d\n%s", code, errs)
	}
	full := map[string]provision.AccountReport{}
	for _, a := range readReport(t, report).Accounts {
		full[a.Name] = a
	}
	check := func(what string, gone string) {
		t.Helper()
		rep := readReport(t, report)
		mapped := 0
		for _, a := range rep.Accounts {
			if a.Name == gone {
				if a.Action != provision.Delete || a.Status != provision.Succeeded {
					t.Errorf("%s: %+v", what, a)
				}
				continue
			}
			if a.InstanceID != full[a.Name].InstanceID || a.Token != full[a.Name].Token {
				t.Errorf("%s: %s maps %q, want %q", what, a.Name, a.InstanceID, full[a.Name].InstanceID)
			}
			mapped++
		}
		if want := len(full) - map[bool]int{true: 1}[gone != ""]; mapped != want {
			t.Errorf("%s: %d accounts mapped, want %d", what, mapped, want)
		}
	}
	code, out, _ := ee.hubprov("apply", "-f", m, "--report", report, "--select", "portal-0001")
	if code != exitOK || !strings.Contains(out, "5 not selected") {
		t.Fatalf("--select: exit %d\n%s", code, out)
	}
	check("apply --select", "")
	if code, _, _ := ee.hubprov("apply", "-f", m, "--report", report, "--shard", "1/3"); code != exitOK {
		t.Fatalf("--shard: exit %d", code)
	}
	check("apply --shard", "")
	if code, _, errs := ee.hubprov("destroy", "-f", m, "--report", report, "--select", "portal-0002"); code != exitOK {
		t.Fatalf("destroy --select: exit %d\n%s", code, errs)
	}
	check("destroy --select", "portal-0002")

	before := ee.emu.Stats().Requests
	for _, args := range [][]string{{"apply", "--select", "nope-*"}, {"destroy", "--select", "nope"}, {"plan", "--select", "x"}} {
		code, _, errs := ee.hubprov(append(args, "-f", m, "--report", report)...)
		if args[0] == "plan" {
			code, _, errs = ee.hubprov(append(args, "-f", m)...)
		}
		if code != exitInvalid || !strings.Contains(errs, "matches none of the manifest's 6 accounts") {
			t.Errorf("%v: exit %d\n%s", args, code, errs)
		}
	}
	if n := ee.emu.Stats().Requests; n != before {
		t.Errorf("a selection of nothing sent %d requests", n-before)
	}
}

// TestReportWriteFails: the journal is fine but the report cannot be written
// (a full disk, say): exit 4 with the hint that a rerun rebuilds the report
// from the platform; the rerun then writes it with every id and token, and
// creates nothing again.
func TestReportWriteFails(t *testing.T) {
	demoCredentials(t)
	ee := newEngineEnv(t, emulator.Options{})
	m := ee.writeManifest(6, nil)
	report := filepath.Join(ee.dir, "report.json")
	write := writeReport
	writeReport = func(path string, w func(io.Writer) error) error {
		return fmt.Errorf("write %s: %w", path, syscall.ENOSPC)
	}
	code, out, errs := ee.hubprov("apply", "-f", m, "--report", report)
	writeReport = write
	if code != exitAborted || !strings.Contains(errs, "the report could not be written") || !strings.Contains(errs, "no space left on device") ||
		!strings.Contains(errs, "a rerun of the same command rebuilds the report from the platform") || !strings.Contains(out, "Report: (not written)") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	if strings.Contains(errs, "journal") {
		t.Errorf("the journal was fine, yet the error speaks of it:\n%s", errs)
	}
	if _, err := os.Stat(report); err == nil {
		t.Fatal("a report was written")
	}
	if code, _, errs := ee.hubprov("apply", "-f", m, "--report", report); code != exitOK {
		t.Fatalf("rerun: exit %d\n%s", code, errs)
	}
	if s := ee.emu.Stats(); s.Creates != 6 || s.Duplicates != 0 {
		t.Fatalf("emulator: %d creates, %d duplicates", s.Creates, s.Duplicates)
	}
	for _, a := range readReport(t, report).Accounts {
		v, ok := ee.emu.Instance(a.InstanceID)
		if !ok || v.Name != a.Name || v.Token != a.Token || a.Status != provision.Succeeded {
			t.Fatalf("rerun report: %+v", a)
		}
	}
}

// TestPlanUnderListLagHonoursTheReport: right after an apply, while lists
// lag writes, plan reads the instances the report and the journal know by id
// (as apply does), so it shows no account as create; with the default report
// path too.
func TestPlanUnderListLagHonoursTheReport(t *testing.T) {
	demoCredentials(t)
	frozen := time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)
	ee := newEngineEnv(t, emulator.Options{ListLag: 5 * time.Second, Now: func() time.Time { return frozen }})
	m := ee.writeManifest(10, nil)
	t.Chdir(ee.dir)
	if code, _, errs := ee.hubprov("apply", "-f", m, "--max-lag-wait", "100ms"); code != exitOK {
		t.Fatalf("apply: %d\n%s", code, errs)
	}
	for _, args := range [][]string{{"plan", "-f", m}, {"plan", "-f", m, "--report", "hubprov-report.json"}} {
		code, out, errs := ee.hubprov(append(args, "--detailed-exitcode")...)
		if code != exitOK || !strings.Contains(out, "No changes: 10 accounts") {
			t.Fatalf("%v: exit %d\n%s\n%s", args, code, out, errs)
		}
	}
	if code, out, _ := ee.hubprov("plan", "-f", m, "--report", "elsewhere.json", "--detailed-exitcode"); code != exitChanges || !strings.Contains(out, "10 to create") {
		t.Fatalf("plan with a report path that has no report: exit %d\n%s", code, out)
	}
	if s := ee.emu.Stats(); s.Creates != 10 {
		t.Fatalf("emulator: %d creates", s.Creates)
	}
}

// TestUnclearCreateLeftPending: a create answered 200 {} while the list
// never catches up (the emulator's clock stands still) is neither created
// again nor failed: the account is pending (exit 1, with a hint), its intent
// stays in the journal, and the rerun, once the list shows the instance,
// adopts it.
func TestUnclearCreateLeftPending(t *testing.T) {
	demoCredentials(t)
	var mu sync.Mutex
	now := time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := emulator.New(emulator.Options{ListLag: 5 * time.Second, Now: clock})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/instances") {
			e.ServeHTTP(httptest.NewRecorder(), r)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, "{}")
			return
		}
		e.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ee := &engineEnv{t: t, emu: e, ceURL: srv.URL + emulator.CloudElementsPrefix, dir: t.TempDir()}
	m := ee.writeManifest(3, nil)
	report := filepath.Join(ee.dir, "report.json")
	code, out, errs := ee.hubprov("apply", "-f", m, "--report", report, "--max-lag-wait", "200ms")
	if code != exitFailures || !strings.Contains(out, "3 pending") || !strings.Contains(errs, "3 accounts pending") || !strings.Contains(errs, "hint: rerun the same command") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	if s := e.Stats(); s.Creates != 3 || s.Duplicates != 0 {
		t.Fatalf("emulator: %d creates, %d duplicates", s.Creates, s.Duplicates)
	}
	rep := readReport(t, report)
	if rep.Summary.Pending != 3 || rep.Summary.Failed != 0 {
		t.Fatalf("summary %+v", rep.Summary)
	}
	for _, a := range rep.Accounts {
		if a.Status != provision.Skipped || a.Reason != provision.ReasonPending || a.Error == nil || a.Error.Class != provision.Ambiguous {
			t.Fatalf("report entry %+v", a)
		}
	}
	st, err := provision.ReadJournal(report + ".journal")
	if err != nil {
		t.Fatal(err)
	}
	if rec, _ := st.Recovery(provision.JournalTarget{Set: "acme", Platform: "cloud-elements", BaseURL: ee.ceURL}, nil); len(rec.Pending) != 3 {
		t.Fatalf("the journal keeps %d intents open, want 3", len(rec.Pending))
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if code, _, errs := ee.hubprov("apply", "-f", m, "--report", report); code != exitOK {
		t.Fatalf("rerun: exit %d\n%s", code, errs)
	}
	if s := e.Stats(); s.Creates != 3 || s.Duplicates != 0 {
		t.Fatalf("after the rerun: %d creates, %d duplicates", s.Creates, s.Duplicates)
	}
	for _, a := range readReport(t, report).Accounts {
		if v, ok := e.Instance(a.InstanceID); !ok || v.Name != a.Name || a.Token != v.Token {
			t.Fatalf("rerun report entry %+v", a)
		}
	}
}
