package flowservice

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
	imsToken  = "ims-token-t1"
	apiKey    = "api-key-k2"
	imsOrg    = "ORG123@AdobeOrg"
	sandbox   = "prod"
	apiPrefix = "/data/foundation/flowservice"

	testSet = "acme-migration"
	testFP  = "0123456789abcdef"

	clientID   = "6a1f0c9e-0000-4000-8000-000000000001"
	secClient  = "client-secret-xyz789"
	secAccess  = "access-CLrzzsWRKxICAQEY"
	secRefresh = "refresh-9b5eced4-f557"
	etag1      = `"d403848a-0000-0200-0000-5e978f7b0000"`
	etag2      = `"e503848a-0000-0200-0000-5e978f7b0001"`
	connID     = "2fce94c1-9a93-4971-8e94-c19a93097129"
)

type captured struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
}

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
	return manifest.Credentials{AccessToken: lit(imsToken), APIKey: lit(apiKey), IMSOrg: imsOrg, Sandbox: sandbox}
}

func lit(s string) manifest.Secret { return manifest.LiteralSecret(s) }

var fixedNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func newTestClient(t *testing.T, replies ...reply) (*Client, *fakeAPI) {
	t.Helper()
	f := &fakeAPI{replies: replies}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c := New(srv.URL+apiPrefix, srv.Client(), creds())
	c.now = func() time.Time { return fixedNow }
	return c, f
}

func account(description string) manifest.Account {
	return manifest.Account{Name: "initech-crm", Description: description, Auth: manifest.Auth{
		Type: manifest.AuthOAuth2Tokens, ClientID: clientID, ClientSecret: lit(secClient),
		AccessToken: lit(secAccess), RefreshToken: lit(secRefresh)}}
}

func desired(a manifest.Account) provision.Desired {
	return provision.Desired{Account: a, Set: testSet, Fingerprint: testFP}
}

func item(id, name, description, state, etag string) string {
	b, _ := json.Marshal(map[string]any{
		"id": id, "name": name, "description": description, "state": state, "etag": etag, "version": etag,
		"connectionSpec": map[string]string{"id": SpecID, "version": "1.0"},
		"auth":           map[string]any{"specName": "Basic Authentication", "params": map[string]string{"clientId": clientID, "clientSecret": "{PASSWORD}"}},
		"createdAt":      1597971973000, "sandboxName": sandbox, "imsOrgId": imsOrg,
	})
	return string(b)
}

func marker(set, fp string) string { return "hubprov:set=" + set + " hubprov:spec=" + fp }

func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func checkHeaders(t *testing.T, r captured, withBody bool) {
	t.Helper()
	want := map[string]string{"Authorization": "Bearer " + imsToken, "x-api-key": apiKey, "x-gw-ims-org-id": imsOrg, "x-sandbox-name": sandbox}
	if withBody {
		want["Content-Type"] = "application/json"
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s %s: header %s = %q, want %q", r.Method, r.Path, k, got, v)
		}
	}
	if !withBody && r.Header.Get("Content-Type") != "" {
		t.Errorf("%s %s: Content-Type on a request without body", r.Method, r.Path)
	}
}

func TestCreateBodyMatchesSeed(t *testing.T) {
	tests := []struct {
		golden      string
		description string
	}{
		// Seed 004 (AEP "Create a HubSpot connector using the Flow Service API"), "Create a connection",
		// the POST /connections request body; the description carries the marker line after the user's text.
		{"create-connection.json", "connection for hubspot"},
		// Seed 004, same section; an empty user description leaves only the marker line.
		{"create-connection-nodescription.json", ""},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			c, f := newTestClient(t, reply{status: 201, header: map[string]string{"Location": apiPrefix + "/connections/" + connID},
				body: `{"id":"` + connID + `","etag":"\"d403848a-0000-0200-0000-5e978f7b0000\""}`})
			got, err := c.Create(context.Background(), desired(account(tt.description)))
			if err != nil {
				t.Fatal(err)
			}
			r := f.requests()[0]
			if r.Method != http.MethodPost || r.Path != apiPrefix+"/connections" || len(r.Query) != 0 {
				t.Errorf("request %s %s?%s", r.Method, r.Path, r.Query.Encode())
			}
			checkHeaders(t, r, true)
			want, err := os.ReadFile(filepath.Join("testdata", tt.golden))
			if err != nil {
				t.Fatal(err)
			}
			if g, w := decode(t, r.Body), decode(t, want); !reflect.DeepEqual(g, w) {
				t.Errorf("body sent:\n%s\nwant (testdata/%s):\n%s", r.Body, tt.golden, want)
			}
			wantIn := provision.Instance{ID: connID, Name: "initech-crm", Description: tt.description, ETag: etag1,
				Valid: true, Enabled: true, Set: testSet, Fingerprint: testFP}
			if !reflect.DeepEqual(got, wantIn) {
				t.Errorf("instance = %+v\nwant %+v", got, wantIn)
			}
		})
	}
}

