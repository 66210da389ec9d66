// Package httpapi is the HTTP plumbing both platform clients share: one
// request sent, its answer read within a cap whatever the platform sends, its
// error body decoded by the platform's own decoder, and every text it returns
// scrubbed of the request's secrets in every form an echo takes.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
	"unicode/utf8"

	"github.com/hubprov/hubprov/internal/redact"
	"github.com/hubprov/hubprov/provision"
)

// Caps on what is read of an answer. MaxBody is the platforms' documented
// payload limit (8 MB); more is refused, never buffered. An error body is
// read up to maxErrorBody, and what is left of any body is drained up to
// maxDrain (so the connection can be reused) before it is closed.
const (
	MaxBody      = 8 << 20
	maxErrorBody = 64 << 10
	maxDrain     = 256 << 10
)

// maxMessage caps the platform message kept in an error.
const maxMessage = 512

// ErrTooLarge is the error of an answer over MaxBody.
var ErrTooLarge = errors.New("response too large")

// Client sends the requests of one platform client.
type Client struct {
	HC       *http.Client
	Platform string           // names the platform in errors
	Now      func() time.Time // the clock Retry-After dates are read against
	// DecodeError reads the body of an answer that is not 2xx into the
	// platform's request id and message. It may be given any bytes.
	DecodeError func(raw []byte, resp *http.Response) (requestID, message string)
}

// serverNow is the moment a response was sent on the server's clock, which
// its Retry-After dates are on: this machine's clock, local, unless its Date
// header says that is off by more than the header's own second (then the
// middle of the Date's second).
func serverNow(h http.Header, local time.Time) time.Time {
	date, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return local
	}
	if mid := date.Add(time.Second / 2); local.Sub(mid).Abs() > 1500*time.Millisecond {
		return mid
	}
	return local
}

// Request is one call.
type Request struct {
	Op      string // list, lookup, get, create, update, delete, oauth-url
	Method  string
	URL     string // may hold a secret (oauth/url): never shown
	Header  http.Header
	Body    any      // sent as JSON when not nil
	Secrets []string // removed, in every form, from every text the call returns
	Out     any      // a 2xx JSON answer is decoded into it when not nil
}

// Do sends r and decodes a 2xx answer into r.Out. Any other outcome is an
// *provision.APIError whose text is scrubbed of r.Secrets: a transport error
// (Status 0, unwrapping to its cause), an error answer (its status, request
// id, message and Retry-After), an answer over MaxBody (ErrTooLarge) or one
// that does not decode. It returns the answer's header when there is one.
func (c *Client) Do(ctx context.Context, r Request) (http.Header, error) {
	scrub := func(s string) string { return Scrub(s, r.Secrets) }
	fail := func(status int, msg string, err error) *provision.APIError {
		return &provision.APIError{Platform: c.Platform, Op: r.Op, Status: status, Message: scrub(msg), Err: err}
	}
	var rd io.Reader
	if r.Body != nil {
		b, err := json.Marshal(r.Body)
		if err != nil {
			return nil, fail(0, "", fmt.Errorf("encode request: %w", err))
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, rd)
	if err != nil {
		// The URL may hold a secret (oauth/url): keep only the cause.
		return nil, fail(0, "", &scrubbedError{msg: "build request: invalid base URL or path", err: err})
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	resp, err := c.HC.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && ue.Err != nil {
			err = errors.Unwrap(ue) // url.Error prints the URL, which may hold a secret
		}
		return nil, fail(0, "", &scrubbedError{msg: scrub(err.Error()), err: err})
	}
	provision.NoteResponse(ctx, resp.Header) // the limit the platform announces paces the run
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		_ = resp.Body.Close()
	}()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		ae := fail(resp.StatusCode, "", nil)
		id, msg := c.DecodeError(raw, resp)
		ae.RequestID, ae.Message = scrub(id), scrub(msg)
		ae.RetryAfter = provision.ParseRetryAfter(resp.Header.Get("Retry-After"), serverNow(resp.Header, c.Now()))
		return resp.Header, ae
	}
	if r.Out == nil {
		return resp.Header, nil
	}
	var raw []byte
	if resp.ContentLength > MaxBody {
		err = tooLarge() // announced: nothing is read
	} else {
		raw, err = ReadBody(resp.Body)
	}
	if errors.Is(err, ErrTooLarge) {
		e := fail(resp.StatusCode, err.Error(), nil)
		e.RequestID = scrub(resp.Header.Get("X-Request-Id"))
		return nil, e
	}
	if err != nil {
		return nil, fail(0, "", &scrubbedError{msg: "read response: " + scrub(err.Error()), err: err})
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, r.Out); err != nil {
			e := fail(resp.StatusCode, "undecodable response: "+err.Error(), nil)
			e.RequestID = scrub(resp.Header.Get("X-Request-Id"))
			return nil, e
		}
	}
	return resp.Header, nil
}

// ReadBody reads a whole answer body of at most MaxBody bytes; a longer one
// is ErrTooLarge, after reading one byte past the cap and no more. The buffer
// doubles up to the cap, so reading n bytes allocates about 2n.
func ReadBody(body io.Reader) ([]byte, error) {
	buf := make([]byte, 0, 32<<10)
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= MaxBody {
				var one [1]byte
				n, err := io.ReadFull(body, one[:])
				if n > 0 {
					return nil, tooLarge()
				}
				if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
					return buf, nil
				}
				return nil, err
			}
			buf = append(make([]byte, 0, min(2*cap(buf), MaxBody)), buf...)
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func tooLarge() error {
	return fmt.Errorf("%w: over %d MiB, the platform's payload limit", ErrTooLarge, MaxBody>>20)
}

// Scrub replaces every form of every secret in s with [redacted] (see
// package redact) and caps the result at maxMessage bytes.
func Scrub(s string, secrets []string) string {
	s = redact.String(s, secrets)
	if len(s) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// scrubbedError is a transport error whose text was scrubbed of secrets. It
// unwraps to the original error so its cause (a refused dial, a reset, a
// timeout) can be classified.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }
