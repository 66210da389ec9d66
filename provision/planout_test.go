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
		"| create | update | delete | unchanged | awaiting-consent |\n|---:|---:|---:|---:|---:|\n| 398 | 1 | 1 | 0 | 1 |\n",
		"| ✏️ | `portal-00000` | update | hubspotcrm | changes tags",
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
