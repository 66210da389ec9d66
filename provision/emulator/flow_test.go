package emulator

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func flowBody(name string) string {
	return fmt.Sprintf(`{"name":%q,"description":"d\nhubprov:set=s1 hubprov:spec=f1","auth":{"specName":"Basic Authentication",
	  "params":{"clientId":"c","clientSecret":"s","accessToken":"a","refreshToken":"r"}},
	  "connectionSpec":{"id":%q,"version":"1.0"}}`, name, HubSpotConnectionSpec)
}

func TestFlowServiceErrors(t *testing.T) {
	e, s := start(t, Options{FlowToken: "tok", FlowAPIKey: "key", FlowIMSOrg: "org@AdobeOrg"})
	base := s.FlowServiceURL()
	h := flowHeader()
	h.Set("Authorization", "Bearer tok")
	h.Set("X-Api-Key", "key")
	h.Set("X-Gw-Ims-Org-Id", "org@AdobeOrg")
	id := e.AddConnection(FlowSeed{Name: "acme", AuthParams: map[string]string{"clientId": "c", "clientSecret": "s", "accessToken": "a", "refreshToken": "r"}})
	v, _ := e.Instance(id)
	etag := v.ETag
	tests := []struct {
		name, method, path string
		header             map[string]string
		body               string
		status             int
		want               []string // substrings of the body
	}{
		{"missing token", "GET", "/connections", map[string]string{"Authorization": ""}, "", 403, []string{`"error_code":"403010"`, "Oauth token is missing."}},
		{"basic token", "GET", "/connections", map[string]string{"Authorization": "Basic tok"}, "", 403, []string{`"error_code":"403010"`}},
		{"invalid token", "GET", "/connections", map[string]string{"Authorization": "Bearer nope"}, "", 401, []string{`"error_code":"401013"`}},
		{"missing api key", "GET", "/connections", map[string]string{"X-Api-Key": ""}, "", 403, []string{`"error_code":"403000"`}},
		{"invalid api key", "GET", "/connections/" + id, map[string]string{"X-Api-Key": "nope"}, "", 403, []string{`"error_code":"403003"`}},
		{"missing org", "POST", "/connections", map[string]string{"X-Gw-Ims-Org-Id": ""}, flowBody("x"), 400, []string{`"error_code":"400003"`}},
		{"wrong org", "GET", "/connections", map[string]string{"X-Gw-Ims-Org-Id": "other@AdobeOrg"}, "", 403, []string{`"error_code":"403025"`}},
		{"missing sandbox", "DELETE", "/connections/" + id, map[string]string{"X-Sandbox-Name": ""}, "", 400, []string{"FLOW-2105-400", "x-sandbox-name"}},
		{"other sandbox", "GET", "/connections/" + id, map[string]string{"X-Sandbox-Name": "dev-2"}, "", 404, []string{"FLOW-1101-404"}},
		{"content type", "POST", "/connections", map[string]string{"Content-Type": ""}, flowBody("x"), 400, []string{`"title":"BadRequestError"`, "A valid content-type must be specified"}},
		{"patch content type", "PATCH", "/connections/" + id, map[string]string{"Content-Type": "text/plain", "If-Match": etag}, `[]`, 400, []string{"content-type"}},
		{"missing params", "POST", "/connections", nil, `{"name":"x","auth":{"params":{"clientId":"c","accessToken":""}},"connectionSpec":{"id":"` + HubSpotConnectionSpec + `"}}`, 400,
			[]string{"auth.params.clientSecret, auth.params.accessToken, auth.params.refreshToken"}},
		{"missing name and spec", "POST", "/connections", nil, `{"auth":{"params":{"clientId":"c","clientSecret":"s","accessToken":"a","refreshToken":"r"}}}`, 400, []string{"name, connectionSpec.id"}},
		{"other spec", "POST", "/connections", nil, strings.Replace(flowBody("x"), HubSpotConnectionSpec, "00000000-0000-0000-0000-000000000000", 1), 400, []string{HubSpotConnectionSpec}},
		{"bad json", "POST", "/connections", nil, `{`, 400, []string{"FLOW-1100-400"}},
		{"get unknown", "GET", "/connections/nope", nil, "", 404, []string{`"type":"https://ns.adobe.com/aep/errors/FLOW-1101-404"`, `"status":404`, `"title":"Resource not found"`, "nope"}},
		{"delete unknown", "DELETE", "/connections/nope", nil, "", 404, []string{"FLOW-1101-404"}},
		{"patch unknown", "PATCH", "/connections/nope", map[string]string{"If-Match": etag}, `[]`, 404, []string{"FLOW-1101-404"}},
		{"patch without If-Match", "PATCH", "/connections/" + id, nil, `[{"op":"replace","path":"/name","value":"y"}]`, 400, []string{"FLOW-1403-400", "The header 'If-Match' is missing"}},
		{"patch stale", "PATCH", "/connections/" + id, map[string]string{"If-Match": `"stale"`}, `[{"op":"replace","path":"/name","value":"y"}]`, 412, []string{"FLOW-1404-412", "Supplied version=[\\\"stale\\\"] does not match the current version on entity=[" + id + "]"}},
		{"patch bad path", "PATCH", "/connections/" + id, map[string]string{"If-Match": etag}, `[{"op":"replace","path":"/state","value":"y"}]`, 400, []string{"FLOW-1455-400"}},
		{"patch spec", "PATCH", "/connections/" + id, map[string]string{"If-Match": etag}, `[{"op":"replace","path":"/connectionSpec/id","value":"y"}]`, 400, []string{"FLOW-1414-400"}},
		{"patch bad op", "PATCH", "/connections/" + id, map[string]string{"If-Match": etag}, `[{"op":"move","path":"/name","value":"y"}]`, 400, []string{"move"}},
		{"patch remove param", "PATCH", "/connections/" + id, map[string]string{"If-Match": etag}, `[{"op":"remove","path":"/auth/params/accessToken"}]`, 400, []string{"auth.params.accessToken"}},
		{"patch remove name", "PATCH", "/connections/" + id, map[string]string{"If-Match": etag}, `[{"op":"remove","path":"/name"}]`, 400, []string{"name"}},
		{"bad filter", "GET", "/connections?property=foo", nil, "", 400, []string{"foo"}},
		{"bad limit", "GET", "/connections?limit=-1", nil, "", 400, []string{"limit"}},
		{"bad token", "GET", "/connections?continuationToken=zzzz", nil, "", 400, []string{"continuationToken"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hh := h.Clone()
			for k, v := range tc.header {
				hh = with(hh, k, v)
			}
			r := call(t, testClient, tc.method, base+tc.path, hh, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.status, r.body)
			}
			for _, want := range tc.want {
				if !strings.Contains(string(r.body), want) {
					t.Errorf("body %s lacks %s", r.body, want)
				}
			}
		})
	}
	if v, _ := e.Instance(id); v.Name != "acme" || v.ETag != etag || v.Updates != 0 {
		t.Errorf("failed patches changed the connection: %+v", v)
	}
	if st := e.Stats(); st.Creates != 0 || st.Instances != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestFlowServicePatch(t *testing.T) {
	e, s := start(t, Options{})
	base := s.FlowServiceURL()
	r := call(t, testClient, "POST", base+"/connections", flowHeader(), flowBody("acme"))
	id, etag := r.obj(t)["id"].(string), r.obj(t)["etag"].(string)
	patch := func(ifMatch, body string) resp {
		return call(t, testClient, "PATCH", base+"/connections/"+id, with(flowHeader(), "If-Match", ifMatch), body)
	}
	// Quoted etag, upper-case ops, whole params and single params.
	r = patch(etag, `[{"op":"REPLACE","path":"/name","value":"acme2"},{"op":"Add","path":"/description","value":"new"},
	  {"op":"replace","path":"/auth/params","value":{"clientId":"c2","clientSecret":"s2","accessToken":"a2","refreshToken":"r2"}},
	  {"op":"replace","path":"/auth/params/accessToken","value":"a3"}]`)
	if r.status != 200 {
		t.Fatalf("PATCH %d %s", r.status, r.body)
	}
	etag2 := r.obj(t)["etag"].(string)
	if r.obj(t)["id"] != id || etag2 == etag || !strings.HasPrefix(etag2, `"`) {
		t.Errorf("PATCH body %s: want id and a new quoted etag", r.body)
	}
	v, _ := e.Instance(id)
	if v.Name != "acme2" || v.Description != "new" || v.AuthParams["clientId"] != "c2" || v.AuthParams["accessToken"] != "a3" || v.ETag != etag2 {
		t.Errorf("stored %+v", v)
	}
	// The old etag is stale now; the new one works unquoted.
	if r = patch(etag, `[{"op":"replace","path":"/name","value":"x"}]`); r.status != 412 {
		t.Errorf("stale etag: %d", r.status)
	}
	if r = patch(strings.Trim(etag2, `"`), `[{"op":"remove","path":"/description"}]`); r.status != 200 {
		t.Errorf("unquoted etag: %d %s", r.status, r.body)
	}
	g := call(t, testClient, "GET", base+"/connections/"+id, flowHeader(), "")
	c := g.obj(t)["items"].([]any)[0].(map[string]any)
	if c["description"] != "" || c["etag"] != r.obj(t)["etag"] || c["version"] != c["etag"] {
		t.Errorf("GET after PATCH: %s", g.body)
	}
	// Tokens starting "invalid" disable the connection; SetValid enables it.
	r = patch(c["etag"].(string), `[{"op":"replace","path":"/auth/params/refreshToken","value":"invalid-token"}]`)
	if v, _ := e.Instance(id); r.status != 200 || v.State != "disabled" || v.Valid {
		t.Errorf("invalid token: %d %+v", r.status, v)
	}
	e.SetValid(id, true)
	if v, _ := e.Instance(id); v.State != "enabled" {
		t.Errorf("SetValid: %+v", v)
	}
	if r = call(t, testClient, "DELETE", base+"/connections/"+id, flowHeader(), ""); r.status != 204 || len(r.body) != 0 {
		t.Errorf("DELETE %d %q", r.status, r.body)
	}
	if r = call(t, testClient, "GET", base+"/connections/"+id, flowHeader(), ""); r.status != 404 {
		t.Errorf("GET after DELETE %d", r.status)
	}
	if st := e.Stats(); st.Creates != 1 || st.Updates != 3 || st.Deletes != 1 || st.Instances != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestFlowServiceListAndDuplicates(t *testing.T) {
	e, s := start(t, Options{})
	base := s.FlowServiceURL()
	for i := range 250 {
		e.AddConnection(FlowSeed{Name: fmt.Sprintf("conn-%03d", i)})
	}
	for _, name := range []string{"dup", "dup", "dup", "solo"} {
		if r := call(t, testClient, "POST", base+"/connections", flowHeader(), flowBody(name)); r.status != 201 {
			t.Fatal(r.status)
		}
	}
	if st := e.Stats(); st.Duplicates != 2 || st.Creates != 4 {
		t.Errorf("stats %+v, want 2 duplicates", st)
	}
	// name== filter, ANDed with the spec filter; comma lists; !=.
	list := func(q string) resp {
		t.Helper()
		r := call(t, testClient, "GET", base+"/connections?"+q, flowHeader(), "")
		if r.status != 200 {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
		return r
	}
	count := func(r resp) int { return len(r.obj(t)["items"].([]any)) }
	spec := "property=connectionSpec.id==" + HubSpotConnectionSpec
	if n := count(list(spec + "&property=name==dup")); n != 3 {
		t.Errorf("name==dup: %d", n)
	}
	if n := count(list("property=name==solo,conn-001")); n != 2 {
		t.Errorf("name==solo,conn-001: %d", n)
	}
	if n := count(list("property=name!=dup&limit=1000")); n != 251 {
		t.Errorf("name!=dup: %d", n)
	}
	if r := list("property=name==nothing"); count(r) != 0 || r.obj(t)["continuationToken"] != nil {
		t.Errorf("no match: %s", r.body)
	}
	// Paging by continuationToken (repeating the query) and by _links.next.href.
	for _, viaHref := range []bool{false, true} {
		seen := map[string]bool{}
		q := spec + "&limit=100"
		pages := 0
		for {
			r := list(q)
			pages++
			m := r.obj(t)
			for _, it := range m["items"].([]any) {
				id := it.(map[string]any)["id"].(string)
				if seen[id] {
					t.Errorf("connection %s twice", id)
				}
				seen[id] = true
			}
			tok, _ := m["continuationToken"].(string)
			if tok == "" {
				if m["_links"] != nil {
					t.Error("_links without continuationToken")
				}
				break
			}
			href := m["_links"].(map[string]any)["next"].(map[string]any)["href"].(string)
			u, _ := url.Parse(href)
			if u.Path != "/connections" || u.Query().Get("continuationToken") != tok {
				t.Errorf("href %s", href)
			}
			if viaHref {
				q = u.RawQuery
			} else {
				q = spec + "&limit=100&continuationToken=" + url.QueryEscape(tok)
			}
		}
		if pages != 3 || len(seen) != 254 {
			t.Errorf("via href %v: %d pages, %d connections; want 3 and 254", viaHref, pages, len(seen))
		}
	}
	// Default limit 100, ordered by name descending on request.
	r := list("orderby=-name")
	items := r.obj(t)["items"].([]any)
	if len(items) != 100 || items[0].(map[string]any)["name"] != "solo" {
		t.Errorf("orderby=-name: %d items, first %v", len(items), items[0])
	}
}
