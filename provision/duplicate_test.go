package provision_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/emulator"
)

// TestDuplicateKeepsTheOldest: the oldest instance is kept, by creation time
// first (whatever the ids say), then by the lowest id (numerically).
func TestDuplicateKeepsTheOldest(t *testing.T) {
	accts := accounts(2)
	t0 := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
	fp := provision.Fingerprint("acme", accts[0])
	inst := func(id, name string, created time.Time) provision.Instance {
		return provision.Instance{ID: id, Name: name, Set: "acme", Fingerprint: fp, Created: created, Element: accts[0].Element, Tags: accts[0].Tags,
			Configuration: map[string]string{"event.notification.enabled": "false"}}
	}
	remote := []provision.Instance{
		inst("100", accts[0].Name, t0.Add(time.Second)),
		inst("900", accts[0].Name, t0), // older, though its id is higher
		inst("99", accts[1].Name, t0),
		inst("1000", accts[1].Name, t0),       // a tie on time: the lowest id, as a number
		inst("5", accts[1].Name, time.Time{}), // unknown creation: after the known ones
	}
	p := provision.MakePlan("acme", manifest.CloudElements, accts, remote, provision.PlanOptions{Prune: true})
	if len(p.Changes) != 2 {
		t.Fatalf("changes %+v: extras must not be pruned as deletes", p.Changes)
	}
	c := p.Changes[0]
	if c.Action != provision.Duplicate || c.Remote.ID != "900" || len(c.Extras) != 1 || c.Extras[0].ID != "100" {
		t.Fatalf("first account: %s keeps %s, extras %v", c.Action, c.Remote.ID, c.Extras)
	}
	c = p.Changes[1]
	var extras []string
	for _, x := range c.Extras {
		extras = append(extras, x.ID)
	}
	if c.Remote.ID != "99" || !slices.Equal(extras, []string{"1000", "5"}) {
		t.Fatalf("second account keeps %s, extras %v", c.Remote.ID, extras)
	}
	if !p.HasChanges() || p.Deletions() != 3 || p.Summary().Duplicate != 2 {
		t.Fatalf("has changes %v, deletions %d, summary %+v", p.HasChanges(), p.Deletions(), p.Summary())
	}
	var text strings.Builder
	_ = p.WriteText(&text, false)
	if !strings.Contains(text.String(), "duplicate  2 live instances: keeps 900 (the oldest), deletes 100") ||
		!strings.Contains(text.String(), "2 duplicate (3 extra instances to delete)") {
		t.Fatalf("text plan:\n%s", text.String())
	}
	sp := p.Save(provision.SavedPlan{})
	if !slices.Equal(sp.Changes[1].Duplicates, []string{"1000", "5"}) || sp.Changes[1].Remote.InstanceID != "99" || sp.Changes[1].Action != provision.Duplicate {
		t.Fatalf("saved change %+v", sp.Changes[1])
	}
}

// TestConcurrentRunsConverge: two runs that planned the same creates against
// an empty set both create everything; the end-of-run listing of each
// resolves the duplicates to the oldest instance, and both map every account
// to it. The second run's oauth2 creates are refused (their codes were used
// by the first): the listing shows them created as planned, so they succeed.
func TestConcurrentRunsConverge(t *testing.T) {
	const n = 60
	b := newBench(t, emulator.Options{}, "demo-user")
	accts := accounts(n)
	plan := provision.MakePlan("acme", manifest.CloudElements, accts, nil, provision.PlanOptions{})
	first := provision.NewRun(b.pf, provision.Options{Log: zerolog.Nop()}).Apply(context.Background(), plan)
	second := provision.NewRun(b.pf, provision.Options{Log: zerolog.Nop()}).Apply(context.Background(), plan)
	s := b.emu.Stats()
	if s.Creates != n+2*n/3 || s.CEInstances != n {
		t.Fatalf("emulator: %d creates, %d live instances; want %d, %d", s.Creates, s.CEInstances, n+2*n/3, n)
	}
	deleted := 0
	for i := range n {
		a, z := first.Results[i], second.Results[i]
		deleted += a.DuplicatesDeleted + z.DuplicatesDeleted
		if a.InstanceID != z.InstanceID || a.Status != provision.Succeeded || z.Status != provision.Succeeded {
			t.Fatalf("%s: first run maps %s, second %s", a.Name, a.InstanceID, z.InstanceID)
		}
		if v, ok := b.emu.Instance(a.InstanceID); !ok || v.Token != z.Token.Reveal() {
			t.Fatalf("%s: instance %s live %v, token matches %v", a.Name, a.InstanceID, ok, v.Token == z.Token.Reveal())
		}
	}
	if deleted != s.Creates-n {
		t.Fatalf("%d duplicates deleted, want %d", deleted, s.Creates-n)
	}

	// The end-of-run deletions count against MaxDeletes.
	limit := 0
	third := provision.NewRun(b.pf, provision.Options{Log: zerolog.Nop(), MaxDeletes: &limit}).Apply(context.Background(), plan)
	if s := b.emu.Stats(); s.CEInstances != n+2*n/3 || third.Results[0].DuplicatesDeleted != 0 {
		t.Fatalf("with MaxDeletes 0: %d live instances, want %d", s.CEInstances, n+2*n/3)
	}
}
