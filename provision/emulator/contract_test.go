package emulator

import (
	"bufio"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const seedDir = "../../testdata/seeds"

// TestContractSeedBodies sends every request body of the seed documents and
// checks each response has the documented status and shape. Each body gets
// its own emulator: seeds share authorization codes, which are single-use.
func TestContractSeedBodies(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(seedDir, "*.json"))
	if err != nil || len(files) < 13 {
		t.Fatalf("seed bodies: %v, %d files", err, len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, s := start(t, Options{})
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var sent map[string]any
			if err := json.Unmarshal(raw, &sent); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(f, "-flow-") {
				checkFlowSeed(t, s, string(raw), sent)
				return
			}
			r := call(t, testClient, "POST", s.CloudElementsURL()+"/instances", ceHeader(), string(raw))
			if strings.Contains(f, "your_mom") {
				if r.status != 400 || !strings.Contains(r.obj(t)["message"].(string), "element.key") {
					t.Fatalf("mangled body: got %d %s, want 400 naming element.key", r.status, r.body)
				}
				checkCEError(t, r)
				return
			}
			if r.status != 200 {
				t.Fatalf("status %d, body %s", r.status, r.body)
			}
			got := r.obj(t)
			checkCEInstance(t, got, sent)
			id := jsonID(got["id"])
			g := call(t, testClient, "GET", s.CloudElementsURL()+"/instances/"+id, ceHeader(), "")
			if g.status != 200 {
				t.Fatalf("GET: %d %s", g.status, g.body)
			}
			checkCEInstance(t, g.obj(t), sent)
		})
	}
}

func jsonID(v any) string {
	n, _ := v.(float64)
	return strconv.FormatFloat(n, 'f', -1, 64)
}

func checkCEError(t *testing.T, r resp) {
	t.Helper()
	m := r.obj(t)
	if len(m) != 2 || m["requestId"] == "" || m["message"] == "" {
		t.Errorf("error body %s: want exactly {requestId, message}", r.body)
	}
	if id, _ := m["requestId"].(string); !regexp.MustCompile(`^[0-9a-f]{24}$`).MatchString(id) {
		t.Errorf("requestId %q: want 24 hex digits", id)
	}
}

