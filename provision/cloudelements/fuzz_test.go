package cloudelements

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hubprov/hubprov/provision/internal/httpapi"
)

// FuzzErrorBody feeds arbitrary error bodies and request-id headers to the
// platform's error decoder and the scrubber, as a hostile platform would
// send them: it must never panic, and a secret in the body never survives.
// Its seed corpus is in testdata/fuzz/FuzzErrorBody.
func FuzzErrorBody(f *testing.F) {
	f.Add(400, []byte(`{"requestId":"r1","message":"Invalid key S3cr/t<x>","providerMessage":"p"}`), "hdr")
	f.Add(500, []byte(`<html>Service Unavailable</html>`), "")
	f.Add(404, []byte(`{"requestId":7,"message":["x"]}`), "id")
	f.Add(429, []byte{0xff, 0xfe, 0x00}, "")
	f.Fuzz(func(t *testing.T, status int, body []byte, requestID string) {
		resp := &http.Response{StatusCode: status, Header: http.Header{"X-Request-Id": {requestID}}}
		id, msg := parseError(body, resp)
		const secret = "S3cr/t<x>"
		text := httpapi.Scrub(id+" "+msg, []string{secret})
		if strings.Contains(text, secret) {
			t.Fatalf("the secret survived: %q", text)
		}
		if utf8.ValidString(id+" "+msg) && len(text) > 512+len("…") {
			t.Fatalf("scrubbed message of %d bytes", len(text))
		}
	})
}
