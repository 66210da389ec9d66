package emulator

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// start serves a new emulator on a loopback port for the test's lifetime.
func start(t *testing.T, opts Options) (*Emulator, *Server) {
	t.Helper()
	e := New(opts)
	s, err := Start("127.0.0.1:0", e)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return e, s
}

var testClient = &http.Client{Timeout: 10 * time.Second}

// ceHeader and flowHeader are the demo credentials.
func ceHeader() http.Header {
	return http.Header{"Authorization": {"User demo-user, Organization demo-org"}, "Content-Type": {"application/json"}}
}

func flowHeader() http.Header {
	return http.Header{
		"Authorization":   {"Bearer demo-token"},
		"X-Api-Key":       {"demo-key"},
		"X-Gw-Ims-Org-Id": {"demo@AdobeOrg"},
		"X-Sandbox-Name":  {"prod"},
		"Content-Type":    {"application/json"},
	}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

// obj decodes the body as a JSON object.
func (r resp) obj(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

func (r resp) arr(t *testing.T) []map[string]any {
	t.Helper()
	var m []map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

// call sends one request and reads the whole response.
func call(t *testing.T, c *http.Client, method, url string, h http.Header, body string) resp {
	t.Helper()
	r, err := doReq(c, method, url, h, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}

func doReq(c *http.Client, method, url string, h http.Header, body string) (resp, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return resp{}, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	res, err := c.Do(req)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return resp{}, err
	}
	return resp{res.StatusCode, res.Header, b}, nil
}

// with returns h with key set to v ("" deletes it).
func with(h http.Header, key, v string) http.Header {
	h = h.Clone()
	if v == "" {
		h.Del(key)
	} else {
		h.Set(key, v)
	}
	return h
}
