package cloudelements

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
)

const (
	userSecret = "user-secret-u1"
	orgSecret  = "org-secret-o2"
	authHeader = "User " + userSecret + ", Organization " + orgSecret
	apiPrefix  = "/elements/api-v2"

	testSet = "acme-migration"
	testFP  = "0123456789abcdef"

	secAPIKey  = "hapikey-3a9990ff"
	secClient  = "client-secret-xyz789"
	secCode    = "xoz8AFqScK2ngM04kSSM"
	secAccess  = "access-CLrzzsWRKxICAQEY"
	secRefresh = "refresh-9b5eced4-f557"
	secToken   = "ABC/Dxxxx/9DROw="
	clientID   = "6a1f0c9e-0000-4000-8000-000000000001"
	callback   = "https://www.mycoolapp.com/auth"
)

var allSecrets = []string{userSecret, orgSecret, secAPIKey, secClient, secCode, secAccess, secRefresh, secToken}

// captured is one request as the server saw it.
type captured struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
}

// reply is one canned answer.
type reply struct {
	status int
	header map[string]string
	body   string
}

// fakeAPI answers with replies in order (the last one repeats) and records
// every request.
type fakeAPI struct {
	mu      sync.Mutex
	reqs    []captured
	replies []reply
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, captured{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: b})
	rep := f.replies[min(len(f.reqs), len(f.replies))-1]
	f.mu.Unlock()
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if rep.status == 0 {
		rep.status = http.StatusOK
	}
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

func (f *fakeAPI) requests() []captured {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]captured(nil), f.reqs...)
}

func creds() manifest.Credentials {
	return manifest.Credentials{User: manifest.LiteralSecret(userSecret), Organization: manifest.LiteralSecret(orgSecret)}
}

var fixedNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func newTestClient(t *testing.T, replies ...reply) (*Client, *fakeAPI) {
	t.Helper()
	f := &fakeAPI{replies: replies}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c := New(srv.URL+apiPrefix, srv.Client(), creds(), manifest.OpenConnectors)
	c.now = func() time.Time { return fixedNow }
	return c, f
}

func lit(s string) manifest.Secret { return manifest.LiteralSecret(s) }

func account(element string, auth manifest.AuthType) manifest.Account {
	a := manifest.Account{Name: "acme-marketing", Element: element, Tags: []string{"Docs"}}
	if element == manifest.ElementCRM {
		a.Name = "acme-crm"
	}
	switch auth {
	case manifest.AuthAPIKey:
		a.Auth = manifest.Auth{Type: auth, APIKey: lit(secAPIKey)}
	case manifest.AuthOAuth2:
		a.Auth = manifest.Auth{Type: auth, ClientID: clientID, ClientSecret: lit(secClient), CallbackURL: callback,
			Scopes: []string{"crm.objects.contacts.read"}, Code: lit(secCode)}
	case manifest.AuthOAuth2Tokens:
		a.Auth = manifest.Auth{Type: auth, ClientID: clientID, ClientSecret: lit(secClient), CallbackURL: callback,
			Scopes: []string{"contacts-rw", "offline"}, AccessToken: lit(secAccess), RefreshToken: lit(secRefresh)}
	}
	return a
}

func desired(a manifest.Account) provision.Desired {
	return provision.Desired{Account: a, Set: testSet, Fingerprint: testFP}
}

// instanceJSON is a response instance as the seeds show it.
func instanceJSON(id int, name string, tags ...string) string {
	tb, _ := json.Marshal(tags)
	return `{"id":` + itoa(id) + `,"name":"` + name + `","token":"` + secToken + `",
	"element":{"id":229,"key":"hubspotcrm","authentication":{"type":"oauth2"}},"elementId":229,
	"tags":` + string(tb) + `,"valid":true,"disabled":false,
	"configuration":{"oauth.api.secret":"********","create.bulk.properties":"false","event.notification.subscription.id":null,
	"oauth.user.token":"CLrzzsWRKxICAQEYjNsaIPyJLCjmrQIyGQBC","filter.response.nulls":"true","event.poller.refresh_interval":15}}`
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func checkHeaders(t *testing.T, r captured) {
	t.Helper()
	for k, want := range map[string]string{"Authorization": authHeader, "Content-Type": "application/json", "Accept": "application/json"} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("%s %s: header %s = %q, want %q", r.Method, r.Path, k, got, want)
		}
	}
}

