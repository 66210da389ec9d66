package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hubprov/hubprov/provision"
)

func client(srv *httptest.Server) *Client {
	return &Client{HC: srv.Client(), Platform: "test", Now: time.Now,
		DecodeError: func(raw []byte, _ *http.Response) (string, string) { return "", string(raw) }}
}

// endless is a body that never ends: zeros inside a JSON string.
type endless struct{ started bool }

func (e *endless) Read(p []byte) (int, error) {
	if !e.started {
		e.started = true
		return copy(p, `["`), nil
	}
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

// TestHugeAnswerIsRefused: a 2xx answer of 100 MB (or one that never ends)
// fails with "response too large" after reading just past the cap, and the
// memory it costs stays near the cap, not the answer's size.
func TestHugeAnswerIsRefused(t *testing.T) {
	for name, size := range map[string]int64{"100 MB": 100 << 20, "endless": -1, "100 MB announced": 100 << 20} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var body io.Reader = &endless{}
				if strings.HasSuffix(name, "announced") {
					w.Header().Set("Content-Length", "104857600")
				}
				if size > 0 {
					body = io.LimitReader(body, size)
				}
				_, _ = io.Copy(w, body)
			}))
			defer srv.Close()
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			var out []string
			_, err := client(srv).Do(context.Background(), Request{Op: "get", Method: "GET", URL: srv.URL, Out: &out})
			runtime.ReadMemStats(&m1)
			var ae *provision.APIError
			if !errors.Is(err, ErrTooLarge) && !(errors.As(err, &ae) && strings.Contains(ae.Message, "response too large")) {
				t.Fatalf("err = %v, want response too large", err)
			}
			if !strings.Contains(err.Error(), "response too large: over 8 MiB") || ae.Status != 200 {
				t.Errorf("error text %q", err)
			}
			// Reading up to the cap costs about twice the cap; the answer is 100 MB or more.
			if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 3*MaxBody {
				t.Errorf("allocated %d MiB reading the answer, want under %d MiB", alloc>>20, 3*MaxBody>>20)
			}
		})
	}
}

// TestEndlessBodyWithoutDecodingEnds: an answer nobody decodes (a delete's)
// is drained only up to a bound, so an endless one cannot hold the request.
func TestEndlessBodyWithoutDecodingEnds(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, &endless{})
	}))
	defer srv.Close()
	if _, err := client(srv).Do(context.Background(), Request{Op: "delete", Method: "DELETE", URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	// An endless error body too.
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		_, _ = io.Copy(w, &endless{})
	}))
	defer srv2.Close()
	_, err := client(srv2).Do(context.Background(), Request{Op: "get", Method: "GET", URL: srv2.URL, Out: new(any)})
	var ae *provision.APIError
	if !errors.As(err, &ae) || ae.Status != 500 || len(ae.Message) > maxMessage+len("…") {
		t.Fatalf("err = %v", err)
	}
}

// TestEchoedSecretsScrubbed: a secret echoed back raw, JSON-escaped (with
// \/ and \u003c), HTML-escaped or URL-encoded never reaches the error.
func TestEchoedSecretsScrubbed(t *testing.T) {
	const secret = "s3cr/t<&>\"key'+x"
	js, _ := json.Marshal(secret)
	forms := map[string]string{
		"raw":      secret,
		"json":     string(js),
		"json \\/": strings.ReplaceAll(string(js), "/", `\/`),
		"html":     html.EscapeString(secret),
		"url":      url.QueryEscape(secret),
		"path":     url.PathEscape(secret),
	}
	for name, echo := range forms {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Request-Id", echo)
				w.WriteHeader(400)
				_, _ = io.WriteString(w, `{"message":"bad key `+echo+`"}`)
			}))
			defer srv.Close()
			c := client(srv)
			c.DecodeError = func(raw []byte, resp *http.Response) (string, string) {
				return resp.Header.Get("X-Request-Id"), string(raw)
			}
			_, err := c.Do(context.Background(), Request{Op: "create", Method: "POST", URL: srv.URL, Secrets: []string{secret}})
			var ae *provision.APIError
			if !errors.As(err, &ae) {
				t.Fatal(err)
			}
			text := err.Error() + ae.RequestID
			if strings.Contains(text, "s3cr") || !strings.Contains(text, "[redacted]") {
				t.Errorf("the secret shows through: %s", text)
			}
		})
	}
}

func TestReadBodyBoundary(t *testing.T) {
	for _, n := range []int{0, 1, 32 << 10, 32<<10 + 1, MaxBody - 1, MaxBody, MaxBody + 1, MaxBody + 100} {
		b, err := ReadBody(io.LimitReader(&endless{}, int64(n)))
		switch {
		case n <= MaxBody && (err != nil || len(b) != n):
			t.Errorf("%d bytes: read %d, %v", n, len(b), err)
		case n > MaxBody && !errors.Is(err, ErrTooLarge):
			t.Errorf("%d bytes: err %v, want ErrTooLarge", n, err)
		}
	}
}

// TestRetryAfterDateOnTheServersClock: a Retry-After date is the server's
// clock; when this machine's is off by more than the Date header's own
// second, the wait is read against the Date header, not this clock (30 s
// behind, a 2 s wait read as 32 s; 30 s ahead, as none at all).
func TestRetryAfterDateOnTheServersClock(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
		w.Header().Set("Retry-After", now.Add(2*time.Second).UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	for _, skew := range []time.Duration{0, -30 * time.Second, 30 * time.Second} {
		c := client(srv)
		c.Now = func() time.Time { return time.Now().Add(skew) }
		_, err := c.Do(context.Background(), Request{Op: "create", Method: "POST", URL: srv.URL})
		var ae *provision.APIError
		if !errors.As(err, &ae) || ae.Status != 429 {
			t.Fatalf("skew %v: err %v, want a 429", skew, err)
		}
		// Two seconds from a moment in the Date's second, to the end of the
		// Retry-After's: 2 to 3.5 s with the Date's midpoint as now.
		if ae.RetryAfter < 1500*time.Millisecond || ae.RetryAfter > 3500*time.Millisecond {
			t.Errorf("this clock %v off: Retry-After read as %v; want 2 to 3 s", skew, ae.RetryAfter)
		}
	}
}
