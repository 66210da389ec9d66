package provision_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/cloudelements"
	"github.com/hubprov/hubprov/provision/emulator"
)

// consentRig is an emulator, a consent server in front of it, and what the
// server logged and journaled.
type consentRig struct {
	b       *bench
	cs      *provision.ConsentServer
	srv     *httptest.Server
	plan    provision.Plan
	log     *syncBuffer
	journal *provision.Journal
	jpath   string
	cancel  context.CancelFunc
	now     *clock
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// clock is a settable clock for state expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// handlerBox lets a test server start before its handler exists, so the
// accounts' callbackURL can name the server.
type handlerBox struct {
	mu sync.Mutex
	h  http.Handler
}

func (b *handlerBox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	h := b.h
	b.mu.Unlock()
	h.ServeHTTP(w, r)
}

// newConsentRig serves the consent of n oauth2 accounts without a code of set
// "acme" on an emulator, whose platform handler wrap may alter.
func newConsentRig(t *testing.T, b *bench, n int) *consentRig {
	t.Helper()
	box := &handlerBox{}
	srv := httptest.NewServer(box)
	t.Cleanup(srv.Close)
	accts := consentAccounts(n)
	for i := range accts {
		accts[i].Auth.CallbackURL = srv.URL + "/callback"
	}
	return startConsent(t, b, srv, box, "acme", accts)
}

func startConsent(t *testing.T, b *bench, srv *httptest.Server, box *handlerBox, set string, accts []manifest.Account) *consentRig {
	t.Helper()
	rig := &consentRig{b: b, srv: srv, log: &syncBuffer{}, now: &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}}
	run := provision.NewRun(b.pf, provision.Options{Log: zerolog.New(rig.log), Parallelism: 4})
	remote, _, err := run.ReadRemote(context.Background(), set, provision.Recovery{})
	if err != nil {
		t.Fatal(err)
	}
	rig.plan = provision.MakePlan(set, manifest.CloudElements, accts, remote, provision.PlanOptions{})
	rig.jpath = filepath.Join(t.TempDir(), "report.json.journal")
	rig.journal, err = provision.CreateJournal(rig.jpath, provision.JournalTarget{Set: set, Platform: string(manifest.CloudElements), BaseURL: b.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rig.journal.Close() })
	run.Attach(rig.journal, nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	rig.cancel = cancel
	rig.cs, err = provision.NewConsentServer(ctx, run, rig.plan,
		provision.ConsentOptions{Contact: "the migration team (ops@example.com)", StateTTL: time.Hour, Now: rig.now.now})
	t.Cleanup(rig.cs.Close)
	if err != nil {
		t.Fatal(err)
	}
	rig.cs.FetchURLs(context.Background())
	box.mu.Lock()
	box.h = rig.cs
	box.mu.Unlock()
	return rig
}

var plainClient = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

type answer struct {
	status   int
	body     string
	location string
}

func get(t *testing.T, u string) answer {
	t.Helper()
	res, err := plainClient.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, string(b), res.Header.Get("Location")}
}

// pending reads /accounts.json.
func (rig *consentRig) pending(t *testing.T) []provision.ConsentAccount {
	t.Helper()
	a := get(t, rig.srv.URL+"/accounts.json")
	var out []provision.ConsentAccount
	if err := json.Unmarshal([]byte(a.body), &out); a.status != 200 || err != nil {
		t.Fatalf("/accounts.json: %d %v %s", a.status, err, a.body)
	}
	return out
}

// consent opens an account's consent URL, chooses approve or deny on the
// emulated HubSpot page, and returns the callback URL HubSpot redirects to.
func (rig *consentRig) consent(t *testing.T, consentURL, choice string) string {
	t.Helper()
	page := get(t, consentURL)
	m := regexp.MustCompile(`id="` + choice + `" href="([^"]+)"`).FindStringSubmatch(page.body)
	if page.status != 200 || m == nil {
		t.Fatalf("consent page %s: %d %s", consentURL, page.status, page.body)
	}
	a := get(t, rig.b.srv.URL+html.UnescapeString(m[1]))
	if a.status != http.StatusFound || a.location == "" {
		t.Fatalf("%s: %d %s", choice, a.status, a.body)
	}
	return a.location
}

func urlOf(t *testing.T, list []provision.ConsentAccount, name string) string {
	t.Helper()
	for _, a := range list {
		if a.Name == name {
			if a.URL == "" {
				t.Fatalf("%s has no consent URL: %s", name, a.Error)
			}
			return a.URL
		}
	}
	t.Fatalf("%s is not pending", name)
	return ""
}