func TestCreateBodyMatchesSeeds(t *testing.T) {
	crmAPIKey := account(manifest.ElementCRM, manifest.AuthAPIKey)
	crmAPIKey.Configuration = map[string]any{"create.bulk.properties": true, "filter.response.nulls": "false", "event.notification.enabled": false}

	crmOAuth2 := account(manifest.ElementCRM, manifest.AuthOAuth2)
	crmOAuth2.Tags = nil
	// Auth keys in the user's configuration do not override the auth block.
	crmOAuth2.Configuration = map[string]any{"oauth.api.secret": "user-override", "authentication.type": "apiKey"}

	crmTokens := account(manifest.ElementCRM, manifest.AuthOAuth2Tokens)
	crmTokens.Tags = []string{"tier-1"}
	crmTokens.Auth.Scopes = []string{"crm.objects.contacts.read", "crm.objects.contacts.write", "timeline"}
	crmTokens.Auth.ExpiresIn = 600
	crmTokens.Configuration = map[string]any{"create.bulk.properties": false, "event.notification.enabled": false}

	tests := []struct {
		golden  string
		account manifest.Account
	}{
		// Seed 000 (CE HubSpot Marketing "Create Instance"), "HubSpot Marketing Quick Provision" /
		// "Token Based Authentication", with the value types of seed 003 (OC Hubspot Marketing),
		// "API Key API Authentication" step 1 body.
		{"create-hubspot-apiKey.json", account(manifest.ElementMarketing, manifest.AuthAPIKey)},
		// Seed 002 (CE HubSpot CRM authenticate), "To authenticate using a Hubspot HAPIkey" body;
		// user values converted to the seed's types.
		{"create-hubspotcrm-apiKey.json", crmAPIKey},
		// Seed 003 (OC Hubspot Marketing), "Authenticating the Connector Instance" step 1 body
		// (seed 000 "OAuth 2" / "Step 2. Create an Instance" shows the same keys minus the defaults).
		{"create-hubspot-oauth2.json", account(manifest.ElementMarketing, manifest.AuthOAuth2)},
		// Seed 002 (CE HubSpot CRM authenticate), "To create an element instance" step 1 body.
		{"create-hubspotcrm-oauth2.json", crmOAuth2},
		// Seed 000 "OAuth 2 Legacy" / "Step 2. Create an Instance" body (also seed 001 "Step 2").
		{"create-hubspot-oauth2Tokens.json", account(manifest.ElementMarketing, manifest.AuthOAuth2Tokens)},
		// Seed 000 "OAuth 2 Legacy" / "Step 2" shape for hubspotcrm; expires_in from expiresIn, a string.
		{"create-hubspotcrm-oauth2Tokens.json", crmTokens},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			c, f := newTestClient(t, reply{body: instanceJSON(58772, tt.account.Name, append(append([]string{}, tt.account.Tags...), "hubprov:set="+testSet, "hubprov:spec="+testFP)...)})
			got, err := c.Create(context.Background(), desired(tt.account))
			if err != nil {
				t.Fatal(err)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != apiPrefix+"/instances" || len(r.Query) != 0 {
				t.Errorf("request %s %s?%s, want POST %s/instances", r.Method, r.Path, r.Query.Encode(), apiPrefix)
			}
			checkHeaders(t, r)
			want, err := os.ReadFile(filepath.Join("testdata", tt.golden))
			if err != nil {
				t.Fatal(err)
			}
			if g, w := decode(t, r.Body), decode(t, want); !reflect.DeepEqual(g, w) {
				t.Errorf("body sent:\n%s\nwant (testdata/%s):\n%s", r.Body, tt.golden, want)
			}
			if got.ID != "58772" || got.Token.Reveal() != secToken || got.Set != testSet || got.Fingerprint != testFP ||
				!got.Valid || !got.Enabled || got.Element != "hubspotcrm" || got.Name != tt.account.Name {
				t.Errorf("instance = %+v", got)
			}
			if !reflect.DeepEqual(got.Tags, tt.account.Tags) {
				t.Errorf("tags = %q, want %q", got.Tags, tt.account.Tags)
			}
			wantCfg := map[string]string{"create.bulk.properties": "false", "filter.response.nulls": "true"}
			if !reflect.DeepEqual(got.Configuration, wantCfg) {
				t.Errorf("configuration = %v, want %v (masked, null, non-string and secret values dropped)", got.Configuration, wantCfg)
			}
		})
	}
}

