package provision

import (
	"math"
	"strconv"
	"testing"
	"time"
)

// TestParseRetryAfterSaturates reproduces a very large Retry-After that
// overflowed into a negative pause: every value is capped at 60 s, and
// negative or unreadable ones give no pause.
func TestParseRetryAfterSaturates(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"7", 7 * time.Second},
		{" 7 ", 7 * time.Second},
		{"59", 59 * time.Second},
		{"60", RetryAfterCap},
		{"3600", RetryAfterCap},
		{"9223372036", RetryAfterCap}, // overflows time.Duration in seconds
		{strconv.FormatUint(math.MaxUint64, 10), RetryAfterCap}, // overflows uint64 parsing
		{"99999999999999999999999999999999999", RetryAfterCap},
		{"-5", 0},
		{"+5", 0},
		{"5.5", 0},
		{"soon", 0},
		{now.Add(30 * time.Second).Format(time.RFC1123), 30 * time.Second},
		{now.Add(100 * 365 * 24 * time.Hour).Format(time.RFC1123), RetryAfterCap},
		{now.Add(-time.Hour).Format(time.RFC1123), 0},
	} {
		if got := ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestClassifyUnusable2xx: a 2xx answer that cannot be used (too large,
// undecodable) is an item error, but an ambiguous one for a create, which
// may have been made.
func TestClassifyUnusable2xx(t *testing.T) {
	if c := Classify(&APIError{Op: "get", Status: 200, Message: "response too large"}); c != Item {
		t.Errorf("get: %s", c)
	}
	if c := Classify(&APIError{Op: "create", Status: 201, Message: "response too large"}); c != Ambiguous {
		t.Errorf("create: %s", c)
	}
}
