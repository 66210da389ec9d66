package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/emulator"
)

// engineEnv is one emulator on loopback and a directory holding a manifest
// that targets it.
type engineEnv struct {
	t     *testing.T
	emu   *emulator.Emulator
	ceURL string // the Cloud Elements API of emu
	dir   string
}

func newEngineEnv(t *testing.T, opts emulator.Options) *engineEnv {
	t.Helper()
	e, ceURL := startEmulatorServer(t, opts)
	return &engineEnv{t: t, emu: e, ceURL: ceURL, dir: t.TempDir()}
}

// secretsOf is every secret value engineManifest plants for account i.
func secretsOf(i int) []string {
	return []string{
		fmt.Sprintf("PLANTED-apikey-%04d-x9", i), fmt.Sprintf("PLANTED-clientsecret-%04d-x9", i),
		fmt.Sprintf("PLANTED-code-%04d-x9", i), fmt.Sprintf("PLANTED-access-%04d-x9", i),
		fmt.Sprintf("PLANTED-refresh-%04d-x9", i),
	}
}

// writeManifest writes manifest.yaml with n accounts cycling through both
// elements and the three auth types; the platform credentials come from
// HUBPROV_TEST_USER and HUBPROV_TEST_ORG. edit may change account i's YAML.
func (ee *engineEnv) writeManifest(n int, edit func(i int, yaml string) string) string {
	ee.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\nset: acme\ntarget:\n  platform: cloud-elements\n  baseURL: %s\n", ee.ceURL)
	b.WriteString("  credentials:\n    user: {env: HUBPROV_TEST_USER}\n    organization: {env: HUBPROV_TEST_ORG}\naccounts:\n")
	for i := range n {
		s := secretsOf(i)
		var a string
		element := []string{"hubspotcrm", "hubspot"}[i%2]
		switch i % 3 {
		case 0:
			a = fmt.Sprintf("  - name: portal-%04d\n    element: %s\n    auth: {type: apiKey, apiKey: %s}\n", i, element, s[0])
		case 1:
			a = fmt.Sprintf("  - name: portal-%04d\n    element: %s\n    auth: {type: oauth2, clientId: app-1, clientSecret: %s, callbackURL: https://app.example.com/cb, scopes: [oauth], code: %s}\n", i, element, s[1], s[2])
		default:
			a = fmt.Sprintf("  - name: portal-%04d\n    element: %s\n    auth: {type: oauth2Tokens, clientId: app-1, clientSecret: %s, callbackURL: https://app.example.com/cb, accessToken: %s, refreshToken: %s, expiresIn: 1800}\n", i, element, s[1], s[3], s[4])
		}
		if edit != nil {
			a = edit(i, a)
		}
		b.WriteString(a)
	}
	path := filepath.Join(ee.dir, "manifest.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		ee.t.Fatal(err)
	}
	return path
}

// hubprov runs one command in-process and returns its exit code, stdout and stderr.
func (ee *engineEnv) hubprov(args ...string) (int, string, string) {
	ee.t.Helper()
	return runCLI(ee.t, args...)
}

func readReport(t *testing.T, path string) provision.Report {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep provision.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rep
}

func demoCredentials(t *testing.T) {
	t.Setenv("HUBPROV_TEST_USER", "demo-user")
	t.Setenv("HUBPROV_TEST_ORG", "demo-org")
}

func TestRejectedCredentialsExit4WithHint(t *testing.T) {
	t.Setenv("HUBPROV_TEST_USER", "not-the-user")
	t.Setenv("HUBPROV_TEST_ORG", "demo-org")
	ee := newEngineEnv(t, emulator.Options{})
	m := ee.writeManifest(50, nil)
	for _, cmd := range [][]string{
		{"plan", "-f", m},
		{"apply", "-f", m, "--report", filepath.Join(ee.dir, "r.json"), "--parallelism", "4"},
	} {
		code, _, errs := ee.hubprov(cmd...)
		if code != exitAborted || !strings.Contains(errs, "HUBPROV_TEST_USER") || !strings.Contains(errs, "HUBPROV_TEST_ORG") {
			t.Errorf("%s: exit %d, want 4 with a hint naming both variables:\n%s", cmd[0], code, errs)
		}
	}
	// The list the plan starts with is rejected: nothing more is sent.
	if s := ee.emu.Stats(); s.Requests > 2 || s.Creates != 0 {
		t.Fatalf("%d requests, %d creates after the credentials were rejected", s.Requests, s.Creates)
	}
}

