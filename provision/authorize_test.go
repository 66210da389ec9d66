package provision_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/cloudelements"
	"github.com/hubprov/hubprov/provision/emulator"
)

var _ provision.Authorizer = (*cloudelements.Client)(nil)

// consentAccounts returns n oauth2 accounts without a code.
func consentAccounts(n int) []manifest.Account {
	out := make([]manifest.Account, n)
	for i := range out {
		out[i] = manifest.Account{
			Name:    fmt.Sprintf("portal-%03d", i),
			Element: []string{manifest.ElementCRM, manifest.ElementMarketing}[i%2],
			Auth: manifest.Auth{Type: manifest.AuthOAuth2, ClientID: "client-1", ClientSecret: manifest.LiteralSecret("app-secret-1"),
				CallbackURL: "https://app.example.com/auth", Scopes: []string{"crm.objects.contacts.read", "oauth"}},
		}
	}
	return out
}

// emulatorURL asks the emulator directly, without the client under test, for
// the consent URL of a.
func emulatorURL(t *testing.T, base string, a manifest.Account) string {
	t.Helper()
	q := url.Values{"apiKey": {a.Auth.ClientID}, "apiSecret": {a.Auth.ClientSecret.Reveal()},
		"callbackUrl": {a.Auth.CallbackURL}, "scope": {strings.Join(a.Auth.Scopes, " ")}, "state": {a.Name}}
	req, _ := http.NewRequest("GET", base+"/elements/"+a.Element+"/oauth/url?"+q.Encode(), nil)
	req.Header.Set("Authorization", "User demo-user, Organization demo-org")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct{ OAuthURL string }
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != 200 {
		t.Fatalf("emulator: %d %v", res.StatusCode, err)
	}
	return body.OAuthURL
}