func isDone(cs *provision.ConsentServer) bool {
	select {
	case <-cs.Done():
		return true
	default:
		return false
	}
}

// TestConsentFiveApprovals is acceptance 1: five pending accounts, each
// owner approves, five instances are created, each with its own code, and the
// outcome lists five succeeded creates with ids.
func TestConsentFiveApprovals(t *testing.T) {
	b := newBench(t, emulator.Options{}, "demo-user")
	rig := newConsentRig(t, b, 5)
	list := rig.pending(t)
	if len(list) != 5 {
		t.Fatalf("%d pending, want 5: %+v", len(list), list)
	}
	for _, p := range list {
		u, err := url.Parse(p.URL)
		if p.Status != provision.ConsentPending || err != nil || u.Query().Get("state") == "" || u.Query().Get("state") == p.Name ||
			u.Query().Get("redirect_uri") != rig.srv.URL+"/callback" {
			t.Errorf("pending %+v", p)
		}
	}
	codes := map[string]string{}
	for i, p := range list {
		if isDone(rig.cs) {
			t.Fatalf("done after %d of 5", i)
		}
		cb := rig.consent(t, p.URL, "approve")
		codes[p.Name] = mustQuery(t, cb).Get("code")
		a := get(t, cb)
		if a.status != 200 || !strings.Contains(a.body, "is now connected") || !strings.Contains(a.body, p.Name) {
			t.Errorf("%s callback: %d %s", p.Name, a.status, a.body)
		}
	}
	if !isDone(rig.cs) {
		t.Fatal("not done after five approvals")
	}
	if st := b.emu.Stats(); st.Creates != 5 || st.Duplicates != 0 {
		t.Errorf("emulator: %d creates, %d duplicates; want 5 and 0", st.Creates, st.Duplicates)
	}
	out := rig.cs.Outcome()
	if out.Aborted != "" || len(out.Results) != 5 {
		t.Fatalf("outcome: aborted %q, %d results", out.Aborted, len(out.Results))
	}
	seen := map[string]bool{}
	for _, r := range out.Results {
		if r.Action != provision.Create || r.Status != provision.Succeeded || r.InstanceID == "" || !r.Token.Resolved() {
			t.Errorf("result %+v", r)
			continue
		}
		v, _ := b.emu.Instance(r.InstanceID)
		if v.Name != r.Name || v.ProviderData["code"] != codes[r.Name] || seen[codes[r.Name]] {
			t.Errorf("%s: instance %s has providerData %v, want its own code %q", r.Name, r.InstanceID, v.ProviderData, codes[r.Name])
		}
		seen[codes[r.Name]] = true
	}
	if c := rig.cs.Counts(); c.Connected != 5 || c.Pending != 0 {
		t.Errorf("counts %+v", c)
	}
	if left := rig.pending(t); len(left) != 0 {
		t.Errorf("still pending: %+v", left)
	}
	rep := provision.NewReport(provision.RunInfo{Command: "consent"}, out)
	if rep.Summary.Created != 5 || rep.Summary.Total != 5 {
		t.Errorf("report summary %+v", rep.Summary)
	}
}

func mustQuery(t *testing.T, u string) url.Values {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Query()
}

// withQuery returns u with key set to v.
func withQuery(t *testing.T, u, key, v string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := p.Query()
	q.Set(key, v)
	p.RawQuery = q.Encode()
	return p.String()
}

