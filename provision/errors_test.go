package provision

import (
	"math"
	"net/http"
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
		{now.Add(30 * time.Second).Format(time.RFC1123), 31 * time.Second}, // by the end of the second it names
		{now.Add(100 * 365 * 24 * time.Hour).Format(time.RFC1123), RetryAfterCap},
		{now.Add(-time.Hour).Format(time.RFC1123), 0},
		{now.Add(-time.Second).Format(time.RFC1123), 0},
	} {
		if got := ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestParseRetryAfterDateNamesAWholeSecond: an HTTP date has no fraction, and
// servers format the moment they mean truncated (Go's http.TimeFormat does):
// "retry after 12:00:01" said at 12:00:00.9 may mean 12:00:01.8. Read as the
// start of its second, it sent a run's requests back into a closed window
// before it reopened, and a date already begun read as no Retry-After at all.
// The wait lasts to the end of the second named.
func TestParseRetryAfterDateNamesAWholeSecond(t *testing.T) {
	second := time.Date(2026, 12, 1, 12, 0, 1, 0, time.UTC)
	date := second.Format(http.TimeFormat)
	for _, tc := range []struct {
		now  time.Time
		want time.Duration
	}{
		{second.Add(-100 * time.Millisecond), 1100 * time.Millisecond},
		{second.Add(-900 * time.Millisecond), 1900 * time.Millisecond},
		{second.Add(300 * time.Millisecond), 700 * time.Millisecond}, // the second named has begun
		{second.Add(time.Second), 0},
	} {
		if got := ParseRetryAfter(date, tc.now); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) at %v = %v, want %v", date, tc.now.Format("15:04:05.000"), got, tc.want)
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