func TestRequests(t *testing.T) {
	cur := provision.Instance{ID: connID, Name: "initech-crm", ETag: etag1}
	one := `{"items":[` + item(connID, "initech-crm", "user text\n"+marker(testSet, testFP), "enabled", etag1) + `]}`
	tests := []struct {
		name    string
		call    func(c *Client) error
		reply   reply
		method  string
		path    string
		rawQ    string
		ifMatch string
		body    string
	}{
		{
			name:   "list",
			call:   func(c *Client) error { _, err := listSet(c, context.Background(), testSet); return err },
			reply:  reply{body: one},
			method: "GET", path: "/connections",
			rawQ: "property=connectionSpec.id==" + SpecID + "&limit=1000",
		},
		{
			name: "lookup",
			call: func(c *Client) error {
				_, err := lookupName(c, context.Background(), testSet, "initech-crm")
				return err
			},
			reply:  reply{body: one},
			method: "GET", path: "/connections",
			rawQ: "property=connectionSpec.id==" + SpecID + "&property=name==initech-crm",
		},
		{
			name:   "get",
			call:   func(c *Client) error { _, err := c.Get(context.Background(), connID); return err },
			reply:  reply{body: one},
			method: "GET", path: "/connections/" + connID,
		},
		{
			name: "update",
			call: func(c *Client) error {
				_, err := c.Update(context.Background(), cur, desired(account("new text")))
				return err
			},
			reply:  reply{body: `{"id":"` + connID + `","etag":"\"e503848a-0000-0200-0000-5e978f7b0001\""}`},
			method: "PATCH", path: "/connections/" + connID, ifMatch: etag1,
			body: `[{"op":"replace","path":"/description","value":"new text\n` + marker(testSet, testFP) + `"}]`,
		},
		{
			name: "update credentials",
			call: func(c *Client) error {
				d := desired(account(""))
				d.Send.Credentials = true
				_, err := c.Update(context.Background(), cur, d)
				return err
			},
			reply:  reply{body: `{"id":"` + connID + `","etag":"\"e503848a-0000-0200-0000-5e978f7b0001\""}`},
			method: "PATCH", path: "/connections/" + connID, ifMatch: etag1,
			body: `[{"op":"replace","path":"/description","value":"` + marker(testSet, testFP) + `"},
				{"op":"replace","path":"/auth/params","value":{"clientId":"` + clientID + `","clientSecret":"` + secClient + `",
				"accessToken":"` + secAccess + `","refreshToken":"` + secRefresh + `"}}]`,
		},
		{
			name: "update name",
			call: func(c *Client) error {
				d := desired(account(""))
				d.Send.Name = true
				_, err := c.Update(context.Background(), cur, d)
				return err
			},
			reply:  reply{body: `{"id":"` + connID + `","etag":"\"e503848a-0000-0200-0000-5e978f7b0001\""}`},
			method: "PATCH", path: "/connections/" + connID, ifMatch: etag1,
			body: `[{"op":"replace","path":"/description","value":"` + marker(testSet, testFP) + `"},
				{"op":"replace","path":"/name","value":"initech-crm"}]`,
		},
		{
			name:   "delete",
			call:   func(c *Client) error { return c.Delete(context.Background(), cur) },
			reply:  reply{status: 204},
			method: "DELETE", path: "/connections/" + connID,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rawQuery string
			f := &fakeAPI{replies: []reply{tt.reply}}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rawQuery = r.URL.RawQuery
				f.ServeHTTP(w, r)
			}))
			defer srv.Close()
			c := New(srv.URL+apiPrefix, srv.Client(), creds())
			if err := tt.call(c); err != nil {
				t.Fatal(err)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != tt.method || r.Path != apiPrefix+tt.path || rawQuery != tt.rawQ {
				t.Errorf("request %s %s?%s, want %s %s?%s", r.Method, r.Path, rawQuery, tt.method, apiPrefix+tt.path, tt.rawQ)
			}
			checkHeaders(t, r, tt.body != "")
			if got := r.Header.Get("If-Match"); got != tt.ifMatch {
				t.Errorf("If-Match = %q, want %q", got, tt.ifMatch)
			}
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

func TestUpdateReturnsNewETag(t *testing.T) {
	c, _ := newTestClient(t, reply{body: `{"id":"` + connID + `","etag":"\"e503848a-0000-0200-0000-5e978f7b0001\""}`})
	cur := provision.Instance{ID: connID, Name: "initech-crm", ETag: etag1, Description: "old", Set: testSet, Fingerprint: "old", Valid: true, Enabled: true}
	got, err := c.Update(context.Background(), cur, desired(account("new")))
	if err != nil {
		t.Fatal(err)
	}
	want := provision.Instance{ID: connID, Name: "initech-crm", ETag: etag2, Description: "new", Set: testSet, Fingerprint: testFP, Valid: true, Enabled: true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("update = %+v\nwant %+v", got, want)
	}
}

func TestGet(t *testing.T) {
	c, _ := newTestClient(t, reply{body: `{"items":[` + item(connID, "initech-crm", "line one\nline two\n"+marker(testSet, testFP), "disabled", etag1) + `]}`})
	got, err := c.Get(context.Background(), connID)
	if err != nil {
		t.Fatal(err)
	}
	want := provision.Instance{ID: connID, Name: "initech-crm", Description: "line one\nline two", ETag: etag1, Set: testSet, Fingerprint: testFP, Health: true,
		Created: time.UnixMilli(1597971973000).UTC()}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("get = %+v\nwant %+v", got, want)
	}
	c, _ = newTestClient(t, reply{body: `{"items":[]}`})
	_, err = c.Get(context.Background(), connID)
	var ae *provision.APIError
	if !errors.As(err, &ae) || ae.Status != 404 {
		t.Errorf("Get with no items = %v, want an *APIError 404", err)
	}
}

