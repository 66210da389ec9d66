package main

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision/emulator"
)

// quickstartConsent names the quickstart's oauth2 accounts without a code, in
// manifest order, and those with one.
var (
	quickstartConsent  = []string{"umbrella-crm", "hooli-crm", "wonka-marketing"}
	quickstartWithCode = []string{"initech-crm", "wayne-marketing"}
)

// quickstartAt writes a copy of examples/quickstart.yaml whose target is the
// Cloud Elements API at baseURL and returns its path.
func quickstartAt(t *testing.T, baseURL string) string {
	t.Helper()
	b, err := os.ReadFile("examples/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const anchor = "  platform: cloud-elements\n"
	if !strings.Contains(string(b), anchor) {
		t.Fatal("examples/quickstart.yaml no longer targets cloud-elements")
	}
	s := strings.Replace(string(b), anchor, anchor+"  baseURL: "+baseURL+"\n", 1)
	s = strings.ReplaceAll(s, "$schema=../schema/", "$schema=")
	path := filepath.Join(t.TempDir(), "quickstart.yaml")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// expectedConsentURLs asks the emulator at base directly, without hubprov's
// client, for each quickstart account's consent URL: the query the product
// contract prescribes (apiKey, apiSecret, callbackUrl, scope space-joined,
// state = the account name).
func expectedConsentURLs(t *testing.T, base string) map[string]string {
	t.Helper()
	m, problems := manifest.Load([]string{"examples/quickstart.yaml"})
	if m == nil || manifest.HasErrors(problems) {
		t.Fatalf("load quickstart: %v", problems)
	}
	if p := m.Resolve(func(string) string { return "" }, ""); manifest.HasErrors(p) {
		t.Fatalf("resolve quickstart: %v", p)
	}
	want := map[string]string{}
	for _, a := range m.Accounts {
		if !slices.Contains(quickstartConsent, a.Name) {
			continue
		}
		q := url.Values{"apiKey": {a.Auth.ClientID}, "apiSecret": {a.Auth.ClientSecret.Reveal()}, "callbackUrl": {a.Auth.CallbackURL},
			"scope": {strings.Join(a.Auth.Scopes, " ")}, "state": {a.Name}}
		req, _ := http.NewRequest("GET", base+"/elements/"+a.Element+"/oauth/url?"+q.Encode(), nil)
		req.Header.Set("Authorization", "User demo-user, Organization demo-org")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ OAuthURL string }
		err = json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 || body.OAuthURL == "" {
			t.Fatalf("emulator oauth/url for %s: %d %v", a.Name, res.StatusCode, err)
		}
		want[a.Name] = a.Element + " " + body.OAuthURL
	}
	if len(want) != len(quickstartConsent) {
		t.Fatalf("quickstart has %d of the consent accounts %v", len(want), quickstartConsent)
	}
	return want
}

// startEmulatorServer serves a fresh emulator on a random loopback port and
// returns it with the base URL of its Cloud Elements API.
func startEmulatorServer(t *testing.T, opts emulator.Options) (*emulator.Emulator, string) {
	t.Helper()
	e := emulator.New(opts)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return e, srv.URL + emulator.CloudElementsPrefix
}

// parseConsentCSV checks the header and returns "account" -> "element url", and the order.
func parseConsentCSV(t *testing.T, out string) (map[string]string, []string) {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) == 0 || !slices.Equal(recs[0], []string{"account", "element", "url"}) {
		t.Fatalf("csv %q: %v", out, err)
	}
	got, order := map[string]string{}, []string{}
	for _, r := range recs[1:] {
		got[r[0]] = r[1] + " " + r[2]
		order = append(order, r[0])
	}
	return got, order
}