// checkCEInstance checks an instance response against the seed documents'
// response shape and the body sent.
func checkCEInstance(t *testing.T, got, sent map[string]any) {
	t.Helper()
	if _, ok := got["id"].(float64); !ok {
		t.Errorf("id %v: want a JSON number", got["id"])
	}
	if tok, _ := got["token"].(string); !regexp.MustCompile(`^[A-Za-z0-9+/]{20,}=*$`).MatchString(tok) {
		t.Errorf("token %q: want a base64 token", tok)
	}
	if got["name"] != sent["name"] {
		t.Errorf("name %v, want %v", got["name"], sent["name"])
	}
	key := sent["element"].(map[string]any)["key"]
	el, _ := got["element"].(map[string]any)
	if el["key"] != key || el["id"] == nil || el["hub"] == nil {
		t.Errorf("element %v: want key %v with id and hub", el, key)
	}
	if !slices.Equal(toStrings(got["tags"]), toStrings(sent["tags"])) {
		t.Errorf("tags %v, want %v", got["tags"], sent["tags"])
	}
	if got["valid"] != true || got["disabled"] != false {
		t.Errorf("valid %v disabled %v", got["valid"], got["disabled"])
	}
	if _, err := time.Parse(time.RFC3339, got["createdDate"].(string)); err != nil {
		t.Errorf("createdDate: %v", err)
	}
	for _, k := range []string{"provisionInteractions", "maxCacheSize", "cacheTimeToLive", "eventsEnabled", "externalAuthentication", "user", "elementId"} {
		if _, ok := got[k]; !ok {
			t.Errorf("missing %s", k)
		}
	}
	cfg := got["configuration"].(map[string]any)
	sentCfg := sent["configuration"].(map[string]any)
	for k, v := range sentCfg {
		want := v
		switch {
		case isSecretKey(k):
			want = masked
		case v == true:
			want = "true"
		}
		if cfg[k] != want {
			t.Errorf("configuration %s = %v, want %v", k, cfg[k], want)
		}
	}
	wantType := "oauth2"
	if sentCfg["hubspot.authorization.apikey"] != nil {
		wantType = "apiKey"
	} else if cfg["oauth.user.token"] != masked || cfg["oauth.user.refresh_token"] != masked {
		t.Errorf("oauth tokens not masked: %v %v", cfg["oauth.user.token"], cfg["oauth.user.refresh_token"])
	}
	if cfg["authentication.type"] != wantType {
		t.Errorf("authentication.type %v, want %s", cfg["authentication.type"], wantType)
	}
	if _, ok := got["providerData"]; ok {
		t.Error("providerData echoed")
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func checkFlowSeed(t *testing.T, s *Server, raw string, sent map[string]any) {
	r := call(t, testClient, "POST", s.FlowServiceURL()+"/connections", flowHeader(), raw)
	if r.status != 201 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	got := r.obj(t)
	id, _ := got["id"].(string)
	if len(got) != 2 || !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(id) {
		t.Fatalf("body %s: want {id (a UUID), etag}", r.body)
	}
	etag, _ := got["etag"].(string)
	if !regexp.MustCompile(`^"[0-9a-f-]+"$`).MatchString(etag) {
		t.Errorf("etag %q: want a quoted version", etag)
	}
	if loc := r.header.Get("Location"); !strings.HasSuffix(loc, "/connections/"+id) {
		t.Errorf("Location %q", loc)
	}
	g := call(t, testClient, "GET", s.FlowServiceURL()+"/connections/"+id, flowHeader(), "")
	items, _ := g.obj(t)["items"].([]any)
	if g.status != 200 || len(items) != 1 {
		t.Fatalf("GET: %d %s", g.status, g.body)
	}
	c := items[0].(map[string]any)
	if c["id"] != id || c["name"] != sent["name"] || c["description"] != sent["description"] || c["etag"] != etag || c["state"] != "enabled" {
		t.Errorf("connection %v", c)
	}
	if spec := c["connectionSpec"].(map[string]any); spec["id"] != HubSpotConnectionSpec || spec["version"] != "1.0" {
		t.Errorf("connectionSpec %v", spec)
	}
	auth := c["auth"].(map[string]any)
	params := auth["params"].(map[string]any)
	sentParams := sent["auth"].(map[string]any)["params"].(map[string]any)
	if auth["specName"] != "Basic Authentication" || params["clientId"] != sentParams["clientId"] ||
		params["clientSecret"] != masked || params["accessToken"] != masked || params["refreshToken"] != masked {
		t.Errorf("auth %v", auth)
	}
}

// TestContractSeedOAuthURL sends the seeds' oauth/url requests.
func TestContractSeedOAuthURL(t *testing.T) {
	_, s := start(t, Options{})
	f, err := os.Open(filepath.Join(seedDir, "oauth-url.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		n++
		_, pathQuery, _ := strings.Cut(line, "/elements/api-v2")
		r := call(t, testClient, "GET", s.CloudElementsURL()+pathQuery, ceHeader(), "")
		if r.status != 200 {
			t.Errorf("%s: %d %s", pathQuery, r.status, r.body)
			continue
		}
		sentURL, _ := url.Parse(line)
		q := sentURL.Query()
		key := strings.Split(sentURL.Path, "/")[4]
		m := r.obj(t)
		u, err := url.Parse(m["oauthUrl"].(string))
		if m["element"] != key || err != nil || u.Host != s.Addr() || u.Path != HubSpotPrefix+"/oauth/authorize" {
			t.Errorf("%s: %s", pathQuery, r.body)
			continue
		}
		got := u.Query()
		wantScope := q.Get("scope")
		if wantScope == "" {
			wantScope = "contacts timeline files content reports social automation forms"
		}
		wantState := q.Get("state")
		if wantState == "" {
			wantState = key
		}
		if got.Get("client_id") != q.Get("apiKey") || got.Get("redirect_uri") != q.Get("callbackUrl") ||
			got.Get("scope") != wantScope || got.Get("state") != wantState {
			t.Errorf("%s: oauthUrl query %v", pathQuery, got)
		}
		if strings.Contains(u.RawQuery, "+") {
			t.Errorf("oauthUrl %s: spaces must be %%20", u)
		}
	}
	if n != 5 {
		t.Fatalf("%d oauth/url seeds, want 5", n)
	}
}
