package emulator

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var noRedirect = &http.Client{
	Timeout:       testClient.Timeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// consentLinks opens the consent page of oauthURL and returns its approve and deny links.
func consentLinks(t *testing.T, base, oauthURL string) (approve, deny string) {
	t.Helper()
	r := call(t, testClient, "GET", oauthURL, nil, "")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("consent page: %d %s", r.status, r.body)
	}
	link := func(id string) string {
		m := regexp.MustCompile(`id="` + id + `" href="([^"]+)"`).FindSubmatch(r.body)
		if m == nil {
			t.Fatalf("consent page has no %s link: %s", id, r.body)
		}
		return base + html.UnescapeString(string(m[1]))
	}
	return link("approve"), link("deny")
}

// TestHubSpotConsentPage follows the oauthUrl to the emulated consent page:
// approving redirects to the callback URL with a fresh code and the state;
// denying redirects with error=access_denied and the state.
func TestHubSpotConsentPage(t *testing.T) {
	e, s := start(t, Options{})
	state := "v1.signed+state/with=odd&chars"
	q := url.Values{"apiKey": {"client-1"}, "apiSecret": {"secret-1"}, "callbackUrl": {"https://ops.example.com/callback?team=a"},
		"scope": {"crm.objects.contacts.read oauth"}, "state": {state}}
	r := call(t, testClient, "GET", s.CloudElementsURL()+"/elements/hubspotcrm/oauth/url?"+q.Encode(), ceHeader(), "")
	if r.status != 200 {
		t.Fatalf("oauth/url: %d %s", r.status, r.body)
	}
	oauthURL := r.obj(t)["oauthUrl"].(string)
	before := e.Stats().Requests

	approve, deny := consentLinks(t, s.URL(), oauthURL)
	page := call(t, testClient, "GET", oauthURL, nil, "")
	for _, want := range []string{"client-1", "crm.objects.contacts.read", "https://ops.example.com/callback"} {
		if !strings.Contains(string(page.body), want) {
			t.Errorf("consent page does not show %q", want)
		}
	}

	codes := map[string]bool{}
	for range 2 {
		a := call(t, noRedirect, "GET", approve, nil, "")
		if a.status != http.StatusFound {
			t.Fatalf("approve: %d %s", a.status, a.body)
		}
		loc, err := url.Parse(a.header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		got := loc.Query()
		if loc.Host != "ops.example.com" || loc.Path != "/callback" || got.Get("team") != "a" || got.Get("state") != state || got.Get("error") != "" {
			t.Errorf("approve redirects to %s", loc)
		}
		c := got.Get("code")
		if c == "" || codes[c] {
			t.Errorf("approve gave code %q, want a fresh one each time", c)
		}
		codes[c] = true
	}

	d := call(t, noRedirect, "GET", deny, nil, "")
	loc, _ := url.Parse(d.header.Get("Location"))
	if d.status != http.StatusFound || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != state || loc.Query().Has("code") {
		t.Errorf("deny: %d to %s", d.status, loc)
	}

	st := e.Stats()
	if st.ConsentCodes != 2 || st.ConsentDenials != 1 {
		t.Errorf("stats: %d codes, %d denials; want 2 and 1", st.ConsentCodes, st.ConsentDenials)
	}
	if st.Requests != before {
		t.Errorf("consent pages counted as %d platform requests", st.Requests-before)
	}
}

// TestHubSpotConsentPageRefusesBadRequests answers 400 to a consent request
// without an app or an absolute redirect URI, and redirects nowhere.
func TestHubSpotConsentPageRefusesBadRequests(t *testing.T) {
	_, s := start(t, Options{})
	for _, q := range []string{
		"redirect_uri=https%3A%2F%2Fa.example%2Fcb&state=x",
		"client_id=c&state=x",
		"client_id=c&redirect_uri=%2Frelative&state=x",
		"client_id=c&redirect_uri=javascript%3Aalert(1)",
	} {
		for _, p := range []string{"authorize", "approve", "deny"} {
			r := call(t, noRedirect, "GET", s.URL()+HubSpotPrefix+"/oauth/"+p+"?"+q, nil, "")
			if r.status != http.StatusBadRequest || r.header.Get("Location") != "" {
				t.Errorf("%s?%s: %d, Location %q", p, q, r.status, r.header.Get("Location"))
			}
		}
	}
}
