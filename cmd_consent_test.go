package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/emulator"
)

// lockedBuffer is a buffer a running command writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// consentCLI is a hubprov consent running in-process.
type consentCLI struct {
	base           string // the operator page's base URL
	stdout, stderr *lockedBuffer
	stop           context.CancelCauseFunc
	exit           chan int
}

// startConsentCLI runs hubprov consent with args until it prints its
// operator page (or exits), and returns it running.
func startConsentCLI(t *testing.T, args ...string) *consentCLI {
	t.Helper()
	ctx, stop := context.WithCancelCause(context.Background())
	t.Cleanup(func() { stop(nil) })
	pr, pw := io.Pipe()
	c := &consentCLI{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, stop: stop, exit: make(chan int, 1)}
	go func() {
		code := run(ctx, append([]string{"consent"}, args...), strings.NewReader(""), pw, c.stderr)
		pw.Close()
		c.exit <- code
	}()
	page := regexp.MustCompile(`^Operator page: (\S+)/ `)
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		_, _ = c.stdout.Write(append(sc.Bytes(), '\n'))
		if m := page.FindStringSubmatch(sc.Text()); m != nil {
			c.base = m[1]
			break
		}
	}
	go func() { _, _ = io.Copy(c.stdout, pr) }()
	return c
}

// wait returns the exit code once the command has ended.
func (c *consentCLI) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-c.exit:
		return code
	case <-time.After(30 * time.Second):
		t.Fatalf("consent did not exit\nstdout:\n%s\nstderr:\n%s", c.stdout, c.stderr)
		return -1
	}
}

var noFollow = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func fetch(t *testing.T, u string) (int, string, string) {
	t.Helper()
	res, err := noFollow.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header.Get("Location")
}

func (c *consentCLI) pending(t *testing.T) []provision.ConsentAccount {
	t.Helper()
	status, body, _ := fetch(t, c.base+"/accounts.json")
	var out []provision.ConsentAccount
	if err := json.Unmarshal([]byte(body), &out); status != 200 || err != nil {
		t.Fatalf("/accounts.json: %d %v %s", status, err, body)
	}
	return out
}

// approve plays the portal owner: opens the consent URL, chooses approve
// (or deny) on the emulated HubSpot page, and follows the redirect to the
// callback. It returns the callback URL and the page the owner sees.
func approve(t *testing.T, consentURL, choice string) (string, int, string) {
	t.Helper()
	status, body, _ := fetch(t, consentURL)
	m := regexp.MustCompile(`id="` + choice + `" href="([^"]+)"`).FindStringSubmatch(body)
	if status != 200 || m == nil {
		t.Fatalf("consent page %s: %d %s", consentURL, status, body)
	}
	u, _ := url.Parse(consentURL)
	status, body, loc := fetch(t, u.Scheme+"://"+u.Host+html.UnescapeString(m[1]))
	if status != http.StatusFound || loc == "" {
		t.Fatalf("%s: %d %s", choice, status, body)
	}
	status, body, _ = fetch(t, loc)
	return loc, status, body
}

// freeAddr returns a loopback address no one listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// consentManifest writes n oauth2 accounts without a code whose callbackURL is callback.
func (ee *engineEnv) consentManifest(n int, callback string) string {
	ee.t.Helper()
	return ee.writeManifest(n, func(i int, _ string) string {
		return fmt.Sprintf("  - name: portal-%04d\n    element: hubspotcrm\n    auth: {type: oauth2, clientId: app-1, clientSecret: %s, callbackURL: %s, scopes: [oauth]}\n",
			i, secretsOf(i)[1], callback)
	})
}