func TestRequests(t *testing.T) {
	acct := account(manifest.ElementCRM, manifest.AuthOAuth2Tokens)
	acct.Configuration = map[string]any{"event.notification.enabled": true}
	cur := provision.Instance{ID: "58772", Name: "acme-crm", Token: lit(secToken)}
	inst := instanceJSON(58772, "acme-crm", "Docs", "hubprov:set="+testSet, "hubprov:spec="+testFP)

	tests := []struct {
		name       string
		call       func(c *Client) error
		reply      reply
		method     string
		path       string
		query      url.Values
		body       string // JSON, compared decoded; "" means no body
		wantNoBody bool
	}{
		{
			name:   "list",
			call:   func(c *Client) error { _, err := listSet(c, context.Background(), testSet); return err },
			reply:  reply{body: "[" + inst + "]"},
			method: "GET", path: "/instances",
			query: url.Values{"tags[]": {"hubprov:set=" + testSet}, "pageSize": {"200"}},
		},
		{
			name:   "lookup",
			call:   func(c *Client) error { _, err := lookupName(c, context.Background(), testSet, "acme-crm"); return err },
			reply:  reply{body: "[" + inst + "]"},
			method: "GET", path: "/instances",
			query: url.Values{"tags[]": {"hubprov:set=" + testSet}, "searchText": {"acme-crm"}},
		},
		{
			name:   "get",
			call:   func(c *Client) error { _, err := c.Get(context.Background(), "58772"); return err },
			reply:  reply{body: inst},
			method: "GET", path: "/instances/58772", query: url.Values{},
		},
		{
			name: "update tags only",
			call: func(c *Client) error {
				_, err := c.Update(context.Background(), cur, desired(acct))
				return err
			},
			reply:  reply{body: inst},
			method: "PATCH", path: "/instances/58772", query: url.Values{},
			body: `{"tags":["Docs","hubprov:set=acme-migration","hubprov:spec=0123456789abcdef"]}`,
		},
		{
			name: "update a configuration key",
			call: func(c *Client) error {
				d := desired(acct)
				d.Send.Configuration = []string{"event.notification.enabled"}
				_, err := c.Update(context.Background(), cur, d)
				return err
			},
			reply:  reply{body: inst},
			method: "PATCH", path: "/instances/58772", query: url.Values{},
			body: `{"tags":["Docs","hubprov:set=acme-migration","hubprov:spec=0123456789abcdef"],
				"configuration":{"event.notification.enabled":true}}`,
		},
		{
			name: "update element",
			call: func(c *Client) error {
				d := desired(acct)
				d.Send.Element = true
				_, err := c.Update(context.Background(), cur, d)
				return err
			},
			reply:  reply{body: inst},
			method: "PATCH", path: "/instances/58772", query: url.Values{},
			body: `{"element":{"key":"hubspotcrm"},"tags":["Docs","hubprov:set=acme-migration","hubprov:spec=0123456789abcdef"]}`,
		},
		{
			name: "update hidden auth settings oauth2",
			call: func(c *Client) error {
				d := desired(account(manifest.ElementCRM, manifest.AuthOAuth2))
				d.Send.Auth, d.Send.Name = true, true
				_, err := c.Update(context.Background(), cur, d)
				return err
			},
			reply:  reply{body: inst},
			method: "PATCH", path: "/instances/58772", query: url.Values{},
			body: `{"name":"acme-crm","tags":["Docs","hubprov:set=acme-migration","hubprov:spec=0123456789abcdef"],
				"configuration":{"authentication.type":"oauth2","oauth.api.key":"` + clientID + `","oauth.callback.url":"` + callback + `"}}`,
		},
		{
			name: "update credentials oauth2Tokens",
			call: func(c *Client) error {
				d := desired(acct)
				d.Send.Credentials = true
				_, err := c.Update(context.Background(), cur, d)
				return err
			},
			reply:  reply{body: inst},
			method: "PATCH", path: "/instances/58772", query: url.Values{},
			body: `{"tags":["Docs","hubprov:set=acme-migration","hubprov:spec=0123456789abcdef"],
				"configuration":{"oauth.api.key":"` + clientID + `","oauth.api.secret":"` + secClient + `",
					"oauth.callback.url":"` + callback + `","oauth.scope":"contacts-rw+offline"},
				"providerData":{"apikey":"` + clientID + `","access_token":"` + secAccess + `","refresh_token":"` + secRefresh + `","expires_in":"1800"}}`,
		},
		{
			name: "update a rotated client secret oauth2 sends no code",
			call: func(c *Client) error {
				d := desired(account(manifest.ElementCRM, manifest.AuthOAuth2))
				d.Send.Credentials = true
				_, err := c.Update(context.Background(), cur, d)
				return err
			},
			reply:  reply{body: inst},
			method: "PATCH", path: "/instances/58772", query: url.Values{},
			body: `{"tags":["Docs","hubprov:set=acme-migration","hubprov:spec=0123456789abcdef"],
				"configuration":{"authentication.type":"oauth2",
					"oauth.api.key":"` + clientID + `","oauth.api.secret":"` + secClient + `","oauth.callback.url":"` + callback + `"}}`,
		},
		{
			name: "update a new code oauth2",
			call: func(c *Client) error {
				d := desired(account(manifest.ElementCRM, manifest.AuthOAuth2))
				d.Send.Credentials, d.Send.Code = true, true
				_, err := c.Update(context.Background(), cur, d)
				return err
			},
			reply:  reply{body: inst},
			method: "PATCH", path: "/instances/58772", query: url.Values{},
			body: `{"tags":["Docs","hubprov:set=acme-migration","hubprov:spec=0123456789abcdef"],
				"configuration":{"authentication.type":"oauth2",
					"oauth.api.key":"` + clientID + `","oauth.api.secret":"` + secClient + `","oauth.callback.url":"` + callback + `"},
				"providerData":{"code":"` + secCode + `"}}`,
		},
		{
			name: "update credentials apiKey has no providerData",
			call: func(c *Client) error {
				d := desired(account(manifest.ElementCRM, manifest.AuthAPIKey))
				d.Send.Credentials = true
				_, err := c.Update(context.Background(), cur, d)
				return err
			},
			reply:  reply{body: inst},
			method: "PATCH", path: "/instances/58772", query: url.Values{},
			body: `{"tags":["Docs","hubprov:set=acme-migration","hubprov:spec=0123456789abcdef"],
				"configuration":{"authentication.type":"apiKey","hubspot.authorization.apikey":"` + secAPIKey + `"}}`,
		},
		{
			name:   "delete",
			call:   func(c *Client) error { return c.Delete(context.Background(), cur) },
			reply:  reply{},
			method: "DELETE", path: "/instances/58772", query: url.Values{},
		},
		{
			name: "oauth url",
			call: func(c *Client) error {
				_, err := c.OAuthURL(context.Background(), "hubspotcrm", clientID, lit(secClient), callback,
					[]string{"crm.objects.contacts.read", "timeline", "files"}, "acme-crm")
				return err
			},
			reply:  reply{body: `{"element":"hubspotcrm","oauthUrl":"https://app.hubspot.com/oauth/authorize?client_id=x"}`},
			method: "GET", path: "/elements/hubspotcrm/oauth/url",
			query: url.Values{"apiKey": {clientID}, "apiSecret": {secClient}, "callbackUrl": {callback},
				"scope": {"crm.objects.contacts.read timeline files"}, "state": {"acme-crm"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f := newTestClient(t, tt.reply)
			if err := tt.call(c); err != nil {
				t.Fatal(err)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != tt.method || r.Path != apiPrefix+tt.path {
				t.Errorf("request %s %s, want %s %s", r.Method, r.Path, tt.method, apiPrefix+tt.path)
			}
			if !reflect.DeepEqual(r.Query, tt.query) {
				t.Errorf("query %v, want %v", r.Query, tt.query)
			}
			checkHeaders(t, r)
			if tt.body == "" {
				if len(r.Body) != 0 {
					t.Errorf("body %s, want none", r.Body)
				}
				return
			}
			if g, w := decode(t, r.Body), decode(t, []byte(tt.body)); !reflect.DeepEqual(g, w) {
				t.Errorf("body sent:\n%s\nwant:\n%s", r.Body, tt.body)
			}
		})
	}
}

func TestOAuthURLEncodesScopeWithPercent20(t *testing.T) {
	var raw string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw = r.URL.RawQuery
		_, _ = io.WriteString(w, `{"element":"hubspot","oauthUrl":"https://app.hubspot.com/oauth/authorize?x=1"}`)
	}))
	defer srv.Close()
	c := New(srv.URL, srv.Client(), creds(), manifest.CloudElements)
	got, err := c.OAuthURL(context.Background(), "hubspot", clientID, lit(secClient), callback, []string{"content", "forms"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if got != "https://app.hubspot.com/oauth/authorize?x=1" {
		t.Errorf("oauthUrl = %q", got)
	}
	if !strings.Contains(raw, "scope=content%20forms") || strings.Contains(raw, "state=") {
		t.Errorf("raw query %q: want scope=content%%20forms and no state", raw)
	}
}

func TestUpdateEmptyResponse(t *testing.T) {
	c, _ := newTestClient(t, reply{})
	cur := provision.Instance{ID: "7", Name: "acme-crm", Token: lit(secToken), Valid: true, Enabled: true}
	a := account(manifest.ElementCRM, manifest.AuthAPIKey)
	a.Name = "acme-crm"
	got, err := c.Update(context.Background(), cur, desired(a))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "7" || got.Set != testSet || got.Fingerprint != testFP || !reflect.DeepEqual(got.Tags, []string{"Docs"}) {
		t.Errorf("update = %+v", got)
	}
}

func TestListPaging(t *testing.T) {
	page := func(ids ...int) string {
		var parts []string
		for _, id := range ids {
			parts = append(parts, instanceJSON(id, "n"+itoa(id), "hubprov:set="+testSet, "hubprov:spec=fp"))
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	c, f := newTestClient(t,
		reply{header: map[string]string{"Elements-Next-Page-Token": "tok-2", "Elements-Total-Count": "5"}, body: page(1, 2)},
		reply{header: map[string]string{"Elements-Next-Page-Token": "tok-3"}, body: page(3, 4)},
		// An instance another set's marker leaked into: dropped.
		reply{body: "[" + instanceJSON(5, "n5", "hubprov:set=other") + "," + instanceJSON(6, "n6", "hubprov:set="+testSet) + "]"},
	)
	got, err := listSet(c, context.Background(), testSet)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, in := range got {
		ids = append(ids, in.ID)
	}
	if want := []string{"1", "2", "3", "4", "6"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("ids = %v, want %v", ids, want)
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for i, wantTok := range []string{"", "tok-2", "tok-3"} {
		q := reqs[i].Query
		if q.Get("nextPage") != wantTok || q.Get("tags[]") != "hubprov:set="+testSet || q.Get("pageSize") != "200" {
			t.Errorf("request %d query %v, want nextPage=%q with the tag and pageSize", i, q, wantTok)
		}
	}
}

func TestNotFoundMeansEmpty(t *testing.T) {
	nf := reply{status: 404, body: `{"requestId":"r404","message":"No instances found"}`}
	c, _ := newTestClient(t, nf)
	got, err := listSet(c, context.Background(), testSet)
	if err != nil || len(got) != 0 {
		t.Errorf("List on 404 = %v, %v; want empty, nil", got, err)
	}
	in, err := lookupName(c, context.Background(), testSet, "acme-crm")
	if err != nil || in != nil {
		t.Errorf("Lookup on 404 = %v, %v; want nil, nil", in, err)
	}
}

func TestLookupExactName(t *testing.T) {
	c, _ := newTestClient(t, reply{body: "[" +
		instanceJSON(1, "acme-crm-2", "hubprov:set="+testSet) + "," +
		instanceJSON(2, "acme-crm", "hubprov:set=other") + "," +
		instanceJSON(3, "acme-crm", "hubprov:set="+testSet, "hubprov:spec=ff") + "]"})
	in, err := lookupName(c, context.Background(), testSet, "acme-crm")
	if err != nil {
		t.Fatal(err)
	}
	if in == nil || in.ID != "3" || in.Fingerprint != "ff" {
		t.Errorf("Lookup = %+v, want id 3", in)
	}
	c, _ = newTestClient(t, reply{body: "[" + instanceJSON(1, "acme-crm-2", "hubprov:set="+testSet) + "]"})
	if in, err := lookupName(c, context.Background(), testSet, "acme-crm"); err != nil || in != nil {
		t.Errorf("Lookup of a substring match = %+v, %v; want nil", in, err)
	}
}

func TestStatusErrors(t *testing.T) {
	httpDate := fixedNow.Add(45 * time.Second).Format(http.TimeFormat)
	tests := []struct {
		status    int
		header    map[string]string
		body      string
		op        string
		wantClass provision.Class
		wantReq   string
		wantMsg   string
		wantRetry time.Duration
	}{
		{400, nil, `{"requestId":"r400","message":"Missing configuration entries: oauth.api.key"}`, "create", provision.Item, "r400", "Missing configuration entries: oauth.api.key", 0},
		{401, nil, `{"requestId":"r401","message":"Invalid Organization or User secret, or invalid Element token provided."}`, "list", provision.Systemic, "r401", "Invalid Organization or User secret, or invalid Element token provided.", 0},
		{403, nil, `{"requestId":"r403","message":"Forbidden"}`, "update", provision.Systemic, "r403", "Forbidden", 0},
		{404, nil, `{"requestId":"r404","message":"No instance found with ID 9"}`, "get", provision.Item, "r404", "No instance found with ID 9", 0},
		{404, nil, `{"requestId":"r404d","message":"No instance found"}`, "delete", provision.Item, "r404d", "No instance found", 0},
		{409, nil, `{"requestId":"r409","message":"already exists","providerMessage":"dup"}`, "create", provision.Item, "r409", "already exists (provider: dup)", 0},
		{412, nil, `{"requestId":"r412","message":"precondition"}`, "update", provision.Item, "r412", "precondition", 0},
		{429, map[string]string{"Retry-After": "7"}, `{"requestId":"r429","message":"Too many requests"}`, "create", provision.Transient, "r429", "Too many requests", 7 * time.Second},
		{429, map[string]string{"Retry-After": httpDate, "Date": fixedNow.Format(http.TimeFormat)}, `{"requestId":"r429d","message":"slow down"}`, "list", provision.Transient, "r429d", "slow down", 46 * time.Second}, // to the end of the second named
		{500, nil, `{"requestId":"r500","message":"Internal error"}`, "create", provision.Ambiguous, "r500", "Internal error", 0},
		{500, nil, `{"requestId":"r500g","message":"Internal error"}`, "get", provision.Transient, "r500g", "Internal error", 0},
		{503, map[string]string{"X-Request-Id": "hdr-503"}, `<html>Service Unavailable</html>`, "create", provision.Transient, "hdr-503", "<html>Service Unavailable</html>", 0},
		{502, nil, ``, "delete", provision.Transient, "", "Bad Gateway", 0},
	}
	for _, tt := range tests {
		t.Run(itoa(tt.status)+"-"+tt.op, func(t *testing.T) {
			c, _ := newTestClient(t, reply{status: tt.status, header: tt.header, body: tt.body})
			err := callOp(c, tt.op)
			var ae *provision.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *APIError", err)
			}
			if ae.Platform != "open-connectors" || ae.Op != tt.op || ae.Status != tt.status || ae.RequestID != tt.wantReq ||
				ae.Message != tt.wantMsg || ae.RetryAfter != tt.wantRetry || ae.Err != nil {
				t.Errorf("APIError = %+v\nwant op %s status %d request id %q message %q retry %v", ae, tt.op, tt.status, tt.wantReq, tt.wantMsg, tt.wantRetry)
			}
			if got := provision.Classify(err); got != tt.wantClass {
				t.Errorf("class = %s, want %s", got, tt.wantClass)
			}
		})
	}
}

// callOp runs the client method behind op against a fixed account.
func callOp(c *Client, op string) error {
	ctx := context.Background()
	d := desired(account(manifest.ElementCRM, manifest.AuthOAuth2Tokens))
	d.Account.Auth.Code = lit(secCode)
	d.Account.Auth.APIKey = lit(secAPIKey)
	d.Send.Credentials, d.Send.Code = true, true
	cur := provision.Instance{ID: "58772", Token: lit(secToken)}
	var err error
	switch op {
	case "list":
		// One page, one attempt: the engine would wait out a 429 (throttles
		// spend no attempts), and this test is about the client's mapping.
		_, err = c.ListPage(ctx, provision.Query{Set: testSet}, "")
	case "lookup":
		// 404 is "none" for lookup, so a 404 test does not use it.
		_, err = lookupName(c, ctx, testSet, "acme-crm")
	case "get":
		_, err = c.Get(ctx, "58772")
	case "create":
		_, err = c.Create(ctx, d)
	case "update":
		_, err = c.Update(ctx, cur, d)
	case "delete":
		err = c.Delete(ctx, cur)
	case "oauth-url":
		_, err = c.OAuthURL(ctx, "hubspot", clientID, lit(secClient), callback, []string{"files"}, "s")
	default:
		panic(op)
	}
	return err
}

// resetServer accepts connections, reads the request head and resets the
// connection without answering.
func resetServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, _ = conn.Read(buf)
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = conn.Close()
		}
	}()
	return "http://" + ln.Addr().String()
}

