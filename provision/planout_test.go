package provision_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
)

func TestMarkdownPlan(t *testing.T) {
	accts := accounts(400)
	accts[1].Auth.Code = manifest.Secret{} // waits for consent
	remote := []provision.Instance{{ID: "7", Name: accts[0].Name, Set: "acme", Element: accts[0].Element, Tags: []string{"old|tag"}},
		{ID: "9", Name: "gone", Set: "acme", Element: "hubspot"}}
	plan := provision.MakePlan("acme", manifest.CloudElements, accts, remote, provision.PlanOptions{Prune: true})
	var b strings.Builder
	if err := plan.WriteMarkdown(&b, "plan for acme"); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"### plan for acme\n",
		"| create | update | delete | duplicate | unchanged | awaiting-consent |\n|---:|---:|---:|---:|---:|---:|\n| 398 | 1 | 1 | 0 | 0 | 1 |\n",
		"| ✏️ | `portal-00000` | update | hubspotcrm | instance 7:<br>tags: [\"old\\|tag\"] → [\"migration-2026\"]<br>",
		"| ⏳ | `portal-00001` | create | hubspot | awaiting-consent: ",
		"… and 101 more changes",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%.1500s", want, md)
		}
	}
	if n := strings.Count(md, "\n| ➕ |") + strings.Count(md, "\n| ✏️ |") + strings.Count(md, "\n| ⏳ |") + strings.Count(md, "\n| 🗑️ |"); n != 300 {
		t.Errorf("%d change rows, want the first 300", n)
	}
}

// The text plan shows old -> new under each update, credentials without a
// value, and quotes values so nothing reaches the terminal raw.
func TestTextPlanShowsOldAndNew(t *testing.T) {
	accts := accounts(3)
	fp := func(a manifest.Account) string { return provision.Fingerprint("acme", a) }
	remote := []provision.Instance{
		{ID: "7", Name: accts[0].Name, Set: "acme", Element: accts[0].Element, Tags: []string{"migration-2026"},
			Configuration: map[string]string{"event.notification.enabled": "true"}, Fingerprint: fp(accts[0])},
		{ID: "8", Name: accts[1].Name, Set: "acme", Element: accts[1].Element, Tags: accts[1].Tags, Fingerprint: fp(accts[1])},
	}
	accts[0].Tags = []string{"migration-2026", "tier\x1b[31m-1"}
	accts[1].Auth.ClientSecret = manifest.LiteralSecret("rotated-app-secret")
	plan := provision.MakePlan("acme", manifest.CloudElements, accts, remote, provision.PlanOptions{})
	var b strings.Builder
	if err := plan.WriteText(&b, false); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"update     tags, configuration.event.notification.enabled (instance 7)\n" +
			`      tags: ["migration-2026"] -> ["migration-2026", "tier\x1b[31m-1"]` + "\n" +
			`      configuration.event.notification.enabled: "true" -> "false"` + "\n",
		"update     credentials (instance 8)\n      credentials: a secret changed (values never shown)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text plan lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "rotated-app-secret") || strings.Contains(out, "\x1b") {
		t.Errorf("text plan shows a secret or a raw escape:\n%s", out)
	}
}

func TestSavedPlanCompare(t *testing.T) {
	accts := accounts(3)
	remote := []provision.Instance{{ID: "7", Name: accts[0].Name, Set: "acme", Element: accts[0].Element, Tags: accts[0].Tags, Fingerprint: provision.Fingerprint("acme", accts[0])}}
	plan := provision.MakePlan("acme", manifest.CloudElements, accts, remote, provision.PlanOptions{})
	saved := plan.Save(provision.SavedPlan{})
	if moved := saved.Compare(plan); len(moved) != 0 {
		t.Fatalf("the same plan moved: %v", moved)
	}

	// An instance appeared for a planned create; one planned unchanged was edited by hand.
	remote[0].Tags = []string{"edited"}
	remote = append(remote, provision.Instance{ID: "8", Name: accts[2].Name, Set: "acme", Element: accts[2].Element})
	now := provision.MakePlan("acme", manifest.CloudElements, accts, remote, provision.PlanOptions{})
	moved := saved.Compare(now)
	if len(moved) != 2 || moved[0].Name != accts[0].Name || moved[1].Name != accts[2].Name {
		t.Fatalf("moved %v, want %s and %s", moved, accts[0].Name, accts[2].Name)
	}

	// Without the platform: an edited account and a dropped one are named.
	all := func(string) bool { return true }
	if got := saved.Respecified("acme", accts, all); len(got) != 0 {
		t.Fatalf("unchanged manifest: respecified %v", got)
	}
	edited := append([]manifest.Account(nil), accts[:2]...)
	edited[1].Tags = []string{"tier-1"}
	if got := saved.Respecified("acme", edited, all); fmt.Sprint(got) != fmt.Sprint([]string{accts[1].Name, accts[2].Name}) {
		t.Fatalf("respecified %v, want %s (edited) and %s (dropped)", got, accts[1].Name, accts[2].Name)
	}
}