// TestConsentCommandFiveApprovals is acceptances 1 and 3 through the
// command: five owners approve, five instances are created, each with its
// own code, the report lists five succeeded creates with ids, the process
// exits 0; no code is in the logs, the journal, the report or a page.
func TestConsentCommandFiveApprovals(t *testing.T) {
	demoCredentials(t)
	ee := newEngineEnv(t, emulator.Options{})
	addr := freeAddr(t)
	m := ee.consentManifest(5, "http://"+addr+"/callback")
	report := filepath.Join(ee.dir, "report.json")
	c := startConsentCLI(t, "-f", m, "--listen", addr, "--report", report, "--no-progress", "--contact", "ops@example.com")
	if c.base != "http://"+addr {
		t.Fatalf("operator page %q\n%s\n%s", c.base, c.stdout, c.stderr)
	}
	if strings.Contains(c.stderr.String(), "callbackURL that is not") {
		t.Errorf("a warning with matching callback URLs:\n%s", c.stderr)
	}
	list := c.pending(t)
	if len(list) != 5 {
		t.Fatalf("%d pending", len(list))
	}
	var codes, pages []string
	for _, p := range list {
		cb, status, body := approve(t, p.URL, "approve")
		codes = append(codes, mustParse(t, cb).Query().Get("code"))
		pages = append(pages, body)
		if status != 200 || !strings.Contains(body, "is now connected") {
			t.Errorf("%s: %d %s", p.Name, status, body)
		}
		if p.Name == "portal-0000" { // a replay
			_, body, _ := fetch(t, cb)
			pages = append(pages, body)
		}
	}
	if code := c.wait(t); code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, c.stdout, c.stderr)
	}
	checkReportFile(t, report)
	rep := readReport(t, report)
	if rep.Run.Command != "consent" || rep.Summary.Created != 5 || rep.Summary.Total != 5 {
		t.Errorf("report %+v %+v", rep.Run, rep.Summary)
	}
	for _, a := range rep.Accounts {
		if a.Status != provision.Succeeded || a.InstanceID == "" || a.Token == "" {
			t.Errorf("report account %+v", a)
		}
	}
	if st := ee.emu.Stats(); st.Creates != 5 || st.Duplicates != 0 {
		t.Errorf("%d creates, %d duplicates", st.Creates, st.Duplicates)
	}
	for _, id := range ee.emu.Instances() {
		v, _ := ee.emu.Instance(id)
		if code, _ := v.ProviderData["code"].(string); !strings.HasPrefix(code, "hs-") {
			t.Errorf("%s created with code %v", v.Name, v.ProviderData["code"])
		}
	}
	logs := c.stderr.String()
	if n := strings.Count(logs, "consent callback"); n != 6 {
		t.Errorf("%d callbacks logged, want 6 (5 and a replay):\n%s", n, logs)
	}
	files := map[string]string{"stdout": c.stdout.String(), "stderr": logs, "pages": strings.Join(pages, "\n")}
	for _, f := range []string{report, report + ".journal", report + ".lock"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		files[f] = string(b)
	}
	for _, code := range codes {
		for where, text := range files {
			if code == "" || strings.Contains(text, code) || strings.Contains(text, code[3:]) {
				t.Errorf("code %q found in %s", code, where)
			}
		}
	}
}

// checkReportFile validates a consent report against the report schema.
func checkReportFile(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checkJSONOutput(t, "report", "consent --report "+path, b)
}

func mustParse(t *testing.T, u string) *url.URL {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConsentCommandSIGTERM is acceptance 4: SIGTERM with accounts pending
// exits 143 with a report listing them as skipped; a rerun serves only those
// and exits 0 once they are connected.
func TestConsentCommandSIGTERM(t *testing.T) {
	demoCredentials(t)
	ee := newEngineEnv(t, emulator.Options{})
	addr := freeAddr(t)
	m := ee.consentManifest(4, "http://"+addr+"/callback")
	report := filepath.Join(ee.dir, "report.json")
	c := startConsentCLI(t, "-f", m, "--listen", addr, "--report", report, "--no-progress")
	if _, status, _ := approve(t, c.pending(t)[1].URL, "approve"); status != 200 {
		t.Fatalf("approve: %d", status)
	}
	_, status, _ := approve(t, c.pending(t)[1].URL, "deny") // portal-0002 refuses
	if status != 200 {
		t.Fatalf("deny: %d", status)
	}
	c.stop(signalError{syscall.SIGTERM})
	if code := c.wait(t); code != exitSIGTERM {
		t.Fatalf("exit %d, want 143\n%s", code, c.stderr)
	}
	checkReportFile(t, report)
	rep := readReport(t, report)
	got := map[string]string{}
	for _, a := range rep.Accounts {
		got[a.Name] = string(a.Status) + "/" + a.Reason
	}
	want := map[string]string{"portal-0000": "skipped/awaiting-consent", "portal-0001": "succeeded/", "portal-0002": "failed/", "portal-0003": "skipped/awaiting-consent"}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %s, want %s", name, got[name], w)
		}
	}
	if rep.Run.Aborted == "" {
		t.Error("the report does not say the run was interrupted")
	}

	rerun := startConsentCLI(t, "-f", m, "--listen", addr, "--report", report, "--no-progress")
	var names []string
	for _, p := range rerun.pending(t) {
		names = append(names, p.Name)
	}
	if strings.Join(names, ",") != "portal-0000,portal-0002,portal-0003" {
		t.Errorf("the rerun serves %v", names)
	}
	for _, p := range rerun.pending(t) {
		if _, status, body := approve(t, p.URL, "approve"); status != 200 {
			t.Errorf("%s: %d %s", p.Name, status, body)
		}
	}
	if code := rerun.wait(t); code != exitOK {
		t.Fatalf("rerun exit %d\n%s", code, rerun.stderr)
	}
	rep = readReport(t, report)
	if rep.Summary.Created != 3 || rep.Summary.Unchanged != 1 || ee.emu.Stats().Creates != 4 {
		t.Errorf("rerun report %+v, %d creates", rep.Summary, ee.emu.Stats().Creates)
	}
}

