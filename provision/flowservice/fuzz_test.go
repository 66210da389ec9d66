package flowservice

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/hubprov/hubprov/provision/internal/httpapi"
)

// FuzzErrorBody feeds arbitrary error bodies to the decoder of the API's
// three error shapes and to the scrubber: it must never panic, and a secret
// in the body never survives. Its seed corpus is in testdata/fuzz/FuzzErrorBody.
func FuzzErrorBody(f *testing.F) {
	f.Add(400, []byte(`{"type":"https://ns.adobe.com/aep/errors/FLOW-1100-400","title":"bad","status":400,"report":{"request-id":"r","detailed-message":"d S3cr/t<x>"},"errorMessage":"m"}`))
	f.Add(401, []byte(`{"error_code":"401013","message":"Oauth token is not valid"}`))
	f.Add(404, []byte(`{"type":"/","report":{"request-id":5}}`))
	f.Add(500, []byte(`{"type":""}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		resp := &http.Response{StatusCode: status, Header: http.Header{}}
		id, msg := parseError(body, resp)
		const secret = "S3cr/t<x>"
		if text := httpapi.Scrub(id+" "+msg, []string{secret}); strings.Contains(text, secret) {
			t.Fatalf("the secret survived: %q", text)
		}
	})
}

// FuzzPageToken feeds arbitrary list answers to the continuation-token
// reader (the top-level token, or _links.next.href): it must never panic.
func FuzzPageToken(f *testing.F) {
	f.Add([]byte(`{"items":[],"continuationToken":"abc"}`))
	f.Add([]byte(`{"items":[],"_links":{"next":{"href":"/connections?continuationToken=x%20y&limit=2"}}}`))
	f.Add([]byte(`{"_links":{"next":{"href":"%zz://::"}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var l listResponse
		if json.Unmarshal(body, &l) == nil {
			_ = l.next()
		}
	})
}