func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr
}

func TestTransportErrors(t *testing.T) {
	reset := resetServer(t)
	refused := refusedURL(t)
	tests := []struct {
		name, base, op string
		want           provision.Class
	}{
		{"reset on create", reset, "create", provision.Ambiguous},
		{"reset on list", reset, "list", provision.Transient},
		{"reset on update", reset, "update", provision.Transient},
		{"refused on create", refused, "create", provision.Transient},
		{"refused on list", refused, "list", provision.Transient},
		{"reset on oauth url", reset, "oauth-url", provision.Transient},
		{"refused on oauth url", refused, "oauth-url", provision.Transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(tt.base+apiPrefix, &http.Client{Timeout: 5 * time.Second}, creds(), manifest.CloudElements)
			err := callOp(c, tt.op)
			var ae *provision.APIError
			if !errors.As(err, &ae) || ae.Status != 0 || ae.Err == nil || ae.Op != tt.op || ae.Platform != "cloud-elements" {
				t.Fatalf("error = %#v, want a transport *APIError", err)
			}
			if got := provision.Classify(err); got != tt.want {
				t.Errorf("class = %s, want %s (err %v)", got, tt.want, err)
			}
			msg := err.Error()
			for _, s := range allSecrets {
				if strings.Contains(msg, s) || strings.Contains(msg, url.QueryEscape(s)) {
					t.Errorf("error text %q holds secret %q", msg, s)
				}
			}
			if strings.Contains(msg, "/oauth/url") || strings.Contains(msg, "apiSecret") {
				t.Errorf("error text %q holds the request URL", msg)
			}
		})
	}
}