// TestAuthorizeURLsRetriesAndRecordsFailures: a 503 is retried under the
// policy, a 400 fails only its account, and the URLs come back in the order
// given, equal to what the emulator answers for the same query.
func TestAuthorizeURLsRetriesAndRecordsFailures(t *testing.T) {
	defer provision.FastRetries()()
	e := emulator.New(emulator.Options{})
	var first503 atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("state") {
		case "portal-003":
			if !first503.Swap(true) {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		case "portal-005":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"requestId":"req-5","message":"Invalid scope"}`)
			return
		}
		e.ServeHTTP(w, r)
	}))
	defer srv.Close()
	base := srv.URL + emulator.CloudElementsPrefix
	creds := manifest.Credentials{User: manifest.LiteralSecret("demo-user"), Organization: manifest.LiteralSecret("demo-org")}
	c := cloudelements.New(base, nil, creds, manifest.CloudElements)

	accts := consentAccounts(20)
	out := provision.NewRun(c, provision.Options{Parallelism: 4, Log: zerolog.Nop()}).AuthorizeURLs(context.Background(), accts)
	if out.Aborted != "" || len(out.URLs) != len(accts) {
		t.Fatalf("aborted %q, %d results", out.Aborted, len(out.URLs))
	}
	for i, u := range out.URLs {
		a := accts[i]
		if u.Name != a.Name || u.Element != a.Element {
			t.Fatalf("result %d is %s/%s, want %s/%s: order not kept", i, u.Name, u.Element, a.Name, a.Element)
		}
		if a.Name == "portal-005" {
			if u.Status != provision.Failed || u.Error == nil || u.Error.Class != provision.Item || u.Error.HTTPStatus != 400 ||
				u.Error.RequestID != "req-5" || u.Attempts != 1 || u.URL != "" {
				t.Errorf("portal-005: %+v %+v, want failed once with the item error", u, u.Error)
			}
			continue
		}
		if u.Status != provision.Succeeded || u.URL != emulatorURL(t, base, a) {
			t.Errorf("%s: %s %q, want the emulator's URL %q", a.Name, u.Status, u.URL, emulatorURL(t, base, a))
		}
		if want := 1 + btoi(a.Name == "portal-003"); u.Attempts != want {
			t.Errorf("%s: %d attempts, want %d", a.Name, u.Attempts, want)
		}
	}
	if out.Requests != 21 || out.Throttled != 1 || out.Retries != 1 {
		t.Errorf("requests %d, throttled %d, retries %d; want 21, 1, 1", out.Requests, out.Throttled, out.Retries)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestAuthorizeURLsStopsOnRejectedCredentials: a 401 aborts the run as
// systemic; no account waits for another request.
func TestAuthorizeURLsStopsOnRejectedCredentials(t *testing.T) {
	b := newBench(t, emulator.Options{}, "wrong-user")
	out := provision.NewRun(b.pf, provision.Options{Parallelism: 4, Log: zerolog.Nop()}).AuthorizeURLs(context.Background(), consentAccounts(100))
	if out.AbortClass != provision.Systemic || !strings.Contains(out.Aborted, "rejected the credentials") {
		t.Fatalf("aborted %q (%s), want systemic", out.Aborted, out.AbortClass)
	}
	if s := b.emu.Stats(); s.Requests > 4 {
		t.Fatalf("%d requests, want at most the parallelism 4", s.Requests)
	}
	failed, skipped := 0, 0
	for _, u := range out.URLs {
		switch u.Status {
		case provision.Failed:
			failed++
			if u.Error.Class != provision.Systemic {
				t.Errorf("%s: class %s", u.Name, u.Error.Class)
			}
		case provision.Skipped:
			skipped++
		default:
			t.Errorf("%s: %s", u.Name, u.Status)
		}
	}
	if failed == 0 || failed+skipped != 100 {
		t.Fatalf("%d failed, %d skipped", failed, skipped)
	}
}

// fakeAuthorizer answers after a delay and records the peak concurrency.
type fakeAuthorizer struct {
	provision.Platform // nil: only OAuthURL is called
	delay              time.Duration
	mu                 sync.Mutex
	inFlight, peak     int
	calls              atomic.Int64
}

func (f *fakeAuthorizer) OAuthURL(ctx context.Context, element, clientID string, _ manifest.Secret, _ string, _ []string, state string) (string, error) {
	f.calls.Add(1)
	f.mu.Lock()
	f.inFlight++
	f.peak = max(f.peak, f.inFlight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	time.Sleep(f.delay)
	return "https://consent.example/" + element + "/" + state, nil
}

func TestAuthorizeURLsBoundedParallelism(t *testing.T) {
	f := &fakeAuthorizer{delay: 5 * time.Millisecond}
	out := provision.NewRun(f, provision.Options{Parallelism: 3, Log: zerolog.Nop()}).AuthorizeURLs(context.Background(), consentAccounts(60))
	if f.peak > 3 || f.peak < 2 {
		t.Fatalf("peak concurrency %d, want up to the parallelism 3", f.peak)
	}
	for i, u := range out.URLs {
		if want := fmt.Sprintf("https://consent.example/%s/portal-%03d", u.Element, i); u.URL != want {
			t.Fatalf("result %d: %q, want %q", i, u.URL, want)
		}
	}
}

func TestAuthorizeURLsInterruptSkipsTheRest(t *testing.T) {
	f := &fakeAuthorizer{delay: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(35*time.Millisecond, cancel)
	out := provision.NewRun(f, provision.Options{Parallelism: 2, Log: zerolog.Nop()}).AuthorizeURLs(ctx, consentAccounts(200))
	if out.AbortClass != provision.Canceled {
		t.Fatalf("abort class %q, want canceled", out.AbortClass)
	}
	ok, skipped := 0, 0
	for _, u := range out.URLs {
		switch u.Status {
		case provision.Succeeded:
			ok++
		case provision.Skipped:
			skipped++
		default:
			t.Fatalf("%s: %s %+v", u.Name, u.Status, u.Error)
		}
	}
	if ok == 0 || skipped == 0 || int64(ok) != f.calls.Load() {
		t.Fatalf("%d succeeded, %d skipped, %d calls: want some of each, every call that finished kept", ok, skipped, f.calls.Load())
	}
}

func TestNeedsConsent(t *testing.T) {
	for _, tc := range []struct {
		auth manifest.Auth
		want bool
	}{
		{manifest.Auth{Type: manifest.AuthOAuth2}, true},
		{manifest.Auth{Type: manifest.AuthOAuth2, Code: manifest.LiteralSecret("c0de")}, false},
		{manifest.Auth{Type: manifest.AuthOAuth2, Code: manifest.Secret{Source: manifest.SecretEnv, Ref: "CODE"}}, false},
		{manifest.Auth{Type: manifest.AuthOAuth2Tokens}, false},
		{manifest.Auth{Type: manifest.AuthAPIKey}, false},
	} {
		if got := provision.NeedsConsent(manifest.Account{Auth: tc.auth}); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc.auth, got, tc.want)
		}
	}
}
