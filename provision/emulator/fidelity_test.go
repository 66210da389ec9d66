package emulator

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// These tests pin the places where the emulator must behave as the platforms
// do because a client can go wrong there (PRODUCT.md section 7): each would
// have caught a client bug that a lenient emulator hides.

func oauthCreate(name, code string) string {
	return fmt.Sprintf(`{"element":{"key":"hubspotcrm"},"name":%q,"tags":["hubprov:set=s"],
	  "configuration":{"authentication.type":"oauth2","oauth.api.key":"client-1","oauth.api.secret":"app-secret",
	    "oauth.callback.url":"https://app.example.com/auth"},"providerData":{"code":%q}}`, name, code)
}

// An authorization code is single-use (RFC 6749 section 4.1.2): a second
// exchange is refused as HubSpot refuses it (BAD_AUTH_CODE), and the grant the
// code produced is revoked.
func TestReusedCodeRefused(t *testing.T) {
	e, s := start(t, Options{})
	base := s.CloudElementsURL()
	r := call(t, testClient, "POST", base+"/instances", ceHeader(), oauthCreate("acme", "code-1"))
	if r.status != 200 {
		t.Fatalf("first create: %d %s", r.status, r.body)
	}
	id := fmt.Sprint(r.obj(t)["id"])

	r = call(t, testClient, "POST", base+"/instances", ceHeader(), oauthCreate("acme-2", "code-1"))
	if r.status != 400 || !strings.Contains(string(r.body), "BAD_AUTH_CODE") || !strings.Contains(string(r.body), `"providerMessage"`) {
		t.Fatalf("create with a used code: %d %s, want 400 with the provider's BAD_AUTH_CODE", r.status, r.body)
	}
	if st := e.Stats(); st.ReusedCodes != 1 || st.Creates != 1 || st.CEInstances != 1 {
		t.Fatalf("stats %+v: want 1 reused code, 1 create", st)
	}
	if v, _ := e.Instance(id); v.Valid {
		t.Error("the grant of a replayed code stays valid; want it revoked (valid: false)")
	}

	// A PATCH re-runs the exchange: a used code is refused there too.
	r = call(t, testClient, "PATCH", base+"/instances/"+id, ceHeader(), `{"tags":["hubprov:set=s","x"],"providerData":{"code":"code-1"}}`)
	if r.status != 400 || !strings.Contains(string(r.body), "BAD_AUTH_CODE") {
		t.Fatalf("PATCH with the used code: %d %s", r.status, r.body)
	}
	if v, _ := e.Instance(id); len(v.Tags) != 1 || v.Updates != 0 {
		t.Errorf("a refused PATCH changed the instance: %+v", v)
	}
	// A new code (a new consent) is accepted and makes the instance valid again.
	r = call(t, testClient, "PATCH", base+"/instances/"+id, ceHeader(), `{"providerData":{"code":"code-2"}}`)
	if v, _ := e.Instance(id); r.status != 200 || !v.Valid {
		t.Fatalf("PATCH with a new code: %d %s, valid %v", r.status, r.body, v.Valid)
	}
	// PUT too.
	put := strings.Replace(oauthCreate("acme", "code-2"), `"element":{"key":"hubspotcrm"},`, "", 1)
	if r = call(t, testClient, "PUT", base+"/instances/"+id, ceHeader(), put); r.status != 400 {
		t.Errorf("PUT with a used code: %d %s", r.status, r.body)
	}
	if st := e.Stats(); st.ReusedCodes != 3 || st.Updates != 1 {
		t.Errorf("stats %+v: want 3 reused codes, 1 update", st)
	}

	// The used codes survive a snapshot, as they do on the platform.
	var buf strings.Builder
	if err := e.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "code-1") || strings.Contains(buf.String(), "code-2") {
		t.Errorf("the state file holds an authorization code:\n%s", buf.String())
	}
	e2, s2 := start(t, Options{})
	if err := e2.Restore(strings.NewReader(buf.String())); err != nil {
		t.Fatal(err)
	}
	if r = call(t, testClient, "POST", s2.CloudElementsURL()+"/instances", ceHeader(), oauthCreate("acme-3", "code-2")); r.status != 400 {
		t.Errorf("after restore, a used code: %d", r.status)
	}
}