// TestAuthorizeURLsQuickstart is the acceptance test: for the quickstart's
// oauth2 accounts without a code, hubprov prints what the emulator answers for
// the same query, in manifest order; the accounts with a code are skipped and
// named on stderr; no secret is printed.
func TestAuthorizeURLsQuickstart(t *testing.T) {
	emu, ceURL := startEmulatorServer(t, emulator.Options{})
	path := quickstartAt(t, ceURL)
	want := expectedConsentURLs(t, ceURL)
	before := emu.Stats().ByOp[emulator.OpOAuthURL]

	code, out, errs := runCLI(t, "authorize-urls", "-f", path)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	got, order := parseConsentCSV(t, out)
	if !slices.Equal(order, quickstartConsent) {
		t.Errorf("rows %v, want %v in manifest order", order, quickstartConsent)
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %q, want the emulator's %q", name, got[name], w)
		}
	}
	if n := emu.Stats().ByOp[emulator.OpOAuthURL] - before; n != len(quickstartConsent) {
		t.Errorf("%d oauth/url requests, want one per account without a code", n)
	}
	if !strings.Contains(errs, "skipped 2 oauth2 accounts with a code already: "+strings.Join(quickstartWithCode, ", ")) {
		t.Errorf("stderr does not name the skipped accounts:\n%s", errs)
	}
	for _, leak := range []string{"demo-client-secret", "demo-code-", "demo-org"} {
		if strings.Contains(out+errs, leak) {
			t.Errorf("output holds the secret %q", leak)
		}
	}

	// JSON: the same, as an array of objects.
	code, out, errs = runCLI(t, "authorize-urls", "-f", path, "--format", "json", "--parallelism", "1")
	var rows []struct{ Account, Element, URL string }
	if code != exitOK || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != len(quickstartConsent) {
		t.Fatalf("json: exit %d\n%s%s", code, out, errs)
	}
	for i, r := range rows {
		if r.Account != quickstartConsent[i] || want[r.Account] != r.Element+" "+r.URL {
			t.Errorf("json row %d: %+v, want %s %q", i, r, quickstartConsent[i], want[quickstartConsent[i]])
		}
	}

	// --select narrows both the URLs and the skipped names.
	code, out, errs = runCLI(t, "authorize-urls", "-f", path, "--select", "w*")
	got, order = parseConsentCSV(t, out)
	if code != exitOK || !slices.Equal(order, []string{"wonka-marketing"}) || got["wonka-marketing"] != want["wonka-marketing"] ||
		!strings.Contains(errs, "skipped 1 oauth2 account with a code already: wayne-marketing\n") {
		t.Errorf("--select w*: exit %d\n%s%s", code, out, errs)
	}

	// --shard: the shards' rows together are the whole output, each once.
	var union []string
	for _, sh := range []string{"0/3", "1/3", "2/3"} {
		code, out, errs := runCLI(t, "authorize-urls", "-f", path, "--shard", sh)
		if code != exitOK {
			t.Fatalf("--shard %s: exit %d\n%s", sh, code, errs)
		}
		_, order := parseConsentCSV(t, out)
		union = append(union, order...)
	}
	slices.Sort(union)
	if sorted := slices.Sorted(slices.Values(quickstartConsent)); !slices.Equal(union, sorted) {
		t.Errorf("shards gave %v, want %v once each", union, sorted)
	}
}