// TestConsentRefusesBadStates is acceptance 2: a tampered, an expired and
// another set's state answer 400 and create nothing; a replay creates
// nothing; a denial is recorded for its account and the rest go on.
func TestConsentRefusesBadStates(t *testing.T) {
	b := newBench(t, emulator.Options{}, "demo-user")
	rig := newConsentRig(t, b, 3)
	list := rig.pending(t)
	cb := rig.consent(t, urlOf(t, list, "portal-000"), "approve")
	state := mustQuery(t, cb).Get("state")

	// Another set, served by another server (another key) on the same callback.
	box2 := &handlerBox{}
	srv2 := httptest.NewServer(box2)
	t.Cleanup(srv2.Close)
	other := consentAccounts(1)
	other[0].Auth.CallbackURL = srv2.URL + "/callback"
	rig2 := startConsent(t, b, srv2, box2, "other-set", other)
	otherCB := rig.consent(t, urlOf(t, rig2.pending(t), "portal-000"), "approve")
	otherState := mustQuery(t, otherCB).Get("state")

	tamper := func(s string) string {
		// Flip one character of the payload: the signature no longer matches.
		i := len("v1.") + 5
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	for name, st := range map[string]string{
		"tampered":  tamper(state),
		"other set": otherState,
		"forged":    "v1.eyJzIjoiYWNtZSIsImEiOiJwb3J0YWwtMDAwIiwieCI6OTk5OTk5OTk5OX0.AAAA",
		"unsigned":  "portal-000",
	} {
		a := get(t, withQuery(t, cb, "state", st))
		if a.status != 400 || !strings.Contains(a.body, "does not work") || !strings.Contains(a.body, "ops@example.com") {
			t.Errorf("%s state: %d %s", name, a.status, a.body)
		}
	}
	if a := get(t, withQuery(t, cb, "state", "")); a.status != 400 {
		t.Errorf("no state: %d", a.status)
	}
	rig.now.add(2 * time.Hour) // the state's TTL is one hour
	if a := get(t, cb); a.status != 400 || !strings.Contains(a.body, "expired") {
		t.Errorf("expired state: %d %s", a.status, a.body)
	}
	if st := b.emu.Stats(); st.Creates != 0 {
		t.Fatalf("%d creates after refused states, want 0", st.Creates)
	}
	rig.now.add(-2 * time.Hour)

	// The good one connects; its replay, and a new consent for it, create nothing more.
	if a := get(t, cb); a.status != 200 {
		t.Fatalf("valid callback: %d %s", a.status, a.body)
	}
	replay := get(t, cb)
	again := get(t, rig.consent(t, urlOf(t, list, "portal-000"), "approve"))
	for _, a := range []answer{replay, again} {
		if a.status != 200 || !strings.Contains(a.body, "already connected") {
			t.Errorf("replay: %d %s", a.status, a.body)
		}
	}
	if st := b.emu.Stats(); st.Creates != 1 {
		t.Fatalf("%d creates after a replay, want 1", st.Creates)
	}

	// portal-001 refuses; portal-002 goes on.
	deny := rig.consent(t, urlOf(t, list, "portal-001"), "deny")
	if a := get(t, deny); a.status != 200 || !strings.Contains(a.body, "not connected") {
		t.Errorf("denied callback: %d %s", a.status, a.body)
	}
	var denied *provision.ConsentAccount
	for _, p := range rig.pending(t) {
		if p.Name == "portal-001" {
			denied = &p
		}
	}
	if denied == nil || denied.Status != provision.ConsentDenied || !strings.Contains(denied.Error, "access_denied") || denied.URL == "" {
		t.Errorf("after the denial, /accounts.json shows %+v", denied)
	}
	if a := get(t, rig.consent(t, urlOf(t, list, "portal-002"), "approve")); a.status != 200 {
		t.Errorf("portal-002 after a denial: %d %s", a.status, a.body)
	}
	if isDone(rig.cs) {
		t.Error("done with a refused account not connected")
	}
	out := rig.cs.Outcome()
	byName := map[string]provision.Result{}
	for _, r := range out.Results {
		byName[r.Name] = r
	}
	if r := byName["portal-001"]; r.Status != provision.Failed || r.Error == nil || !strings.Contains(r.Error.Message, "access_denied") {
		t.Errorf("denied account in the outcome: %+v", r)
	}
	if byName["portal-000"].Status != provision.Succeeded || byName["portal-002"].Status != provision.Succeeded {
		t.Errorf("outcome %+v", out.Results)
	}
	if st := b.emu.Stats(); st.Creates != 2 {
		t.Errorf("%d creates, want 2", st.Creates)
	}
	for _, want := range []string{`"outcome":"invalid-state"`, `"outcome":"already-connected"`, `"outcome":"denied"`, `"outcome":"connected"`} {
		if !strings.Contains(rig.log.String(), want) {
			t.Errorf("log has no %s", want)
		}
	}
	// The owner may change their mind: a new consent after a denial connects.
	if a := get(t, rig.consent(t, urlOf(t, list, "portal-001"), "approve")); a.status != 200 || !isDone(rig.cs) {
		t.Errorf("approval after a denial: %d, done %v", a.status, isDone(rig.cs))
	}
}

// echoCode answers a create for one account with a 400 that echoes the
// request body, code included, in the raw and the escaped forms.
func echoCode(next http.Handler, account string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if !bytes.Contains(body, []byte(`"name":"`+account+`"`)) {
			r.Body = io.NopCloser(bytes.NewReader(body))
			next.ServeHTTP(w, r)
			return
		}
		var in struct {
			ProviderData map[string]string `json:"providerData"`
		}
		_ = json.Unmarshal(body, &in)
		c := in.ProviderData["code"]
		msg := fmt.Sprintf("Invalid authorization code %s (%s)", c, url.QueryEscape(c))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		_ = json.NewEncoder(w).Encode(map[string]string{"requestId": "r-1", "message": msg})
	})
}