func TestDescriptionRoundTrip(t *testing.T) {
	for _, user := range []string{"", "x", "two\nlines", "trailing newline\n", "hubprov:set=fake in the text? no: only a line start counts"} {
		d := describe(user, testSet, testFP)
		gotUser, set, fp := parseDescription(d)
		if set != testSet || fp != testFP {
			t.Errorf("parse(%q) markers = %q %q", d, set, fp)
		}
		if !strings.HasPrefix(user, "hubprov:set=") && gotUser != user {
			t.Errorf("parse(describe(%q)) user = %q", user, gotUser)
		}
	}
	if u, s, f := parseDescription("no marker"); u != "no marker" || s != "" || f != "" {
		t.Errorf("unmarked = %q %q %q", u, s, f)
	}
}

func TestListPagingAndFilter(t *testing.T) {
	mine := func(id string) string { return item(id, "n-"+id, marker(testSet, "fp"), "enabled", etag1) }
	c, f := newTestClient(t,
		reply{body: `{"items":[` + mine("a") + `,` + item("x", "n-x", "no marker", "enabled", etag1) + `],"continuationToken":"tok2"}`},
		reply{body: `{"items":[` + mine("b") + `,` + item("y", "n-y", marker("other", "fp"), "enabled", etag1) + `],
			"_links":{"next":{"href":"/connections?continuationToken=tok3&limit=1000"}}}`},
		reply{body: `{"items":[` + mine("c") + `]}`},
	)
	got, err := listSet(c, context.Background(), testSet)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, in := range got {
		ids = append(ids, in.ID)
		if in.Set != testSet || in.Fingerprint != "fp" || in.Description != "" || !in.Enabled || !in.Valid {
			t.Errorf("instance %+v", in)
		}
	}
	if want := []string{"a", "b", "c"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("ids = %v, want %v", ids, want)
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for i, tok := range []string{"", "tok2", "tok3"} {
		q := reqs[i].Query
		if q.Get("continuationToken") != tok || q.Get("property") != "connectionSpec.id=="+SpecID || q.Get("limit") != "1000" {
			t.Errorf("request %d query %v, want continuationToken=%q with the filter", i, q, tok)
		}
	}
}

func TestLookupExactNameAndSet(t *testing.T) {
	c, _ := newTestClient(t, reply{body: `{"items":[` +
		item("1", "initech-crm-2", marker(testSet, "a"), "enabled", etag1) + `,` +
		item("2", "initech-crm", marker("other", "b"), "enabled", etag1) + `,` +
		item("3", "initech-crm", "user\n"+marker(testSet, "c"), "enabled", etag1) + `]}`})
	in, err := lookupName(c, context.Background(), testSet, "initech-crm")
	if err != nil {
		t.Fatal(err)
	}
	if in == nil || in.ID != "3" || in.Fingerprint != "c" || in.Description != "user" {
		t.Errorf("Lookup = %+v, want id 3", in)
	}
	c, _ = newTestClient(t, reply{body: `{"items":[]}`})
	if in, err := lookupName(c, context.Background(), testSet, "initech-crm"); err != nil || in != nil {
		t.Errorf("Lookup of nothing = %+v, %v", in, err)
	}
}

func callOp(c *Client, op string) error {
	ctx := context.Background()
	d := desired(account("desc"))
	d.Send.Credentials = true
	cur := provision.Instance{ID: connID, ETag: etag1}
	var err error
	switch op {
	case "list":
		// One page, one attempt: the engine would wait out a 429 (throttles
		// spend no attempts), and this test is about the client's mapping.
		_, err = c.ListPage(ctx, provision.Query{Set: testSet}, "")
	case "lookup":
		_, err = c.ListPage(ctx, provision.Query{Set: testSet, Name: "initech-crm"}, "")
	case "get":
		_, err = c.Get(ctx, connID)
	case "create":
		_, err = c.Create(ctx, d)
	case "update":
		_, err = c.Update(ctx, cur, d)
	case "delete":
		err = c.Delete(ctx, cur)
	default:
		panic(op)
	}
	return err
}

func TestStatusErrors(t *testing.T) {
	httpDate := fixedNow.Add(30 * time.Second).Format(http.TimeFormat)
	flow404 := `{"type":"https://ns.adobe.com/aep/errors/FLOW-1101-404","title":"Resource not found","status":404,
		"report":{"detailed-message":"Resource with given id does not exist","id":"x","request-id":"rq-404","type":"connections"},
		"errorMessage":"Connection 2fce does not exist"}`
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
		{400, map[string]string{"x-request-id": "hdr-400"}, `{"type":"https://ns.adobe.com/aep/errors/FLOW-1403-400","title":"Bad request","status":400,"report":{"detailed-message":"The header 'If-Match' is missing"}}`,
			"update", provision.Item, "hdr-400", "FLOW-1403-400: The header 'If-Match' is missing", 0},
		{400, nil, `{"type":"/placeholder/type/uri","status":400,"title":"BadRequestError","detail":"A valid content-type must be specified"}`,
			"create", provision.Item, "", "A valid content-type must be specified", 0},
		{401, nil, `{"error_code":"401013","message":"Oauth token is not valid"}`, "list", provision.Systemic, "", "401013: Oauth token is not valid", 0},
		{403, nil, `{"error_code":"403003","message":"Api Key is invalid"}`, "create", provision.Systemic, "", "403003: Api Key is invalid", 0},
		{404, nil, flow404, "get", provision.Item, "rq-404", "FLOW-1101-404: Connection 2fce does not exist", 0},
		{404, nil, flow404, "delete", provision.Item, "rq-404", "FLOW-1101-404: Connection 2fce does not exist", 0},
		{409, nil, `{"errorMessage":"conflict"}`, "create", provision.Item, "", "conflict", 0},
		{412, nil, `{"errorMessage":"Supplied version=[\"abc\"] does not match the current version on entity=[\"def\"]"}`,
			"update", provision.Item, "", `Supplied version=["abc"] does not match the current version on entity=["def"]`, 0},
		{429, map[string]string{"Retry-After": "12"}, `{"errorMessage":"too many"}`, "create", provision.Transient, "", "too many", 12 * time.Second},
		{429, map[string]string{"Retry-After": httpDate, "Date": fixedNow.Format(http.TimeFormat)}, `{"errorMessage":"too many"}`, "list", provision.Transient, "", "too many", 31 * time.Second}, // to the end of the second named
		{500, nil, `{"errorMessage":"boom"}`, "create", provision.Ambiguous, "", "boom", 0},
		{500, nil, `{"errorMessage":"boom"}`, "lookup", provision.Transient, "", "boom", 0},
		{503, map[string]string{"x-request-id": "hdr-503"}, `upstream unavailable`, "update", provision.Transient, "hdr-503", "upstream unavailable", 0},
	}
	for _, tt := range tests {
		name, _ := json.Marshal(tt.status)
		t.Run(string(name)+"-"+tt.op, func(t *testing.T) {
			c, _ := newTestClient(t, reply{status: tt.status, header: tt.header, body: tt.body})
			err := callOp(c, tt.op)
			var ae *provision.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *APIError", err)
			}
			if ae.Platform != "adobe-flow" || ae.Op != tt.op || ae.Status != tt.status || ae.RequestID != tt.wantReq ||
				ae.Message != tt.wantMsg || ae.RetryAfter != tt.wantRetry || ae.Err != nil {
				t.Errorf("APIError = %+v\nwant op %s status %d request id %q message %q retry %v", ae, tt.op, tt.status, tt.wantReq, tt.wantMsg, tt.wantRetry)
			}
			if got := provision.Classify(err); got != tt.wantClass {
				t.Errorf("class = %s, want %s", got, tt.wantClass)
			}
		})
	}
}

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
		{"reset on delete", reset, "delete", provision.Transient},
		{"refused on create", refused, "create", provision.Transient},
		{"refused on list", refused, "list", provision.Transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(tt.base+apiPrefix, &http.Client{Timeout: 5 * time.Second}, creds())
			err := callOp(c, tt.op)
			var ae *provision.APIError
			if !errors.As(err, &ae) || ae.Status != 0 || ae.Err == nil || ae.Op != tt.op {
				t.Fatalf("error = %#v, want a transport *APIError", err)
			}
			if got := provision.Classify(err); got != tt.want {
				t.Errorf("class = %s, want %s (err %v)", got, tt.want, err)
			}
		})
	}
}

