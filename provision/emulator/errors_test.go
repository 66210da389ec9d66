package emulator

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestCloudElementsErrors(t *testing.T) {
	e, s := start(t, Options{User: "u1", Organization: "o1"})
	base := s.CloudElementsURL()
	h := with(ceHeader(), "Authorization", "User u1, Organization o1")
	id := e.AddInstance(Seed{Name: "acme", Element: "hubspot", Tags: []string{"hubprov:set=s1"}})
	const (
		unauthorized = "Invalid Organization or User secret, or invalid Element token provided."
		allOAuth     = "oauth.api.key, oauth.api.secret, oauth.callback.url, providerData.code"
	)
	tests := []struct {
		name, method, path string
		header             http.Header
		body               string
		status             int
		msg                []string // substrings of message
	}{
		{"no credentials", "GET", "/instances", with(h, "Authorization", ""), "", 401, []string{unauthorized}},
		{"wrong user", "GET", "/instances", with(h, "Authorization", "User demo-user, Organization o1"), "", 401, []string{unauthorized}},
		{"wrong organization", "POST", "/instances", with(h, "Authorization", "User u1, Organization nope"), `{}`, 401, []string{unauthorized}},
		{"bearer instead", "GET", "/instances/" + id, with(h, "Authorization", "Bearer u1"), "", 401, []string{unauthorized}},
		{"credentials on oauth/url", "GET", "/elements/hubspot/oauth/url?apiKey=a&apiSecret=b&callbackUrl=c", with(h, "Authorization", ""), "", 401, []string{unauthorized}},
		{"credentials on delete", "DELETE", "/instances/" + id, with(h, "Authorization", "User u1"), "", 401, []string{unauthorized}},
		{"element token allowed", "GET", "/instances/" + id, with(h, "Authorization", "User u1, Organization o1, Element abc"), "", 200, nil},
		{"unknown element", "POST", "/instances", h, `{"element":{"key":"salesforce"},"name":"x"}`, 404, []string{"salesforce"}},
		{"unknown element in path", "POST", "/elements/nope/instances", h, `{"name":"x"}`, 404, []string{"nope"}},
		{"no element", "POST", "/instances", h, `{"name":"x","configuration":{}}`, 400, []string{"element.key"}},
		{"apiKey missing key", "POST", "/instances", h, `{"element":{"key":"hubspot"},"name":"x","configuration":{"authentication.type":"apiKey"}}`, 400, []string{"hubspot.authorization.apikey"}},
		{"oauth2 missing all", "POST", "/instances", h, `{"element":{"key":"hubspotcrm"},"name":"x","configuration":{"authentication.type":"oauth2"}}`, 400, []string{allOAuth}},
		{"nothing at all", "POST", "/instances", h, `{"element":{"key":"hubspotcrm"}}`, 400, []string{"name, " + allOAuth}},
		{"oauth2 empty values", "POST", "/instances", h, `{"element":{"key":"hubspotcrm"},"name":"x","providerData":{"code":""},"configuration":{"oauth.api.key":"k","oauth.api.secret":"","oauth.callback.url":"u"}}`, 400, []string{"entries: oauth.api.secret, providerData.code"}},
		{"oauth2 code only", "POST", "/instances", h, `{"element":{"key":"hubspot"},"name":"x","providerData":{"code":"c"}}`, 400, []string{"entries: oauth.api.key, oauth.api.secret, oauth.callback.url"}},
		{"tokens missing refresh", "POST", "/instances", h, `{"element":{"key":"hubspot"},"name":"x","providerData":{"access_token":"a"},"configuration":{"oauth.api.key":"k"}}`, 400, []string{"entries: oauth.api.secret, oauth.callback.url, providerData.refresh_token"}},
		{"bad auth type", "POST", "/instances", h, `{"element":{"key":"hubspot"},"name":"x","configuration":{"authentication.type":"basic"}}`, 400, []string{"authentication.type"}},
		{"not json", "POST", "/instances", h, `{"element":`, 400, []string{"Invalid JSON"}},
		{"content type", "POST", "/instances", with(h, "Content-Type", "text/plain"), `{}`, 415, []string{"Content-Type"}},
		{"get unknown", "GET", "/instances/999999", h, "", 404, []string{"999999"}},
		{"get non-numeric", "GET", "/instances/abc", h, "", 404, []string{"abc"}},
		{"patch unknown", "PATCH", "/instances/999999", h, `{"name":"y"}`, 404, []string{"999999"}},
		{"patch empty name", "PATCH", "/instances/" + id, h, `{"name":""}`, 400, []string{"name"}},
		{"put without name", "PUT", "/instances/" + id, h, `{"tags":[]}`, 400, []string{"name"}},
		{"put missing config", "PUT", "/instances/" + id, h, `{"name":"acme","configuration":{"authentication.type":"apiKey"}}`, 400, []string{"hubspot.authorization.apikey"}},
		{"delete unknown", "DELETE", "/instances/999999", h, "", 404, []string{"999999"}},
		{"search no match", "GET", "/instances?searchText=zzz", h, "", 404, []string{"No instances"}},
		{"tag no match", "GET", "/instances?tags%5B%5D=hubprov:set=other", h, "", 404, []string{"No instances"}},
		{"tags all must match", "GET", "/instances?tags[]=hubprov:set=s1&tags[]=x", h, "", 404, nil},
		{"search and tag no match", "GET", "/instances?tags[]=hubprov:set=s1&searchText=globex", h, "", 404, nil},
		{"bad page size", "GET", "/instances?pageSize=0", h, "", 400, []string{"pageSize"}},
		{"bad next page", "GET", "/instances?nextPage=zzzz", h, "", 400, []string{"nextPage"}},
		{"oauth/url missing all", "GET", "/elements/hubspot/oauth/url", h, "", 400, []string{"apiKey, apiSecret, callbackUrl"}},
		{"oauth/url missing secret", "GET", "/elements/hubspotcrm/oauth/url?apiKey=a&callbackUrl=c&scope=x", h, "", 400, []string{"parameters: apiSecret"}},
		{"oauth/url unknown element", "GET", "/elements/nope/oauth/url?apiKey=a&apiSecret=b&callbackUrl=c", h, "", 404, []string{"nope"}},
		{"unknown path", "GET", "/nothing", h, "", 404, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, testClient, tc.method, base+tc.path, tc.header, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.status, r.body)
			}
			if tc.status < 400 {
				return
			}
			checkCEError(t, r)
			msg := r.obj(t)["message"].(string)
			for _, want := range tc.msg {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
		})
	}
	if v, _ := e.Instance(id); v.Name != "acme" || v.Updates != 0 {
		t.Errorf("failed updates changed the instance: %+v", v)
	}
	if st := e.Stats(); st.Creates != 0 || st.Deletes != 0 || st.Instances != 1 {
		t.Errorf("stats after errors: %+v", st)
	}
}

func TestCloudElementsUpdate(t *testing.T) {
	e, s := start(t, Options{})
	base := s.CloudElementsURL()
	body := `{"element":{"key":"hubspotcrm"},"name":"acme","tags":["a","hubprov:set=s1"],
	  "configuration":{"authentication.type":"apiKey","hubspot.authorization.apikey":"k1","filter.response.nulls":true}}`
	r := call(t, testClient, "POST", base+"/instances", ceHeader(), body)
	id := jsonID(r.obj(t)["id"])

	r = call(t, testClient, "PATCH", base+"/instances/"+id, ceHeader(),
		`{"name":"acme2","tags":["b","hubprov:set=s1"],"configuration":{"event.notification.enabled":false,"hubspot.authorization.apikey":"k2"}}`)
	if r.status != 200 {
		t.Fatalf("PATCH %d %s", r.status, r.body)
	}
	got := r.obj(t)
	cfg := got["configuration"].(map[string]any)
	if got["name"] != "acme2" || !slices.Equal(toStrings(got["tags"]), []string{"b", "hubprov:set=s1"}) ||
		cfg["event.notification.enabled"] != "false" || cfg["filter.response.nulls"] != "true" ||
		cfg["hubspot.authorization.apikey"] != masked || cfg["authentication.type"] != "apiKey" {
		t.Errorf("PATCH response %s", r.body)
	}
	v, _ := e.Instance(id)
	if v.Configuration["hubspot.authorization.apikey"] != "k2" || v.LastConfiguration["event.notification.enabled"] != false || v.Updates != 1 {
		t.Errorf("stored %+v", v)
	}
	// A PATCH without tags keeps them.
	r = call(t, testClient, "PATCH", base+"/instances/"+id, ceHeader(), `{"configuration":{"x":"1"}}`)
	if !slices.Equal(toStrings(r.obj(t)["tags"]), []string{"b", "hubprov:set=s1"}) {
		t.Errorf("PATCH without tags: %s", r.body)
	}
	// Re-auth with a bad code marks the instance invalid, a good one valid again.
	r = call(t, testClient, "PATCH", base+"/instances/"+id, ceHeader(), `{"providerData":{"code":"invalid-code"}}`)
	if r.obj(t)["valid"] != false {
		t.Errorf("re-auth with invalid code: %s", r.body)
	}
	r = call(t, testClient, "PATCH", base+"/instances/"+id, ceHeader(), `{"providerData":{"code":"good"}}`)
	if r.obj(t)["valid"] != true {
		t.Errorf("re-auth with good code: %s", r.body)
	}
	// PUT replaces: no tags means none, configuration rebuilt.
	r = call(t, testClient, "PUT", base+"/instances/"+id, ceHeader(),
		`{"element":{"key":"hubspotcrm"},"name":"acme3","configuration":{"authentication.type":"apiKey","hubspot.authorization.apikey":"k3"}}`)
	got = r.obj(t)
	if r.status != 200 || got["name"] != "acme3" || len(got["tags"].([]any)) != 0 || got["configuration"].(map[string]any)["x"] != nil {
		t.Errorf("PUT %d %s", r.status, r.body)
	}
	// DELETE answers 200, then the instance is gone.
	if r = call(t, testClient, "DELETE", base+"/instances/"+id, ceHeader(), ""); r.status != 200 {
		t.Errorf("DELETE %d", r.status)
	}
	if r = call(t, testClient, "GET", base+"/instances/"+id, ceHeader(), ""); r.status != 404 {
		t.Errorf("GET after DELETE %d", r.status)
	}
	st := e.Stats()
	if st.Creates != 1 || st.Updates != 5 || st.Deletes != 1 || st.Instances != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestCloudElementsInvalidCode(t *testing.T) {
	_, s := start(t, Options{})
	for code, valid := range map[string]bool{"invalid-code": false, "invalid": false, "ok-code": true} {
		body := fmt.Sprintf(`{"element":{"key":"hubspot"},"name":"n","providerData":{"code":%q},
		  "configuration":{"oauth.api.key":"k","oauth.api.secret":"s","oauth.callback.url":"u"}}`, code)
		r := call(t, testClient, "POST", s.CloudElementsURL()+"/instances", ceHeader(), body)
		if r.status != 200 || r.obj(t)["valid"] != valid {
			t.Errorf("code %q: %d %s, want valid %v", code, r.status, r.body, valid)
		}
	}
}

func TestCloudElementsDuplicates(t *testing.T) {
	e, s := start(t, Options{})
	post := func(name string, tags ...string) {
		t.Helper()
		body := fmt.Sprintf(`{"element":{"key":"hubspot"},"name":%q,"tags":%s,
		  "configuration":{"authentication.type":"apiKey","hubspot.authorization.apikey":"k"}}`, name, jsonStrings(tags))
		if r := call(t, testClient, "POST", s.CloudElementsURL()+"/instances", ceHeader(), body); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	post("a", "hubprov:set=s1", "hubprov:spec=1")
	post("a", "hubprov:set=s1", "hubprov:spec=2") // duplicate: same set and name
	post("a", "hubprov:set=s2")                   // other set
	post("b", "hubprov:set=s1")                   // other name
	post("a")                                     // unmarked
	post("a", "x")                                // unmarked again: duplicate
	if st := e.Stats(); st.Duplicates != 2 || st.Creates != 6 || st.Instances != 6 {
		t.Errorf("stats %+v, want 2 duplicates of 6 creates", st)
	}

	// A rename moves the name; a delete frees it.
	id := "58775" // the fourth create: "b" of s1
	if r := call(t, testClient, "PATCH", s.CloudElementsURL()+"/instances/"+id, ceHeader(), `{"name":"c"}`); r.status != 200 {
		t.Fatalf("rename: %d %s", r.status, r.body)
	}
	post("b", "hubprov:set=s1") // "b" is free again
	post("c", "hubprov:set=s1") // duplicate of the renamed one
	if r := call(t, testClient, "DELETE", s.CloudElementsURL()+"/instances/"+id, ceHeader(), ""); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	post("c", "hubprov:set=s1") // the other "c" still lives: duplicate
	if st := e.Stats(); st.Duplicates != 4 || st.Instances != 8 {
		t.Errorf("after rename and delete: stats %+v, want 4 duplicates, 8 instances", st)
	}
}

func jsonStrings(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = strconv.Quote(x)
	}
	return "[" + strings.Join(q, ",") + "]"
}

// TestCloudElementsPaging lists 1,000 instances of a set among others and
// checks every one comes back exactly once.
func TestCloudElementsPaging(t *testing.T) {
	e, s := start(t, Options{})
	want := map[string]bool{}
	for i := range 1300 {
		set := "big"
		if i%13 == 0 {
			set = "other"
		}
		id := e.AddInstance(Seed{Name: fmt.Sprintf("acct-%04d", i), Tags: []string{"hubprov:set=" + set, "t"}})
		if set == "big" {
			want[id] = true
		}
	}
	// Delete 200 of them so the set has exactly 1,000.
	n := 0
	for id := range want {
		if n == 200 {
			break
		}
		if r := call(t, testClient, "DELETE", s.CloudElementsURL()+"/instances/"+id, ceHeader(), ""); r.status != 200 {
			t.Fatal(r.status)
		}
		delete(want, id)
		n++
	}
	if len(want) != 1000 {
		t.Fatalf("%d instances in the set", len(want))
	}
	q := url.Values{"tags[]": {"hubprov:set=big", "t"}, "pageSize": {"200"}}
	seen := map[string]int{}
	pages := 0
	for {
		r := call(t, testClient, "GET", s.CloudElementsURL()+"/instances?"+q.Encode(), ceHeader(), "")
		if r.status != 200 {
			t.Fatalf("page %d: %d %s", pages, r.status, r.body)
		}
		pages++
		if tc := r.header.Get("Elements-Total-Count"); tc != "1000" {
			t.Errorf("Elements-Total-Count %q", tc)
		}
		items := r.arr(t)
		if len(items) > 200 {
			t.Fatalf("page of %d", len(items))
		}
		for _, it := range items {
			seen[jsonID(it["id"])]++
		}
		next := r.header.Get("Elements-Next-Page-Token")
		if next == "" {
			break
		}
		q.Set("nextPage", next)
	}
	if pages != 5 || len(seen) != 1000 {
		t.Errorf("%d pages, %d distinct instances; want 5 and 1000", pages, len(seen))
	}
	for id, c := range seen {
		if c != 1 || !want[id] {
			t.Errorf("instance %s seen %d times (in set: %v)", id, c, want[id])
		}
	}
	// pageSize over the maximum is capped at 200; searchText filters by name.
	r := call(t, testClient, "GET", s.CloudElementsURL()+"/instances?pageSize=1000", ceHeader(), "")
	if len(r.arr(t)) != 200 || r.header.Get("Elements-Error") == "" || r.header.Get("Elements-Total-Count") != "1100" {
		t.Errorf("pageSize=1000: %d items, headers %v", len(r.arr(t)), r.header)
	}
	r = call(t, testClient, "GET", s.CloudElementsURL()+"/instances?tags[]=hubprov:set=other&searchText=ACCT-000", ceHeader(), "")
	if items := r.arr(t); len(items) != 1 || items[0]["name"] != "acct-0000" {
		t.Errorf("searchText: %s", r.body)
	}
	// An unfiltered empty list is an empty array.
	_, s2 := start(t, Options{})
	if r := call(t, testClient, "GET", s2.CloudElementsURL()+"/instances", ceHeader(), ""); r.status != 200 || string(r.body) != "[]" {
		t.Errorf("empty list: %d %s", r.status, r.body)
	}
}