// Updates that carry credentials (providerData, a secret configuration key,
// Flow Service /auth/params) are counted, accepted or not.
func TestCredentialUpdatesCounted(t *testing.T) {
	e, s := start(t, Options{})
	base := s.CloudElementsURL()
	id := e.AddInstance(Seed{Name: "acme", Tags: []string{"hubprov:set=s"}})
	fid := e.AddConnection(FlowSeed{Name: "flow", AuthParams: map[string]string{"clientId": "c", "clientSecret": "s", "accessToken": "a", "refreshToken": "r"}})
	tests := []struct {
		body string
		cred bool
	}{
		{`{"tags":["hubprov:set=s","t"]}`, false},
		{`{"name":"acme","configuration":{"event.notification.enabled":"true"}}`, false},
		{`{"configuration":{"hubspot.authorization.apikey":"k2"}}`, true},
		{`{"configuration":{"oauth.api.secret":"s2"}}`, true},
		{`{"configuration":{"oauth.api.key":"client-2"}}`, true}, // masked by the platform
		{`{"providerData":{"access_token":"a","refresh_token":"r"}}`, true},
	}
	want := 0
	for _, tc := range tests {
		if tc.cred {
			want++
		}
		if r := call(t, testClient, "PATCH", base+"/instances/"+id, ceHeader(), tc.body); r.status != 200 {
			t.Fatalf("PATCH %s: %d %s", tc.body, r.status, r.body)
		}
		if got := e.Stats().CredentialUpdates; got != want {
			t.Errorf("after PATCH %s: %d updates carrying credentials, want %d", tc.body, got, want)
		}
	}
	flow := []struct {
		ops  string
		cred bool
	}{
		{`[{"op":"replace","path":"/description","value":"d"}]`, false},
		{`[{"op":"replace","path":"/auth/params/clientId","value":"c2"}]`, false},
		{`[{"op":"replace","path":"/auth/params/accessToken","value":"a2"}]`, true},
		{`[{"op":"replace","path":"/auth/params","value":{"clientId":"c","clientSecret":"s","accessToken":"a","refreshToken":"r"}}]`, true},
	}
	for _, tc := range flow {
		if tc.cred {
			want++
		}
		v, _ := e.Instance(fid)
		if r := call(t, testClient, "PATCH", s.FlowServiceURL()+"/connections/"+fid, with(flowHeader(), "If-Match", v.ETag), tc.ops); r.status != 200 {
			t.Fatalf("PATCH %s: %d %s", tc.ops, r.status, r.body)
		}
		if got := e.Stats().CredentialUpdates; got != want {
			t.Errorf("after Flow PATCH %s: %d updates carrying credentials, want %d", tc.ops, got, want)
		}
	}
}

// The platform masks oauth.api.key like every other OAuth configuration
// secret, in create answers, reads and lists.
func TestOAuthAPIKeyMasked(t *testing.T) {
	_, s := start(t, Options{})
	base := s.CloudElementsURL()
	r := call(t, testClient, "POST", base+"/instances", ceHeader(), oauthCreate("acme", "code-1"))
	if r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	id := fmt.Sprint(r.obj(t)["id"])
	bodies := map[string]map[string]any{
		"create": r.obj(t),
		"get":    call(t, testClient, "GET", base+"/instances/"+id, ceHeader(), "").obj(t),
		"list":   call(t, testClient, "GET", base+"/instances?tags%5B%5D=hubprov:set=s", ceHeader(), "").arr(t)[0],
	}
	for what, b := range bodies {
		cfg := b["configuration"].(map[string]any)
		for _, k := range []string{"oauth.api.key", "oauth.api.secret"} {
			if cfg[k] != masked {
				t.Errorf("%s: %s = %v, want %s", what, k, cfg[k], masked)
			}
		}
		if cfg["oauth.callback.url"] != "https://app.example.com/auth" {
			t.Errorf("%s: oauth.callback.url %v, want it in clear", what, cfg["oauth.callback.url"])
		}
	}
}