func TestCanceledContext(t *testing.T) {
	c, _ := newTestClient(t, reply{body: "[]"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := listSet(c, ctx, testSet)
	if !errors.Is(err, context.Canceled) || provision.Classify(err) != provision.Canceled {
		t.Errorf("List with canceled context = %v (class %s)", err, provision.Classify(err))
	}
}

// TestSecretsScrubbed has a server echo every secret the client sent, in the
// ways a careless platform would: in the message and the request id, decoded
// or still escaped as on the wire. None may reach the error text.
func TestSecretsScrubbed(t *testing.T) {
	received := func(r *http.Request) string {
		b, _ := io.ReadAll(r.Body)
		// The instance token: a platform knows it for the instance in the path.
		return "auth=" + r.Header.Get("Authorization") + " query=" + r.URL.RawQuery + " body=" + string(b) + " token=" + secToken
	}
	echo := func(w http.ResponseWriter, r *http.Request) {
		msg := received(r)
		if q, err := url.QueryUnescape(r.URL.RawQuery); err == nil {
			msg += " decoded=" + q
		}
		w.Header().Set("X-Request-Id", "req-"+userSecret)
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"requestId": "id-" + orgSecret, "message": msg})
	}
	raw := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "panic: "+received(r))
	}
	// The secrets each call knows: the credentials, those of the request, and
	// the instance token where the caller passed one.
	known := map[string][]string{
		"list":      {userSecret, orgSecret},
		"lookup":    {userSecret, orgSecret},
		"get":       {userSecret, orgSecret},
		"create":    {userSecret, orgSecret, secClient, secAccess, secRefresh},
		"update":    {userSecret, orgSecret, secClient, secAccess, secRefresh, secToken},
		"delete":    {userSecret, orgSecret, secToken},
		"oauth-url": {userSecret, orgSecret, secClient},
	}
	for name, h := range map[string]http.HandlerFunc{"json echo": echo, "raw text": raw} {
		for op, secrets := range known {
			t.Run(name+"/"+op, func(t *testing.T) {
				srv := httptest.NewServer(h)
				defer srv.Close()
				c := New(srv.URL, srv.Client(), creds(), manifest.CloudElements)
				err := callOp(c, op)
				var ae *provision.APIError
				if !errors.As(err, &ae) || ae.Status == 0 {
					t.Fatalf("error %v: want an HTTP *APIError", err)
				}
				text := err.Error() + " " + ae.RequestID + " " + ae.Message
				for _, s := range secrets {
					if strings.Contains(text, s) || strings.Contains(text, url.QueryEscape(s)) {
						t.Errorf("error holds secret %q: %s", s, text)
					}
				}
				if !strings.Contains(text, redacted) {
					t.Errorf("error %q: want [redacted] where the secrets were", text)
				}
				if len(ae.Message) > maxMessage+len("…") {
					t.Errorf("message is %d bytes, want at most %d", len(ae.Message), maxMessage)
				}
			})
		}
	}
}

