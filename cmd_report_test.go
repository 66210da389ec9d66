package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hubprov/hubprov/internal/safefile"
	"github.com/hubprov/hubprov/provision"
)

// writeShardReport writes a report of set acme holding the named accounts
// (created, each with a token) and returns its path.
func writeShardReport(t *testing.T, dir, file, set string, start time.Time, names ...string) string {
	t.Helper()
	rep := provision.Report{Version: 1, Run: provision.RunInfo{
		Command: "apply", StartedAt: start, FinishedAt: start.Add(time.Minute), HubprovVersion: "dev",
		Platform: "cloud-elements", BaseURL: "https://api.cloud-elements.com/elements/api-v2", Set: set,
		Manifests: []provision.ManifestFile{{Path: "m.yaml", SHA256: "abc"}}, Requests: 10, Throttled: 1, Retries: 2,
	}}
	for _, n := range names {
		rep.Accounts = append(rep.Accounts, provision.AccountReport{Name: n, Element: "hubspotcrm", Action: provision.Create,
			Status: provision.Succeeded, InstanceID: "id-" + n, Token: "token-" + n, Attempts: 1})
	}
	path := filepath.Join(dir, file)
	if err := safefile.WriteAtomic(path, rep.WriteJSON); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReportMerge(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	a := writeShardReport(t, dir, "shard-0.json", "acme", t0.Add(time.Second), "delta", "alpha")
	b := writeShardReport(t, dir, "shard-1.json", "acme", t0, "charlie", "bravo")

	code, out, errs := runCLI(t, "report", "merge", a, b)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	var rep provision.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not a report: %v\n%s", err, out)
	}
	var names []string
	for _, acc := range rep.Accounts {
		names = append(names, acc.Name)
		if acc.Token != "token-"+acc.Name {
			t.Errorf("%s: token %q not kept", acc.Name, acc.Token)
		}
	}
	if strings.Join(names, " ") != "alpha bravo charlie delta" || rep.Summary.Total != 4 || rep.Summary.Created != 4 ||
		rep.Run.Requests != 20 || !rep.Run.StartedAt.Equal(t0) || len(rep.Run.Manifests) != 1 {
		t.Errorf("merged: accounts %v, summary %+v, run %+v", names, rep.Summary, rep.Run)
	}
	if !strings.Contains(errs, "merged 2 reports: 4 accounts: 4 created") {
		t.Errorf("stderr %q", errs)
	}

	// --out (flags may follow the reports): a file with mode 0600, nothing on stdout.
	all := filepath.Join(dir, "all.json")
	code, out2, errs := runCLI(t, "report", "merge", a, b, "--out", all)
	if code != exitOK || out2 != "" {
		t.Fatalf("--out: exit %d, stdout %q\n%s", code, out2, errs)
	}
	st, err := os.Stat(all)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("--out file: %v %v, want mode 0600", st, err)
	}
	if b, _ := os.ReadFile(all); string(b) != out {
		t.Errorf("--out file differs from stdout")
	}
}

func TestReportMergeRefuses(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	a := writeShardReport(t, dir, "a.json", "acme", t0, "alpha", "bravo")
	dup := writeShardReport(t, dir, "dup.json", "acme", t0, "bravo", "charlie")
	other := writeShardReport(t, dir, "other.json", "globex", t0, "delta")
	notReport := filepath.Join(dir, "plan.json")
	garbage := filepath.Join(dir, "garbage.json")
	if err := os.WriteFile(notReport, []byte(`{"set": "acme", "changes": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(garbage, []byte(`{"version": 1, "accounts": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{a, dup}, []string{"1 account appears more than once: bravo (reports 1 and 2)", "nothing was written",
			"hint: the reports in the order given: 1 " + a + ", 2 " + dup}},
		{[]string{a, other}, []string{`reports 1 and 2 are of different runs: set "acme" and "globex"`}},
		{[]string{a, a}, []string{"2 accounts appear more than once: alpha (reports 1 and 2), bravo (reports 1 and 2)"}},
		{[]string{a, notReport}, []string{"plan.json: not a hubprov report (version 0, want 1)"}},
		{[]string{garbage}, []string{"garbage.json: not a hubprov report"}},
		{[]string{filepath.Join(dir, "missing.json")}, []string{"missing.json", "no such file"}},
		{nil, []string{"no report given"}},
	} {
		code, out, errs := runCLI(t, append([]string{"report", "merge"}, tc.args...)...)
		if code != exitInvalid || out != "" {
			t.Errorf("%v: exit %d, stdout %q; want 3 and nothing", tc.args, code, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(errs, w) {
				t.Errorf("%v: stderr %q, want %q", tc.args, errs, w)
			}
		}
	}
}

func TestReportUsage(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"report"}, exitInvalid, "", "Subcommands:"},
		{[]string{"report", "--help"}, exitOK, "merge    merge the reports of the shards", ""},
		{[]string{"help", "report"}, exitOK, "hubprov report <subcommand>", ""},
		{[]string{"report", "frob"}, exitInvalid, "", `unknown subcommand "frob"`},
		{[]string{"report", "merge", "--help"}, exitOK, "-out PATH", ""},
	} {
		code, out, errs := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errs, tc.stderr) {
			t.Errorf("%v: exit %d\nstdout %q\nstderr %q", tc.args, code, out, errs)
		}
	}
}