// TestConsentCodeNeverRecorded is acceptance 3: the code appears in no log,
// journal, report or page, also when the platform echoes it in an error.
func TestConsentCodeNeverRecorded(t *testing.T) {
	e := emulator.New(emulator.Options{})
	esrv := httptest.NewServer(echoCode(e, "portal-001"))
	t.Cleanup(esrv.Close)
	creds := manifest.Credentials{User: manifest.LiteralSecret("demo-user"), Organization: manifest.LiteralSecret("demo-org")}
	b := &bench{emu: e, srv: esrv, pf: cloudelements.New(esrv.URL+"/elements/api-v2", esrv.Client(), creds, manifest.CloudElements)}
	rig := newConsentRig(t, b, 3)
	list := rig.pending(t)
	var codes, pages []string
	for _, p := range list {
		cb := rig.consent(t, p.URL, "approve")
		codes = append(codes, mustQuery(t, cb).Get("code"))
		a := get(t, cb)
		pages = append(pages, a.body)
		if p.Name == "portal-001" {
			if a.status != http.StatusBadGateway || !strings.Contains(a.body, "could not be connected") || !strings.Contains(a.body, "ops@example.com") {
				t.Errorf("failed create page: %d %s", a.status, a.body)
			}
			pages = append(pages, get(t, cb).body) // a replay of the failed one
		}
	}
	pages = append(pages, get(t, rig.srv.URL+"/").body, get(t, rig.srv.URL+"/accounts.json").body)
	if st := e.Stats(); st.Creates != 2 {
		t.Errorf("%d creates, want 2", st.Creates)
	}
	if err := rig.journal.Close(); err != nil {
		t.Fatal(err)
	}
	journal, err := os.ReadFile(rig.jpath)
	if err != nil || len(journal) == 0 {
		t.Fatalf("journal: %v, %d bytes", err, len(journal))
	}
	var report bytes.Buffer
	if err := provision.NewReport(provision.RunInfo{Command: "consent"}, rig.cs.Outcome()).WriteJSON(&report); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(report.String(), "[redacted]") {
		t.Errorf("the echoed code was not replaced in the report:\n%s", report.String())
	}
	where := map[string]string{"log": rig.log.String(), "journal": string(journal), "report": report.String(), "pages": strings.Join(pages, "\n")}
	for _, c := range codes {
		if c == "" {
			t.Fatal("no code")
		}
		for w, text := range where {
			for _, form := range []string{c, url.QueryEscape(c), c[3:]} {
				if strings.Contains(text, form) {
					t.Errorf("code %s found in the %s", c, w)
				}
			}
		}
	}
}