func TestMessageCapped(t *testing.T) {
	c, _ := newTestClient(t, reply{status: 400, body: `{"message":"` + strings.Repeat("é", 1000) + `"}`})
	_, err := c.Get(context.Background(), "1")
	var ae *provision.APIError
	if !errors.As(err, &ae) {
		t.Fatal(err)
	}
	if len(ae.Message) > maxMessage+len("…") || !strings.HasSuffix(ae.Message, "…") || !utf8Valid(ae.Message) {
		t.Errorf("message of %d bytes not capped cleanly", len(ae.Message))
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestInstanceIDForms(t *testing.T) {
	for _, body := range []string{`{"id":58772}`, `{"id":"58772"}`} {
		c, _ := newTestClient(t, reply{body: body})
		in, err := c.Get(context.Background(), "58772")
		if err != nil || in.ID != "58772" || !in.Enabled || in.Token.Reveal() != "" {
			t.Errorf("Get with %s = %+v, %v", body, in, err)
		}
	}
}

func TestName(t *testing.T) {
	if got := New("", nil, creds(), manifest.OpenConnectors).Name(); got != manifest.OpenConnectors {
		t.Errorf("Name = %s", got)
	}
	c := New("", nil, creds(), manifest.CloudElements)
	if c.base != DefaultBaseURL {
		t.Errorf("base = %s", c.base)
	}
}

// Acceptance 6: the platform's own create example answers tags as objects; the
// create succeeds with its id, markers read from the objects.
func TestCreateAnswerWithTagObjects(t *testing.T) {
	body := strings.Replace(instanceJSON(58772, "acme-crm"), `"tags":null`,
		`"tags":[{"id":12,"name":"Docs"},{"id":13,"name":"hubprov:set=`+testSet+`"},{"id":14,"name":"hubprov:spec=`+testFP+`"}]`, 1)
	c, _ := newTestClient(t, reply{body: body})
	in, err := c.Create(context.Background(), desired(account(manifest.ElementCRM, manifest.AuthAPIKey)))
	if err != nil {
		t.Fatalf("create answered with tag objects: %v", err)
	}
	if in.ID != "58772" || !reflect.DeepEqual(in.Tags, []string{"Docs"}) || in.Set != testSet || in.Fingerprint != testFP {
		t.Errorf("create = %+v", in)
	}
	for _, bad := range []string{`"tags":[{"id":12}]`, `"tags":[12]`, `"tags":"x"`} {
		c, _ := newTestClient(t, reply{body: strings.Replace(instanceJSON(1, "x"), `"tags":null`, bad, 1)})
		if _, err := c.Get(context.Background(), "1"); err == nil {
			t.Errorf("tags %s: no error", bad)
		}
	}
}

// listSet lists the set through the engine's pagination, one attempt per request.
func listSet(c *Client, ctx context.Context, set string) ([]provision.Instance, error) {
	return provision.NewRun(c, provision.Options{MaxAttempts: 1}).List(ctx, set)
}

// lookupName looks name up through the engine, one attempt per request.
func lookupName(c *Client, ctx context.Context, set, name string) (*provision.Instance, error) {
	return provision.NewRun(c, provision.Options{MaxAttempts: 1}).Lookup(ctx, set, name)
}

// redacted and maxMessage are the scrubber's mark and message cap (package httpapi).
const (
	redacted   = "[redacted]"
	maxMessage = 512
)
