package provision_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hubprov/hubprov/provision"
)

func shardReport(start, finish time.Time, requests int, manifests []provision.ManifestFile, accts ...provision.AccountReport) provision.Report {
	run := provision.RunInfo{Command: "apply", StartedAt: start, FinishedAt: finish, HubprovVersion: "1.2.0",
		Platform: "open-connectors", BaseURL: "https://oc.example/elements/api-v2", Set: "acme",
		Manifests: manifests, Requests: requests, Throttled: requests / 10, Retries: requests / 5}
	rep := provision.Report{Version: 1, Run: run, Accounts: accts}
	return rep
}

func TestMergeReports(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	m1 := provision.ManifestFile{Path: "m/a.yaml", SHA256: "aa"}
	m2 := provision.ManifestFile{Path: "m/b.yaml", SHA256: "bb"}
	a := shardReport(t0.Add(2*time.Second), t0.Add(50*time.Second), 10, []provision.ManifestFile{m1, m2},
		provision.AccountReport{Name: "zeta", Element: "hubspot", Action: provision.Create, Status: provision.Succeeded, InstanceID: "9", Token: "tok-zeta", Attempts: 1},
		provision.AccountReport{Name: "alpha", Element: "hubspotcrm", Action: provision.Update, Status: provision.Failed, Attempts: 5,
			Error: &provision.ResultError{Class: provision.Transient, HTTPStatus: 503, Message: "unavailable"}},
	)
	b := shardReport(t0, t0.Add(40*time.Second), 20, []provision.ManifestFile{m1, m2},
		provision.AccountReport{Name: "mid", Element: "hubspot", Action: provision.Create, Status: provision.Skipped, Reason: provision.ReasonAwaitingConsent},
		provision.AccountReport{Name: "old", Element: "hubspot", Action: provision.Delete, Status: provision.Succeeded, InstanceID: "3", Attempts: 1},
	)
	b.Run.Aborted = "interrupted"
	c := shardReport(t0.Add(time.Second), t0.Add(70*time.Second), 30, []provision.ManifestFile{m1, m2},
		provision.AccountReport{Name: "beta", Element: "hubspotcrm", Action: provision.Unchanged, Status: provision.Succeeded, InstanceID: "4", Token: "tok-beta"},
	)
	c.Run.HubprovVersion = "1.3.0"

	got, err := provision.MergeReports(a, b, c)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, acc := range got.Accounts {
		names = append(names, acc.Name)
	}
	if want := []string{"alpha", "beta", "mid", "old", "zeta"}; !reflect.DeepEqual(names, want) {
		t.Errorf("accounts %v, want sorted by name %v", names, want)
	}
	wantSum := provision.Summary{Total: 5, Created: 1, Unchanged: 1, Deleted: 1, Failed: 1, Skipped: 1, AwaitingConsent: 1}
	if got.Summary != wantSum {
		t.Errorf("summary %+v, want %+v", got.Summary, wantSum)
	}
	r := got.Run
	if !r.StartedAt.Equal(t0) || !r.FinishedAt.Equal(t0.Add(70*time.Second)) {
		t.Errorf("run %v .. %v, want the earliest start and the latest finish", r.StartedAt, r.FinishedAt)
	}
	if r.Requests != 60 || r.Throttled != 6 || r.Retries != 12 {
		t.Errorf("requests %d, throttled %d, retries %d: want sums 60, 6, 12", r.Requests, r.Throttled, r.Retries)
	}
	if !reflect.DeepEqual(r.Manifests, []provision.ManifestFile{m1, m2}) {
		t.Errorf("manifests %v, want each once", r.Manifests)
	}
	if r.Command != "apply" || r.Set != "acme" || r.Platform != "open-connectors" || r.BaseURL != a.Run.BaseURL || got.Version != 1 {
		t.Errorf("run %+v", r)
	}
	if r.HubprovVersion != "1.2.0, 1.3.0" || r.Aborted != "interrupted" {
		t.Errorf("version %q, aborted %q", r.HubprovVersion, r.Aborted)
	}
	if got.Accounts[4].Token != "tok-zeta" || got.Accounts[0].Error == nil || got.Accounts[0].Error.HTTPStatus != 503 {
		t.Errorf("account fields lost: %+v %+v", got.Accounts[4], got.Accounts[0])
	}

	// Merging one report gives it back, sorted.
	one, err := provision.MergeReports(b)
	if err != nil || one.Summary.Total != 2 || one.Accounts[0].Name != "mid" || one.Run.Requests != 20 {
		t.Errorf("merge of one: %+v %v", one, err)
	}
	// The merged report round-trips through its JSON.
	var buf bytes.Buffer
	if err := got.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back provision.Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || !reflect.DeepEqual(back, got) {
		t.Errorf("round trip: %v\n%+v\n%+v", err, back, got)
	}
}

func TestMergeReportsRefuses(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	acct := func(name string) provision.AccountReport {
		return provision.AccountReport{Name: name, Action: provision.Create, Status: provision.Succeeded}
	}
	base := func(names ...string) provision.Report {
		var accts []provision.AccountReport
		for _, n := range names {
			accts = append(accts, acct(n))
		}
		return shardReport(t0, t0, 1, nil, accts...)
	}
	for _, tc := range []struct {
		name string
		reps func() []provision.Report
		want string
	}{
		{"none", func() []provision.Report { return nil }, "no report"},
		{"set", func() []provision.Report {
			b := base("b")
			b.Run.Set = "other"
			return []provision.Report{base("a"), b}
		}, `reports 1 and 2 are of different runs: set "acme" and "other"`},
		{"platform", func() []provision.Report {
			c := base("c")
			c.Run.Platform = "cloud-elements"
			return []provision.Report{base("a"), base("b"), c}
		}, `reports 1 and 3 are of different runs: platform "open-connectors" and "cloud-elements"`},
		{"command", func() []provision.Report {
			b := base("b")
			b.Run.Command = "destroy"
			return []provision.Report{base("a"), b}
		}, `command "apply" and "destroy"`},
		{"base URL", func() []provision.Report {
			b := base("b")
			b.Run.BaseURL = "https://other.example"
			return []provision.Report{base("a"), b}
		}, "base URL"},
		{"version", func() []provision.Report {
			b := base("b")
			b.Version = 2
			return []provision.Report{base("a"), b}
		}, "report 2: version 2"},
		{"duplicates", func() []provision.Report {
			return []provision.Report{base("a", "x", "y"), base("b"), base("y", "x")}
		}, "2 accounts appear more than once: x (reports 1 and 3), y (reports 1 and 3)"},
		{"duplicate within one", func() []provision.Report {
			return []provision.Report{base("a", "a")}
		}, "1 account appears more than once: a (twice in report 1)"},
	} {
		_, err := provision.MergeReports(tc.reps()...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}