// TestSecretsScrubbed has a server echo the credentials and the secrets of
// the request in its error, decoded and as sent.
func TestSecretsScrubbed(t *testing.T) {
	received := func(r *http.Request) string {
		b, _ := io.ReadAll(r.Body)
		return "auth=" + r.Header.Get("Authorization") + " key=" + r.Header.Get("x-api-key") + " body=" + string(b)
	}
	handlers := map[string]http.HandlerFunc{
		"flow body": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(400)
			_ = json.NewEncoder(w).Encode(map[string]any{"type": "https://ns.adobe.com/aep/errors/FLOW-1100-400", "title": "bad",
				"status": 400, "report": map[string]string{"request-id": "r-" + imsToken}, "errorMessage": received(r)})
		},
		"gateway body": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(401)
			_ = json.NewEncoder(w).Encode(map[string]string{"error_code": "401013", "message": received(r)})
		},
		"raw text": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			_, _ = io.WriteString(w, received(r))
		},
	}
	known := map[string][]string{
		"list": {imsToken, apiKey}, "lookup": {imsToken, apiKey}, "get": {imsToken, apiKey}, "delete": {imsToken, apiKey},
		"create": {imsToken, apiKey, secClient, secAccess, secRefresh},
		"update": {imsToken, apiKey, secClient, secAccess, secRefresh},
	}
	for name, h := range handlers {
		for op, secrets := range known {
			t.Run(name+"/"+op, func(t *testing.T) {
				srv := httptest.NewServer(h)
				defer srv.Close()
				err := callOp(New(srv.URL, srv.Client(), creds()), op)
				var ae *provision.APIError
				if !errors.As(err, &ae) || ae.Status == 0 {
					t.Fatalf("error %v: want an HTTP *APIError", err)
				}
				text := err.Error() + " " + ae.RequestID
				for _, s := range secrets {
					if strings.Contains(text, s) {
						t.Errorf("error holds secret %q: %s", s, text)
					}
				}
				if !strings.Contains(text, redacted) {
					t.Errorf("error %q: want [redacted]", text)
				}
			})
		}
	}
}

func TestName(t *testing.T) {
	c := New("", nil, creds())
	if c.Name() != manifest.AdobeFlow || c.base != DefaultBaseURL {
		t.Errorf("Name %s base %s", c.Name(), c.base)
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