// TestConsentInterruptAndRerun is acceptance 4 at the engine's level: an
// interrupt with accounts pending reports them skipped (awaiting consent),
// and a rerun serves only those.
func TestConsentInterruptAndRerun(t *testing.T) {
	b := newBench(t, emulator.Options{}, "demo-user")
	rig := newConsentRig(t, b, 4)
	list := rig.pending(t)
	for _, name := range []string{"portal-001", "portal-003"} {
		if a := get(t, rig.consent(t, urlOf(t, list, name), "approve")); a.status != 200 {
			t.Fatalf("%s: %d", name, a.status)
		}
	}
	rig.cancel()
	<-rig.cs.Stopped()
	if a := get(t, rig.consent(t, urlOf(t, list, "portal-000"), "approve")); a.status != http.StatusServiceUnavailable {
		t.Errorf("callback after the interrupt: %d %s", a.status, a.body)
	}
	out := rig.cs.Outcome()
	if out.Aborted != "interrupted" || out.AbortClass != provision.Canceled {
		t.Errorf("aborted %q (%s)", out.Aborted, out.AbortClass)
	}
	rep := provision.NewReport(provision.RunInfo{Command: "consent"}, out)
	if rep.Summary.Created != 2 || rep.Summary.Skipped != 2 || rep.Summary.AwaitingConsent != 2 {
		t.Errorf("summary %+v", rep.Summary)
	}
	if b.emu.Stats().Creates != 2 {
		t.Errorf("%d creates, want 2", b.emu.Stats().Creates)
	}

	// The rerun: the same accounts, a new server.
	box := &handlerBox{}
	srv := httptest.NewServer(box)
	t.Cleanup(srv.Close)
	accts := consentAccounts(4)
	for i := range accts {
		accts[i].Auth.CallbackURL = srv.URL + "/callback"
	}
	rerun := startConsent(t, b, srv, box, "acme", accts)
	var names []string
	for _, p := range rerun.pending(t) {
		names = append(names, p.Name)
	}
	if strings.Join(names, ",") != "portal-000,portal-002" {
		t.Errorf("rerun serves %v, want portal-000 and portal-002", names)
	}
	if c := rerun.cs.Counts(); c.Connected != 2 || c.Pending != 2 {
		t.Errorf("rerun counts %+v", c)
	}
	// A link of the first run does not work in the second (another key).
	old := rig.consent(t, urlOf(t, list, "portal-002"), "approve")
	oldOnNew := srv.URL + "/callback?" + mustQuery(t, old).Encode()
	if a := get(t, oldOnNew); a.status != 400 {
		t.Errorf("a first-run state on the rerun: %d %s", a.status, a.body)
	}
	for _, name := range []string{"portal-000", "portal-002"} {
		if a := get(t, rerun.consent(t, urlOf(t, rerun.pending(t), name), "approve")); a.status != 200 {
			t.Errorf("rerun %s: %d %s", name, a.status, a.body)
		}
	}
	if !isDone(rerun.cs) || b.emu.Stats().Creates != 4 || b.emu.Stats().Duplicates != 0 {
		t.Errorf("rerun done %v, %d creates", isDone(rerun.cs), b.emu.Stats().Creates)
	}
	out = rerun.cs.Outcome()
	rep = provision.NewReport(provision.RunInfo{Command: "consent"}, out)
	if out.Aborted != "" || rep.Summary.Created != 2 || rep.Summary.Unchanged != 2 {
		t.Errorf("rerun outcome %q %+v", out.Aborted, rep.Summary)
	}
}

// TestConsentConcurrentCallbacks: two callbacks for one account at once (a
// double click, two tabs) create one instance.
func TestConsentConcurrentCallbacks(t *testing.T) {
	b := newBench(t, emulator.Options{Latency: 50 * time.Millisecond}, "demo-user")
	rig := newConsentRig(t, b, 1)
	u := urlOf(t, rig.pending(t), "portal-000")
	cbs := []string{rig.consent(t, u, "approve"), rig.consent(t, u, "approve")}
	var wg sync.WaitGroup
	status := make([]int, 2)
	for i := range cbs {
		wg.Go(func() { status[i] = get(t, cbs[i]).status })
	}
	wg.Wait()
	if b.emu.Stats().Creates != 1 {
		t.Errorf("%d creates for two callbacks at once (answers %v), want 1", b.emu.Stats().Creates, status)
	}
	ok := 0
	for _, s := range status {
		if s == 200 {
			ok++
		} else if s != http.StatusConflict {
			t.Errorf("answer %d", s)
		}
	}
	if ok == 0 {
		t.Errorf("answers %v", status)
	}
}

// TestConsentOperatorPage: / shows every pending account with its link, and
// the counts; other paths and methods are refused.
func TestConsentOperatorPage(t *testing.T) {
	b := newBench(t, emulator.Options{}, "demo-user")
	rig := newConsentRig(t, b, 2)
	a := get(t, rig.srv.URL+"/")
	if a.status != 200 || !strings.Contains(a.body, "0</strong> connected") || !strings.Contains(a.body, "2</strong> pending") {
		t.Errorf("operator page: %d %s", a.status, a.body)
	}
	for _, p := range rig.pending(t) {
		if !strings.Contains(a.body, p.Name) || !strings.Contains(a.body, html.EscapeString(p.URL)) {
			t.Errorf("operator page lacks %s or its link", p.Name)
		}
	}
	if a := get(t, rig.srv.URL+"/nothing"); a.status != 404 {
		t.Errorf("/nothing: %d", a.status)
	}
	res, err := plainClient.Post(rig.srv.URL+"/callback", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /callback: %d", res.StatusCode)
	}
	cb := rig.consent(t, urlOf(t, rig.pending(t), "portal-000"), "approve")
	res, err = plainClient.Head(cb)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed || b.emu.Stats().Creates != 0 {
		t.Errorf("HEAD /callback: %d, %d creates", res.StatusCode, b.emu.Stats().Creates)
	}
	if a := get(t, cb); a.status != 200 {
		t.Errorf("GET after a HEAD: %d", a.status)
	}
}