// Flow Service resources belong to one sandbox: another sandbox neither lists,
// reads, patches nor deletes them.
func TestFlowSandboxIsolation(t *testing.T) {
	e, s := start(t, Options{})
	base := s.FlowServiceURL()
	dev := with(flowHeader(), "X-Sandbox-Name", "dev")
	prod := flowHeader()
	r := call(t, testClient, "POST", base+"/connections", dev, flowBody("acme"))
	if r.status != 201 {
		t.Fatalf("create in dev: %d %s", r.status, r.body)
	}
	id, etag := r.obj(t)["id"].(string), r.obj(t)["etag"].(string)

	if r = call(t, testClient, "GET", base+"/connections", prod, ""); len(r.obj(t)["items"].([]any)) != 0 {
		t.Errorf("prod lists dev's connection: %s", r.body)
	}
	if r = call(t, testClient, "GET", base+"/connections?count=true", prod, ""); r.obj(t)["count"] != float64(0) {
		t.Errorf("prod counts dev's connection: %s", r.body)
	}
	if r = call(t, testClient, "GET", base+"/connections/"+id, prod, ""); r.status != 404 || !strings.Contains(string(r.body), "FLOW-1101-404") {
		t.Errorf("prod reads dev's connection: %d %s", r.status, r.body)
	}
	if r = call(t, testClient, "PATCH", base+"/connections/"+id, with(prod, "If-Match", etag), `[{"op":"replace","path":"/description","value":"x"}]`); r.status != 404 {
		t.Errorf("prod patches dev's connection: %d %s", r.status, r.body)
	}
	if r = call(t, testClient, "DELETE", base+"/connections/"+id, prod, ""); r.status != 404 {
		t.Errorf("prod deletes dev's connection: %d %s", r.status, r.body)
	}
	if v, ok := e.Instance(id); !ok || v.Updates != 0 {
		t.Fatalf("dev's connection after prod's attempts: %+v, %v", v, ok)
	}
	// The same name in another sandbox is no duplicate.
	if r = call(t, testClient, "POST", base+"/connections", prod, flowBody("acme")); r.status != 201 || e.Stats().Duplicates != 0 {
		t.Errorf("same name in prod: %d, %d duplicates; want 201, 0", r.status, e.Stats().Duplicates)
	}
	// dev still sees, reads, patches and deletes its own.
	if r = call(t, testClient, "GET", base+"/connections?property=name==acme", dev, ""); len(r.obj(t)["items"].([]any)) != 1 {
		t.Errorf("dev's list: %s", r.body)
	}
	if r = call(t, testClient, "GET", base+"/connections/"+id, dev, ""); r.status != 200 {
		t.Errorf("dev's read: %d", r.status)
	}
	if r = call(t, testClient, "PATCH", base+"/connections/"+id, with(dev, "If-Match", etag), `[{"op":"replace","path":"/description","value":"x"}]`); r.status != 200 {
		t.Errorf("dev's patch: %d %s", r.status, r.body)
	}
	if r = call(t, testClient, "DELETE", base+"/connections/"+id, dev, ""); r.status != 204 {
		t.Errorf("dev's delete: %d %s", r.status, r.body)
	}
}