func TestHTTPToNonLoopbackRefused(t *testing.T) {
	demoCredentials(t)
	ee := newEngineEnv(t, emulator.Options{})
	m := ee.writeManifest(2, nil)
	data, _ := os.ReadFile(m)
	data = []byte(strings.Replace(string(data), ee.ceURL, "http://api.example.com/elements/api-v2", 1))
	if err := os.WriteFile(m, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]string{{"plan"}, {"apply", "--report", filepath.Join(ee.dir, "r.json")}, {"destroy", "--report", filepath.Join(ee.dir, "r.json")}} {
		code, _, errs := ee.hubprov(append(cmd, "-f", m)...)
		if code != exitInvalid || !strings.Contains(errs, "http://") {
			t.Errorf("%s: exit %d, want 3 refusing http://:\n%s", cmd, code, errs)
		}
	}
}

func TestVerifyReportsInvalidInstanceUnhealthy(t *testing.T) {
	demoCredentials(t)
	ee := newEngineEnv(t, emulator.Options{})
	// The emulator marks an instance made from a code starting "invalid" as not valid.
	m := ee.writeManifest(3, func(i int, a string) string {
		return strings.Replace(a, fmt.Sprintf("code: PLANTED-code-%04d-x9", i), "code: invalid-code", 1)
	})
	report := filepath.Join(ee.dir, "report.json")
	code, out, errs := ee.hubprov("apply", "-f", m, "--verify", "--report", report)
	if code != exitFailures || !strings.Contains(out, "1 unhealthy") {
		t.Fatalf("exit %d, want 1 with one unhealthy account:\n%s\n%s", code, out, errs)
	}
	for _, a := range readReport(t, report).Accounts {
		want := provision.Succeeded
		if a.Name == "portal-0001" {
			want = provision.Unhealthy
		}
		if a.Status != want || a.InstanceID == "" {
			t.Errorf("%s: %s, instance %q; want %s", a.Name, a.Status, a.InstanceID, want)
		}
	}
}