// TestAuthorizeURLsEmulate: --emulate asks the same in-process emulator that
// apply --emulate uses, on the unmodified quickstart.
func TestAuthorizeURLsEmulate(t *testing.T) {
	_, ceURL := startEmulatorServer(t, emulator.Options{})
	want := expectedConsentURLs(t, ceURL)
	abs, err := filepath.Abs("examples/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir()) // --emulate keeps its state in the working directory
	code, out, errs := runCLI(t, "authorize-urls", "--emulate", "-f", abs)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	got, order := parseConsentCSV(t, out)
	if !slices.Equal(order, quickstartConsent) {
		t.Errorf("rows %v, want %v", order, quickstartConsent)
	}
	// The consent page is on the emulator that served the request: another port.
	host := regexp.MustCompile(`^(\S+ )http://127\.0\.0\.1:\d+/`)
	for name, w := range want {
		if g := host.ReplaceAllString(got[name], "$1"); g != host.ReplaceAllString(w, "$1") {
			t.Errorf("%s: %q, want %q", name, got[name], w)
		}
	}
}

func TestAuthorizeURLsPlatformErrorExit1(t *testing.T) {
	e := emulator.New(emulator.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("state") == "hooli-crm" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"requestId":"req-hooli","message":"Invalid scope for this app"}`)
			return
		}
		e.ServeHTTP(w, r)
	}))
	defer srv.Close()
	path := quickstartAt(t, srv.URL+emulator.CloudElementsPrefix)
	code, out, errs := runCLI(t, "authorize-urls", "-f", path)
	if code != exitFailures {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errs)
	}
	_, order := parseConsentCSV(t, out)
	if !slices.Equal(order, []string{"umbrella-crm", "wonka-marketing"}) {
		t.Errorf("rows %v: want the accounts that succeeded", order)
	}
	if !strings.Contains(errs, "hooli-crm: cloud-elements: oauth-url: HTTP 400: Invalid scope for this app (request id req-hooli)") ||
		!strings.Contains(errs, "1 of 3 consent URLs failed") {
		t.Errorf("stderr:\n%s", errs)
	}
}

func TestAuthorizeURLsRejectedCredentialsExit4(t *testing.T) {
	emu, ceURL := startEmulatorServer(t, emulator.Options{User: "someone-else"})
	path := quickstartAt(t, ceURL)
	code, out, errs := runCLI(t, "authorize-urls", "-f", path, "--parallelism", "1")
	if code != exitAborted {
		t.Fatalf("exit %d, want 4\n%s%s", code, out, errs)
	}
	if !strings.Contains(errs, "hint: the platform rejected the credentials: check the user secret (literal)") {
		t.Errorf("no credential hint:\n%s", errs)
	}
	if n := emu.Stats().Requests; n != 1 {
		t.Errorf("%d requests with --parallelism 1, want 1: the run stops at the first 401", n)
	}
	if strings.Contains(out+errs, "demo-user") {
		t.Errorf("a credential was printed")
	}
}

func TestAuthorizeURLsUsage(t *testing.T) {
	dir := t.TempDir()
	flow := filepath.Join(dir, "flow.yaml")
	if err := os.WriteFile(flow, []byte(`version: 1
set: aep
target:
  platform: adobe-flow
  credentials: {accessToken: t0ken-x, apiKey: key-x, imsOrg: X@AdobeOrg, sandbox: prod}
accounts:
  - name: acme-portal
    auth: {type: oauth2Tokens, clientId: c, clientSecret: s3cret, accessToken: acc3ss, refreshToken: refr3sh}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-f", flow}, exitInvalid, "adobe-flow has no consent URL"},
		{[]string{"-f", "examples/quickstart.yaml", "--format", "xml"}, exitInvalid, `--format "xml": want csv or json`},
		{[]string{"-f", "examples/quickstart.yaml", "--parallelism", "0"}, exitInvalid, "--parallelism 0"},
		{[]string{"-f", "examples/quickstart.yaml", "--shard", "4/4"}, exitInvalid, "--shard"},
		{[]string{"-f", "examples/quickstart.yaml", "extra"}, exitInvalid, "unexpected argument"},
		{[]string{}, exitInvalid, "no manifest given"},
	} {
		code, out, errs := runCLI(t, append([]string{"authorize-urls"}, tc.args...)...)
		if code != tc.code || !strings.Contains(errs, tc.want) || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d and %q", tc.args, code, out, errs, tc.code, tc.want)
		}
	}
	code, out, _ := runCLI(t, "authorize-urls", "--help")
	for _, f := range []string{"-format", "-parallelism", "-select", "-shard", "-emulate", "state"} {
		if code != exitOK || !strings.Contains(out, f) {
			t.Errorf("--help: exit %d, no %q in\n%s", code, f, out)
		}
	}
}