// Flow Service list queries as the API documents them (api-contract.md 3.2):
// property filters on any property with ==, !=, >, <, >=, <= (ANDed, comma
// lists for ==), orderby on a property with + or -, and count=true.
func TestFlowListQueries(t *testing.T) {
	e, s := start(t, Options{})
	base := s.FlowServiceURL()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, name := range []string{"delta", "alpha", "charlie", "bravo", "echo"} {
		e.AddConnection(FlowSeed{Name: name, Description: "tier-" + fmt.Sprint(i%2), Disabled: i == 3, Created: t0.Add(time.Duration(i) * time.Hour)})
	}
	e.AddConnection(FlowSeed{Name: "other-sandbox", Sandbox: "dev", Created: t0})
	ms := func(h int) string { return fmt.Sprint(t0.Add(time.Duration(h) * time.Hour).UnixMilli()) }
	names := func(q string) string {
		t.Helper()
		r := call(t, testClient, "GET", base+"/connections?"+q, flowHeader(), "")
		if r.status != 200 {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
		var out []string
		for _, it := range r.obj(t)["items"].([]any) {
			out = append(out, it.(map[string]any)["name"].(string))
		}
		return strings.Join(out, ",")
	}
	esc := url.QueryEscape
	tests := []struct{ q, want string }{
		{"orderby=createdAt", "delta,alpha,charlie,bravo,echo"},
		{"orderby=%2BcreatedAt", "delta,alpha,charlie,bravo,echo"},
		{"orderby=+name", "alpha,bravo,charlie,delta,echo"},
		{"orderby=-createdAt", "echo,bravo,charlie,alpha,delta"},
		{"orderby=name", "alpha,bravo,charlie,delta,echo"},
		{"property=" + esc("createdAt>"+ms(1)) + "&orderby=createdAt", "charlie,bravo,echo"},
		{"property=" + esc("createdAt<"+ms(2)) + "&orderby=createdAt", "delta,alpha"},
		{"property=" + esc("createdAt>="+ms(1)) + "&property=" + esc("createdAt<="+ms(2)) + "&orderby=createdAt", "alpha,charlie"},
		{"property=state==disabled", "bravo"},
		{"property=state!=disabled&orderby=name", "alpha,charlie,delta,echo"},
		{"property=description==tier-1&orderby=name", "alpha,bravo"},
		{"property=auth.specName==" + esc("Basic Authentication") + "&property=name==echo,alpha&orderby=-name", "echo,alpha"},
		{"property=connectionSpec.version==1.0&property=sandboxName==prod&orderby=name&limit=2", "alpha,bravo"},
		{"property=name>c&orderby=name", "charlie,delta,echo"},
		{"property=nosuch.field==x", ""},
	}
	for _, tc := range tests {
		if got := names(tc.q); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.q, got, tc.want)
		}
	}
	// Paging keeps the order and the filter.
	var all []string
	q := "orderby=-createdAt&limit=2"
	for range 5 {
		r := call(t, testClient, "GET", base+"/connections?"+q, flowHeader(), "")
		m := r.obj(t)
		for _, it := range m["items"].([]any) {
			all = append(all, it.(map[string]any)["name"].(string))
		}
		tok, _ := m["continuationToken"].(string)
		if tok == "" {
			break
		}
		q = "continuationToken=" + esc(tok)
	}
	if got := strings.Join(all, ","); got != "echo,bravo,charlie,alpha,delta" {
		t.Errorf("paged -createdAt: %s", got)
	}
	// count=true answers only the count; with limit it is refused.
	r := call(t, testClient, "GET", base+"/connections?count=true&property=state==enabled", flowHeader(), "")
	if m := r.obj(t); r.status != 200 || m["count"] != float64(4) || len(m) != 1 {
		t.Errorf("count=true: %d %s, want {\"count\":4}", r.status, r.body)
	}
	r = call(t, testClient, "GET", base+"/connections?count=true&limit=10", flowHeader(), "")
	if r.status != 400 || !strings.Contains(string(r.body), "1401-400") {
		t.Errorf("count with limit: %d %s, want 400 1401-400", r.status, r.body)
	}
	for _, bad := range []string{"property=name", "property=" + esc("==x")} {
		if r := call(t, testClient, "GET", base+"/connections?"+bad, flowHeader(), ""); r.status != 400 {
			t.Errorf("%s: %d, want 400", bad, r.status)
		}
	}
}