func TestSavedPlanAppliesExactlyOrRefuses(t *testing.T) {
	demoCredentials(t)
	ee := newEngineEnv(t, emulator.Options{})
	m := ee.writeManifest(6, nil)
	report := filepath.Join(ee.dir, "report.json")
	if code, _, errs := ee.hubprov("apply", "-f", m, "--report", report, "--select", "portal-000[0-3]"); code != exitOK {
		t.Fatalf("first apply: %d %s", code, errs)
	}
	plan := filepath.Join(ee.dir, "plan.json")
	planAgain := func() {
		t.Helper()
		if code, _, errs := ee.hubprov("plan", "-f", m, "--out", plan); code != exitOK {
			t.Fatalf("plan: %d %s", code, errs)
		}
	}

	// A saved plan applies exactly: 2 creates, 4 unchanged.
	planAgain()
	code, out, errs := ee.hubprov("apply", plan, "--report", report)
	if code != exitOK || !strings.Contains(out, "Done: 2 created, 0 updated, 0 deleted, 4 unchanged") {
		t.Fatalf("apply plan: exit %d\n%s\n%s", code, out, errs)
	}

	// An instance changed on the platform after planning: refused, naming it, nothing sent.
	planAgain()
	rep := readReport(t, report)
	id := rep.Accounts[2].InstanceID
	req, _ := http.NewRequest("PATCH", ee.ceURL+"/instances/"+id, strings.NewReader(`{"tags":["hubprov:set=acme","edited-by-hand"]}`))
	req.Header.Set("Authorization", "User demo-user, Organization demo-org")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("edit instance %s by hand: %v %v", id, err, resp)
	}
	resp.Body.Close()
	before := ee.emu.Stats()
	code, _, errs = ee.hubprov("apply", plan, "--report", report)
	if code != exitInvalid || !strings.Contains(errs, "portal-0002: ") || strings.Contains(errs, "portal-0003") {
		t.Fatalf("apply a plan whose instance moved: exit %d, want 3 naming portal-0002 only:\n%s", code, errs)
	}
	if after := ee.emu.Stats(); after.ByOp[emulator.OpList] == before.ByOp[emulator.OpList] || after.Requests-before.Requests != after.ByOp[emulator.OpList]-before.ByOp[emulator.OpList] {
		t.Fatalf("a refused plan sent more than the list: %v -> %v", before.ByOp, after.ByOp)
	}

	// A manifest file changed after planning: refused before any request, naming the account.
	planAgain()
	data, _ := os.ReadFile(m)
	if err := os.WriteFile(m, []byte(strings.Replace(string(data), "PLANTED-apikey-0003-x9", "a-new-api-key", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	before = ee.emu.Stats()
	code, _, errs = ee.hubprov("apply", plan, "--report", report)
	if code != exitInvalid || !strings.Contains(errs, "changed since the plan") || !strings.Contains(errs, "account portal-0003") {
		t.Fatalf("apply a plan whose manifest moved: exit %d, want 3 naming portal-0003:\n%s", code, errs)
	}
	if after := ee.emu.Stats(); after.Requests != before.Requests {
		t.Fatalf("%d requests sent for a refused plan", after.Requests-before.Requests)
	}

	// A saved plan is given alone.
	if code, _, _ := ee.hubprov("apply", plan, "-f", m); code != exitInvalid {
		t.Fatalf("apply PLAN -f: exit %d, want 3", code)
	}
}

// TestSecretsNeverLeak plants distinct secrets in the manifest and the
// credentials, lets the emulator issue instance tokens, and runs every command
// (with failures): no secret appears in any output, log, plan, JUnit or
// journal, and the tokens appear in the report only.
func TestSecretsNeverLeak(t *testing.T) {
	t.Setenv("HUBPROV_TEST_USER", "PLANTED-platform-user-x9")
	t.Setenv("HUBPROV_TEST_ORG", "PLANTED-platform-org-x9")
	const n = 30
	ee := newEngineEnv(t, emulator.Options{User: "PLANTED-platform-user-x9", Organization: "PLANTED-platform-org-x9", Seed: 5,
		OpFaults: map[emulator.Op]emulator.Faults{emulator.OpCreate: {Rate500: 0.3}, emulator.OpDelete: {Rate500: 0.3}}})
	m := ee.writeManifest(n, nil)
	planted := []string{"PLANTED-platform-user-x9", "PLANTED-platform-org-x9"}
	for i := range n {
		planted = append(planted, secretsOf(i)...)
	}
	report := filepath.Join(ee.dir, "report.json")
	junit := filepath.Join(ee.dir, "junit.xml")
	var outputs []string
	runAll := func(args ...string) {
		code, out, errs := ee.hubprov(args...)
		if code == exitInvalid || code == exitAborted {
			t.Fatalf("%v: exit %d\n%s", args, code, errs)
		}
		outputs = append(outputs, strings.Join(args, " ")+"\n"+out+errs)
	}
	for _, format := range []string{"text", "json", "github"} {
		runAll("validate", "-f", m, "--format", format, "--resolve-secrets")
	}
	for _, format := range []string{"text", "json", "markdown"} {
		runAll("plan", "-f", m, "--format", format, "--out", filepath.Join(ee.dir, "plan-"+format+".json"), "--log-level", "debug")
	}
	runAll("apply", "-f", m, "--report", report, "--junit", junit, "--max-attempts", "1", "--log-level", "debug", "--log-format", "json")
	rep := readReport(t, report)
	var tokens []string
	for _, a := range rep.Accounts {
		if a.Token != "" {
			tokens = append(tokens, a.Token)
		}
	}
	if rep.Summary.Failed == 0 || len(tokens) == 0 {
		t.Fatalf("want some failures and some tokens: %+v, %d tokens", rep.Summary, len(tokens))
	}
	runAll("apply", "-f", m, "--report", report, "--junit", junit, "--log-level", "debug", "--log-format", "console")
	runAll("plan", "-f", m, "--verbose", "--log-level", "debug")
	runAll("destroy", "-f", m, "--report", filepath.Join(ee.dir, "destroy.json"), "--junit", junit, "--max-attempts", "1", "--log-level", "debug")

	reports := []string{report, filepath.Join(ee.dir, "destroy.json")}
	files, _ := filepath.Glob(filepath.Join(ee.dir, "*"))
	for _, f := range files {
		if slices.Contains(reports, f) || strings.HasSuffix(f, "manifest.yaml") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		outputs = append(outputs, f+"\n"+string(data))
	}
	for _, out := range outputs {
		name, _, _ := strings.Cut(out, "\n")
		for _, s := range append(planted, tokens...) {
			if strings.Contains(out, s) {
				t.Errorf("%s shows the secret %q", name, s)
			}
		}
	}
	for _, r := range reports {
		data, _ := os.ReadFile(r)
		for _, s := range planted {
			if strings.Contains(string(data), s) {
				t.Errorf("the report %s holds the secret %q; it may hold instance tokens only", r, s)
			}
		}
		if fi, err := os.Stat(r); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("report %s: mode %v, want 0600", r, fi.Mode())
		}
	}
	if data, _ := os.ReadFile(report); !strings.Contains(string(data), tokens[0]) {
		t.Errorf("the report lacks the instance tokens")
	}
}
