package provision_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/emulator"
)

var target = provision.JournalTarget{Set: "acme", Platform: "cloud-elements", BaseURL: "http://127.0.0.1:1/elements/api-v2"}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestJournalRecordsNameTheirTarget: every record carries set, platform and
// base URL; an intent is in the file before Intent returns.
func TestJournalRecordsNameTheirTarget(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.journal")
	j, err := provision.CreateJournal(path, target)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Intent("portal-1"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	for _, want := range []string{`"type":"intent"`, `"set":"acme"`, `"platform":"cloud-elements"`, `"baseURL":"http://127.0.0.1:1/elements/api-v2"`, `"name":"portal-1"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("intent record %s lacks %s", b, want)
		}
	}
	_ = j.Outcome(provision.Result{Name: "portal-1", Action: provision.Create, Status: provision.Succeeded, InstanceID: "58772"})
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := provision.ReadJournal(path)
	if err != nil || len(st.Records) != 2 || st.TornTail || len(st.Corrupt) > 0 {
		t.Fatalf("read back: %+v, %v", st, err)
	}
	rec, err := st.Recovery(target, nil)
	if err != nil || len(rec.Pending) != 0 || rec.Known["portal-1"] != "58772" {
		t.Fatalf("recovery %+v, %v", rec, err)
	}
}

// TestJournalTornAndCorruptLines: a torn last line is ignored; a corrupt line
// in the middle makes the accounts it names pending, or every account when it
// names none.
func TestJournalTornAndCorruptLines(t *testing.T) {
	dir := t.TempDir()
	intent := `{"time":"2026-12-01T21:00:00Z","type":"intent","set":"acme","platform":"cloud-elements","baseURL":"` + target.BaseURL + `","name":"%s","action":"create"}` + "\n"
	line := func(name string) string { return strings.Replace(intent, "%s", name, 1) }
	path := filepath.Join(dir, "torn.journal")
	writeFile(t, path, line("a")+line("b")[:40])
	st, err := provision.ReadJournal(path)
	if err != nil || !st.TornTail || len(st.Records) != 1 || len(st.Corrupt) != 0 {
		t.Fatalf("torn tail: %+v, %v", st, err)
	}
	if rec, _ := st.Recovery(target, []string{"a", "b", "c"}); !slices.Equal(rec.Pending, []string{"a"}) {
		t.Fatalf("torn tail pending %v", rec.Pending)
	}

	path = filepath.Join(dir, "middle.journal")
	writeFile(t, path, line("a")+line("b")[:len(line("b"))-20]+"\x00\x00garbage\n"+line("c"))
	st, err = provision.ReadJournal(path)
	if err != nil || st.TornTail || !slices.Equal(st.Corrupt, []int{2}) || !slices.Equal(st.CorruptNames, []string{"b"}) || st.CorruptUnknown {
		t.Fatalf("corrupt middle: %+v, %v", st, err)
	}
	if rec, _ := st.Recovery(target, []string{"a", "b", "c", "d"}); !slices.Equal(rec.Pending, []string{"a", "c", "b"}) {
		t.Fatalf("corrupt middle pending %v", rec.Pending)
	}

	path = filepath.Join(dir, "unknown.journal")
	writeFile(t, path, line("a")+"{\"time\":\"2026-12-01T2\x00\x00\n"+line("c"))
	st, _ = provision.ReadJournal(path)
	if rec, _ := st.Recovery(target, []string{"a", "b", "c", "d"}); !st.CorruptUnknown || !slices.Equal(rec.Pending, []string{"a", "c", "b", "d"}) {
		t.Fatalf("a corrupt line naming no account: %+v pending %v", st, rec.Pending)
	}
}

// TestJournalRefusesToDropAnotherSetsIntents: unresolved creates of another
// set, platform or base URL are a *ForeignIntentsError; resolved ones are not.
func TestJournalRefusesToDropAnotherSetsIntents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.journal")
	other := target
	other.Set = "globex"
	j, _ := provision.CreateJournal(path, other)
	_ = j.Intent("g-1")
	_ = j.Intent("g-2")
	_ = j.Outcome(provision.Result{Name: "g-2", Action: provision.Create, Status: provision.Succeeded, InstanceID: "9"})
	j.Close()
	st, _ := provision.ReadJournal(path)
	_, err := st.Recovery(target, nil)
	var fe *provision.ForeignIntentsError
	if !errors.As(err, &fe) || fe.Target != other || !slices.Equal(fe.Names, []string{"g-1"}) {
		t.Fatalf("recovery for another set: %v", err)
	}
	if !strings.Contains(err.Error(), `1 unresolved creates of set "globex" on cloud-elements`) {
		t.Fatalf("message %q", err)
	}
	rec, err := st.Recovery(other, nil)
	if err != nil || !slices.Equal(rec.Pending, []string{"g-1"}) || rec.Known["g-2"] != "9" {
		t.Fatalf("recovery for its own set: %+v, %v", rec, err)
	}
}

// journaled is a Platform that checks, at each create, that the journal on
// disk already holds the create's intent.
type journaled struct {
	provision.Platform
	t    *testing.T
	path string
}

func (p journaled) Create(ctx context.Context, d provision.Desired) (provision.Instance, error) {
	b, err := os.ReadFile(p.path)
	if err != nil || !strings.Contains(string(b), `"type":"intent","set":"acme","platform":"cloud-elements"`) || !strings.Contains(string(b), `"name":"`+d.Account.Name+`"`) {
		p.t.Errorf("create of %s sent before its intent was written (%v)", d.Account.Name, err)
	}
	return p.Platform.Create(ctx, d)
}

// TestDiskFullStopsCreatesAndTheRerunFinishes: when the journal cannot be
// written, no create goes out without a durable intent, the run aborts as
// journal-unwritable, and a rerun with room finishes every account once.
func TestDiskFullStopsCreatesAndTheRerunFinishes(t *testing.T) {
	const n, k, parallelism = 120, 40, 8
	b := newBench(t, emulator.Options{}, "demo-user")
	path := filepath.Join(t.TempDir(), "report.json.journal")
	accts := accounts(n)
	j, err := provision.CreateJournal(path, target)
	if err != nil {
		t.Fatal(err)
	}
	provision.JournalFailAfter(j, k)
	plan := provision.MakePlan("acme", manifest.CloudElements, accts, nil, provision.PlanOptions{})
	out := provision.NewRun(journaled{b.pf, t, path}, provision.Options{Parallelism: parallelism, Journal: j, Log: zerolog.Nop()}).Apply(context.Background(), plan)
	j.Close()
	if out.AbortClass != provision.ClassJournal || !strings.Contains(out.Aborted, "no space left on device") {
		t.Fatalf("aborted %q (%s), want journal-unwritable", out.Aborted, out.AbortClass)
	}
	st, err := provision.ReadJournal(path)
	if err != nil || !st.TornTail {
		t.Fatalf("journal after the full disk: torn %v, %v", st.TornTail, err)
	}
	durable := 0
	for _, r := range st.Records {
		if r.Type == "intent" {
			durable++
		}
	}
	created := b.emu.Stats().Creates
	if created > durable || created == 0 || created >= n {
		t.Fatalf("%d creates sent, %d durable intents", created, durable)
	}
	succeeded := 0
	for _, r := range out.Results {
		switch {
		case r.Status == provision.Succeeded:
			succeeded++
		case r.Status == provision.Failed && r.Error.Class != provision.Canceled:
			t.Fatalf("%s failed: %+v", r.Name, r.Error)
		}
	}
	if succeeded != created {
		t.Fatalf("%d accounts succeeded, %d created", succeeded, created)
	}

	// Space returns: the rerun settles the journal, then creates the rest.
	rec, err := st.Recovery(target, nil)
	if err != nil {
		t.Fatal(err)
	}
	rerun := provision.NewRun(b.pf, provision.Options{Parallelism: parallelism, Log: zerolog.Nop()})
	remote, _, err := rerun.ReadRemote(context.Background(), "acme", rec)
	if err != nil {
		t.Fatal(err)
	}
	j, _ = provision.CreateJournal(path, target)
	plan = provision.MakePlan("acme", manifest.CloudElements, accts, remote, provision.PlanOptions{})
	rerun.Attach(j, nil)
	out = rerun.Apply(context.Background(), plan)
	if err := j.Close(); err != nil || out.Aborted != "" {
		t.Fatalf("rerun: %v, aborted %q", err, out.Aborted)
	}
	if s := b.emu.Stats(); s.Creates != n || s.Duplicates != 0 || s.CEInstances != n {
		t.Fatalf("emulator: %d creates, %d duplicates, %d instances", s.Creates, s.Duplicates, s.CEInstances)
	}
	rep := provision.NewReport(provision.RunInfo{}, out)
	for _, a := range rep.Accounts {
		if a.Status != provision.Succeeded || a.InstanceID == "" || a.Token == "" {
			t.Fatalf("%s: %s, id %q, token set %v", a.Name, a.Status, a.InstanceID, a.Token != "")
		}
	}
}
