package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// APIError is the one error type of every platform call.
type APIError struct {
	Platform   string        // target.platform
	Op         string        // list, lookup, get, create, update, delete, oauth-url
	Status     int           // HTTP status; 0 when no response arrived
	RequestID  string        // the platform's request id, when it gives one
	Message    string        // the platform's message, scrubbed of secrets
	RetryAfter time.Duration // from a Retry-After header; 0 when absent
	Err        error         // the transport error when Status is 0
}

func (e *APIError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("%s: %s: %s", e.Platform, e.Op, transportMessage(e.Err))
	}
	msg := fmt.Sprintf("%s: %s: HTTP %d", e.Platform, e.Op, e.Status)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.RequestID != "" {
		msg += " (request id " + e.RequestID + ")"
	}
	return msg
}

func (e *APIError) Unwrap() error { return e.Err }

// transportMessage says in words what went wrong when no answer came, rather
// than Go's error chain ("Post \"https://...\": dial tcp 10.0.0.1:443: connect:
// connection refused"): the platform's host is named where it helps.
func transportMessage(err error) string {
	var dns *net.DNSError
	var op *net.OpError
	switch {
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "no answer within the request timeout"
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return fmt.Sprintf("no such host %s", dns.Name)
		}
		return fmt.Sprintf("cannot resolve %s: %s", dns.Name, dns.Err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused" + addrOf(err)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection reset before an answer" + addrOf(err)
	case errors.As(err, &op) && op.Timeout():
		return "connection timed out" + addrOf(err)
	}
	return err.Error()
}

// addrOf is " by HOST:PORT" for a dial error, else "".
func addrOf(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Addr != nil && op.Op == "dial" {
		return " by " + op.Addr.String()
	}
	return ""
}

// Class says what the engine does about a failed call.
type Class string

// The failure classes.
const (
	// Transient failures are retried with backoff: 429, 500, 502, 503, 504,
	// and transport errors where the request surely was not acted upon.
	Transient Class = "transient"
	// Item failures belong to one account; it is recorded and the run goes on.
	Item Class = "item"
	// Systemic failures (rejected platform credentials) abort the run.
	Systemic Class = "systemic"
	// Ambiguous failures of a create may or may not have created the instance;
	// the engine looks it up before any retry.
	Ambiguous Class = "ambiguous"
	// Canceled means the run was interrupted.
	Canceled Class = "canceled"
)

// Classify says which class err belongs to. It is the one place that decides.
func Classify(err error) Class {
	if err == nil {
		return ""
	}
	if errors.Is(err, context.Canceled) {
		return Canceled
	}
	var ae *APIError
	if !errors.As(err, &ae) {
		return Item
	}
	switch {
	case ae.Status == 0:
		if notSent(ae.Err) {
			return Transient
		}
		if ae.Op == "create" {
			return Ambiguous
		}
		return Transient
	case ae.Status >= 200 && ae.Status <= 299:
		// A 2xx answer hubprov could not use (too large, undecodable): the
		// platform acted on the request, so a create may exist.
		if ae.Op == "create" {
			return Ambiguous
		}
		return Item
	case ae.Status == 401 || ae.Status == 403:
		return Systemic
	case ae.Status == 408 || ae.Status == 429 || ae.Status == 500 || ae.Status == 502 || ae.Status == 503 || ae.Status == 504:
		if ae.Op == "create" && (ae.Status == 500 || ae.Status == 502 || ae.Status == 504 || ae.Status == 408) {
			// The platform may have committed the create before failing.
			return Ambiguous
		}
		return Transient
	default:
		return Item
	}
}

// Unreachable reports whether err is a failure to reach the platform at all:
// the connection was refused or the host name did not resolve.
func Unreachable(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == 0 && notSent(ae.Err)
}

// notSent reports whether a transport error happened before the request left:
// a refused connection or a failed name lookup.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// RetryAfterCap is the longest pause a Retry-After header can ask for: a
// larger value, however large, means this.
const RetryAfterCap = 60 * time.Second

// ParseRetryAfter reads a Retry-After header: delta-seconds or an HTTP date,
// saturated at RetryAfterCap (a value of any size, an overflow included, is
// capped, never wrapped into a negative pause). A date in the past, a
// negative number, or a value it cannot read gives 0.
//
// An HTTP date has no fraction, and servers format the moment they mean
// truncated (Go's http.TimeFormat does): "12:00:01" can mean 12:00:01.8. The
// wait lasts to the end of the second the date names, as delta-seconds,
// rounded up by the server, last at most their whole number: either way the
// moment meant lies in the last second of the wait.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 64)
		switch {
		case errors.Is(err, strconv.ErrRange):
			return RetryAfterCap
		case err != nil:
			return 0
		case n >= uint64(RetryAfterCap/time.Second):
			return RetryAfterCap
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http1Date(v); err == nil {
		if d := t.Add(time.Second).Sub(now); d > 0 {
			return min(d, RetryAfterCap)
		}
	}
	return 0
}

func http1Date(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC1123, time.RFC850, time.ANSIC} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not an HTTP date: %q", v)
}