// A saved plan keeps old -> new, reads back, and compares equal to a fresh
// plan of the same state; a value moved on the platform is a move.
func TestSavedPlanDiffRoundTrip(t *testing.T) {
	accts := accounts(2)
	remote := []provision.Instance{{ID: "7", Name: accts[0].Name, Set: "acme", Element: accts[0].Element, Tags: []string{"old"},
		Fingerprint: provision.Fingerprint("acme", accts[0])}}
	plan := provision.MakePlan("acme", manifest.CloudElements, accts, remote, provision.PlanOptions{})
	var buf strings.Builder
	if err := provision.WriteSaved(&buf, plan.Save(provision.SavedPlan{})); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"diff": [`) || !strings.Contains(buf.String(), `"old": [`) {
		t.Fatalf("saved plan without old -> new:\n%s", buf.String())
	}
	saved, err := provision.ReadSaved(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	if moved := saved.Compare(plan); len(moved) != 0 {
		t.Fatalf("read back, the same plan moved: %v", moved)
	}
	remote[0].Tags = []string{"older"}
	if moved := saved.Compare(provision.MakePlan("acme", manifest.CloudElements, accts, remote, provision.PlanOptions{})); len(moved) != 1 {
		t.Fatalf("tags edited on the platform: moved %v, want one", moved)
	}
}

// A rerun of an interrupted saved plan: the creates and updates it already
// made, and the deletes already gone, count as done.
func TestSavedPlanResume(t *testing.T) {
	accts := accounts(4)
	fp := func(a manifest.Account) string { return provision.Fingerprint("acme", a) }
	before := []provision.Instance{
		{ID: "7", Name: accts[0].Name, Set: "acme", Element: accts[0].Element, Tags: []string{"old"}, Fingerprint: "0123456789abcdef"},
		{ID: "9", Name: "gone", Set: "acme", Element: "hubspot"},
	}
	planned := provision.MakePlan("acme", manifest.CloudElements, accts, before, provision.PlanOptions{Prune: true})
	saved := planned.Save(provision.SavedPlan{})
	// The interrupted run updated 7, created accounts 1 and 2, deleted 9; account 3 was not reached.
	after := []provision.Instance{
		{ID: "7", Name: accts[0].Name, Set: "acme", Element: accts[0].Element, Tags: accts[0].Tags, Fingerprint: fp(accts[0])},
		{ID: "10", Name: accts[1].Name, Set: "acme", Element: accts[1].Element, Tags: accts[1].Tags, Fingerprint: fp(accts[1])},
		{ID: "11", Name: accts[2].Name, Set: "acme", Element: accts[2].Element, Tags: accts[2].Tags, Fingerprint: fp(accts[2])},
	}
	now := provision.MakePlan("acme", manifest.CloudElements, accts, after, provision.PlanOptions{Prune: true})
	if moved := saved.Compare(now); len(moved) != 0 {
		t.Fatalf("resume: moved %v, want none", moved)
	}
	if n := now.Counts(); n[provision.Create] != 1 || n[provision.Unchanged] != 3 {
		t.Fatalf("resume plan %v, want the one create left", n)
	}
	// An instance with another fingerprint is not the plan's doing.
	after[1].Fingerprint = "00000000-00000000"
	after[1].Tags = []string{"x"}
	if moved := saved.Compare(provision.MakePlan("acme", manifest.CloudElements, accts, after, provision.PlanOptions{Prune: true})); len(moved) != 1 || moved[0].Name != accts[1].Name {
		t.Fatalf("moved %v, want %s", moved, accts[1].Name)
	}
}