// TestConsentCommandEmulate is the zero-setup demo: the quickstart's three
// oauth2 accounts without a code, the emulated HubSpot sending owners back to
// this server; one approval creates one instance, and Ctrl-C exits 130.
func TestConsentCommandEmulate(t *testing.T) {
	abs, err := filepath.Abs("examples/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	c := startConsentCLI(t, "--emulate", "-f", abs, "--no-progress")
	if !strings.Contains(c.stdout.String(), "3 oauth2 accounts waiting for consent") {
		t.Fatalf("stdout:\n%s\nstderr:\n%s", c.stdout, c.stderr)
	}
	if !strings.Contains(c.stderr.String(), "--emulate: the emulated HubSpot sends owners back to "+c.base+"/callback") {
		t.Errorf("no note about the redirect URI:\n%s", c.stderr)
	}
	list := c.pending(t)
	if len(list) != 3 || list[0].Name != "umbrella-crm" {
		t.Fatalf("pending %+v", list)
	}
	if _, status, body := approve(t, list[0].URL, "approve"); status != 200 || !strings.Contains(body, "umbrella-crm") {
		t.Fatalf("approve: %d %s", status, body)
	}
	if status, body, _ := fetch(t, c.base+"/"); status != 200 || !strings.Contains(body, "1</strong> connected") || !strings.Contains(body, "hooli-crm") {
		t.Errorf("operator page: %d %s", status, body)
	}
	c.stop(signalError{syscall.SIGINT})
	if code := c.wait(t); code != exitSIGINT {
		t.Fatalf("exit %d, want 130\n%s", code, c.stderr)
	}
	rep := readReport(t, "hubprov-report.json")
	if rep.Summary.Created != 1 || rep.Summary.AwaitingConsent != 2 {
		t.Errorf("report %+v", rep.Summary)
	}
}

// TestConsentCommandWarnsOfOtherCallbacks: accounts whose callbackURL is not
// this server's redirect URI are named at start.
func TestConsentCommandWarnsOfOtherCallbacks(t *testing.T) {
	demoCredentials(t)
	ee := newEngineEnv(t, emulator.Options{})
	m := ee.consentManifest(2, "https://app.example.com/auth")
	c := startConsentCLI(t, "-f", m, "--listen", "127.0.0.1:0", "--public-url", "https://consent.example.com/hubprov",
		"--report", filepath.Join(ee.dir, "r.json"), "--no-progress", "--log-format", "console")
	if c.base != "https://consent.example.com/hubprov" {
		t.Errorf("operator page %q", c.base)
	}
	errs := c.stderr.String()
	for _, want := range []string{"warning: 2 of 2 accounts have a callbackURL that is not this server's redirect URI https://consent.example.com/hubprov/callback",
		"portal-0000", "portal-0001", "hint: set auth.callbackURL"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	c.stop(signalError{syscall.SIGTERM})
	if code := c.wait(t); code != exitSIGTERM {
		t.Errorf("exit %d", code)
	}
}

func TestConsentCommandUsage(t *testing.T) {
	demoCredentials(t)
	ee := newEngineEnv(t, emulator.Options{})
	m := ee.consentManifest(1, "https://app.example.com/auth")
	for _, args := range [][]string{
		{"consent", "-f", m},
		{"consent", "-f", m, "--listen", "127.0.0.1:0", "--public-url", "consent.example.com"},
		{"consent", "-f", m, "--listen", "127.0.0.1:0", "--state-ttl", "1s"},
	} {
		if code, _, errs := runCLI(t, args...); code != exitInvalid {
			t.Errorf("%v: exit %d\n%s", args, code, errs)
		}
	}
	if ee.emu.Stats().Requests != 0 {
		t.Errorf("%d requests sent by refused commands", ee.emu.Stats().Requests)
	}
}