// TestConsentURLsRefreshed: a consent URL older than half the state's
// lifetime is asked for again, so the state it carries has not expired.
func TestConsentURLsRefreshed(t *testing.T) {
	b := newBench(t, emulator.Options{}, "demo-user")
	rig := newConsentRig(t, b, 1)
	first := urlOf(t, rig.pending(t), "portal-000")
	if again := urlOf(t, rig.pending(t), "portal-000"); again != first {
		t.Error("URL asked for again before half its lifetime")
	}
	rig.now.add(40 * time.Minute) // TTL one hour
	second := urlOf(t, rig.pending(t), "portal-000")
	if second == first {
		t.Fatal("URL not refreshed after half its lifetime")
	}
	rig.now.add(40 * time.Minute) // the first state has expired, the second not
	if a := get(t, rig.consent(t, first, "approve")); a.status != 400 {
		t.Errorf("expired first URL: %d", a.status)
	}
	if a := get(t, rig.consent(t, second, "approve")); a.status != 200 {
		t.Errorf("refreshed URL: %d %s", a.status, a.body)
	}
}

func TestCallbackMismatches(t *testing.T) {
	accts := consentAccounts(5)
	for i, cb := range []string{
		"https://consent.example.com/callback",
		"https://CONSENT.example.com:443/callback/",
		"http://consent.example.com/callback",
		"https://consent.example.com/auth",
		"https://consent.example.com:8443/callback",
	} {
		accts[i].Auth.CallbackURL = cb
	}
	got := provision.CallbackMismatches(accts, "https://consent.example.com/callback")
	if strings.Join(got, ",") != "portal-002,portal-003,portal-004" {
		t.Errorf("mismatches %v", got)
	}
}

// TestConsentOutcomeMapsLiveAccounts: the outcome also lists the plan's
// other accounts that have an instance (so the report keeps mapping them),
// progress counts the consent accounts, and a CallbackURL option replaces
// the redirect URI of the consent URLs only.
func TestConsentOutcomeMapsLiveAccounts(t *testing.T) {
	b := newBench(t, emulator.Options{}, "demo-user")
	others := accounts(3) // apiKey, oauth2 with a code, oauth2Tokens
	run := provision.NewRun(b.pf, provision.Options{Log: zerolog.Nop()})
	if out := run.Apply(context.Background(), provision.MakePlan("acme", manifest.CloudElements, others[:2], nil, provision.PlanOptions{})); count(out, provision.Create, provision.Succeeded) != 2 {
		t.Fatalf("setup: %+v", out.Results)
	}
	accts := append(consentAccounts(2), others...)
	run = provision.NewRun(b.pf, provision.Options{Log: zerolog.Nop()})
	remote, _, err := run.ReadRemote(context.Background(), "acme", provision.Recovery{})
	if err != nil {
		t.Fatal(err)
	}
	plan := provision.MakePlan("acme", manifest.CloudElements, accts, remote, provision.PlanOptions{})
	progress := &provision.Progress{}
	cs, err := provision.NewConsentServer(context.Background(), run, plan,
		provision.ConsentOptions{CallbackURL: "http://127.0.0.1:1/callback", Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	cs.FetchURLs(context.Background())
	for _, p := range cs.Pending() {
		if got := mustQuery(t, p.URL).Get("redirect_uri"); got != "http://127.0.0.1:1/callback" {
			t.Errorf("%s: redirect_uri %q", p.Name, got)
		}
	}
	out := cs.Outcome()
	var got []string
	for _, r := range out.Results {
		got = append(got, fmt.Sprintf("%s:%s:%s:%v", r.Name, r.Action, r.Status, r.InstanceID != ""))
	}
	want := "portal-000:create:awaiting-consent:skipped:false portal-001:create:awaiting-consent:skipped:false portal-00000:unchanged:succeeded:true portal-00001:unchanged:succeeded:true"
	if strings.Join(got, " ") != want {
		t.Errorf("outcome\n %s\nwant\n %s", strings.Join(got, " "), want)
	}
	if progress.Total.Load() != 2 || progress.Done.Load() != 0 {
		t.Errorf("progress %d/%d", progress.Done.Load(), progress.Total.Load())
	}
}
