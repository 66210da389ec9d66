package provision

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// announcedLimit is what a response's headers say about the platform's rate
// limit.
type announcedLimit struct {
	rate  float64       // requests per second the policy allows; 0 when not announced
	spent bool          // the quota is spent
	reset time.Duration // until the quota resets, when announced
}

// minAnnouncedReset is the shortest announced reset of a spent quota that
// pauses the run: resets come in whole seconds, so "0 left, reset in 1 s" may
// mean 20 ms (a token bucket's next token) and is left to the throttles.
const minAnnouncedReset = 2 * time.Second

// maxAnnouncedWindow is the longest policy window paced by: a daily quota is
// not a pace (it would make a run of a few thousand requests last a day).
const maxAnnouncedWindow = time.Hour

// parseLimitHeaders reads the rate limit a platform announces, in any of the
// forms in use:
//
//   - HubSpot: X-HubSpot-RateLimit-Max (requests per interval),
//     X-HubSpot-RateLimit-Interval-Milliseconds, X-HubSpot-RateLimit-Remaining.
//   - IETF draft-ietf-httpapi-ratelimit-headers, structured form:
//     RateLimit-Policy: "burst";q=100;w=10 (quota q per w seconds; several
//     policies may be listed) and RateLimit: "burst";r=0;t=5 (r remaining,
//     t seconds until reset).
//   - The draft's earlier forms: RateLimit-Policy: 100;w=10, RateLimit-Limit,
//     RateLimit-Remaining, RateLimit-Reset, and RateLimit: limit=100,
//     remaining=0, reset=5.
//
// The most restrictive policy with a window up to maxAnnouncedWindow wins.
func parseLimitHeaders(h http.Header) announcedLimit {
	var l announcedLimit
	consider := func(quota float64, window time.Duration) {
		if quota <= 0 || window <= 0 || window > maxAnnouncedWindow {
			return
		}
		if r := quota / window.Seconds(); l.rate == 0 || r < l.rate {
			l.rate = r
		}
	}
	remaining := func(v string, reset time.Duration) {
		if n, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && n <= 0 {
			l.spent = true
			if reset > 0 {
				l.reset = reset
			}
		}
	}

	if max := h.Get("X-HubSpot-RateLimit-Max"); max != "" {
		q, err1 := strconv.ParseFloat(strings.TrimSpace(max), 64)
		ms, err2 := strconv.ParseFloat(strings.TrimSpace(h.Get("X-HubSpot-RateLimit-Interval-Milliseconds")), 64)
		if err1 == nil && err2 == nil {
			consider(q, time.Duration(ms*float64(time.Millisecond)))
		}
		// HubSpot gives no reset time for the interval: a spent quota is left
		// to the throttles that follow.
	}

	for _, v := range h.Values("RateLimit-Policy") {
		for _, item := range splitList(v) {
			params := itemParams(item)
			q, hasQ := params["q"]
			if !hasQ {
				q = params[""] // the earlier form: the bare item is the quota
			}
			consider(q, time.Duration(params["w"]*float64(time.Second)))
		}
	}
	if lim := h.Get("RateLimit-Limit"); lim != "" && h.Get("RateLimit-Policy") == "" {
		// Without a policy, the window is the reset time (the draft's advice).
		q, err1 := strconv.ParseFloat(strings.TrimSpace(lim), 64)
		w, err2 := strconv.ParseFloat(strings.TrimSpace(h.Get("RateLimit-Reset")), 64)
		if err1 == nil && err2 == nil {
			consider(q, time.Duration(w*float64(time.Second)))
		}
	}
	if rem := h.Get("RateLimit-Remaining"); rem != "" {
		reset, _ := strconv.ParseFloat(strings.TrimSpace(h.Get("RateLimit-Reset")), 64)
		remaining(rem, time.Duration(reset*float64(time.Second)))
	}
	for _, v := range h.Values("RateLimit") {
		for _, item := range splitList(v) {
			params := itemParams(item)
			if r, ok := params["r"]; ok { // structured: "name";r=0;t=5
				if r <= 0 {
					remaining("0", time.Duration(params["t"]*float64(time.Second)))
				}
				continue
			}
		}
		// draft 7: limit=100, remaining=0, reset=5 (one dictionary)
		d := map[string]float64{}
		for _, kv := range splitList(v) {
			k, val, ok := strings.Cut(kv, "=")
			if n, err := strconv.ParseFloat(strings.TrimSpace(val), 64); ok && err == nil {
				d[strings.ToLower(strings.TrimSpace(k))] = n
			}
		}
		if rem, ok := d["remaining"]; ok && rem <= 0 {
			remaining("0", time.Duration(d["reset"]*float64(time.Second)))
		}
	}
	return l
}

// splitList splits a header's comma-separated list, ignoring commas inside
// quoted strings.
func splitList(v string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, strings.TrimSpace(v[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(v[start:]))
}

// itemParams reads a structured-field item with parameters, `"name";q=100;w=10`
// or `100;w=10`: numeric parameters by name, and a numeric bare item under "".
func itemParams(item string) map[string]float64 {
	out := map[string]float64{}
	for i, part := range strings.Split(item, ";") {
		part = strings.TrimSpace(part)
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			if i == 0 {
				if n, err := strconv.ParseFloat(part, 64); err == nil {
					out[""] = n
				}
			}
			continue
		}
		if n, err := strconv.ParseFloat(strings.Trim(strings.TrimSpace(v), `"`), 64); err == nil {
			out[strings.ToLower(strings.TrimSpace(k))] = n
		}
	}
	return out
}

type limitObserverKey struct{}

// withLimitObserver returns a context whose requests report the limits their
// responses announce to pol.
func withLimitObserver(ctx context.Context, pol *policy) context.Context {
	return context.WithValue(ctx, limitObserverKey{}, pol)
}

// NoteResponse gives the headers of a platform response to the run that sent
// the request (through ctx), so the run paces from the rate limit the platform
// announces. Platform clients call it for every response, success or not;
// outside a run it does nothing.
func NoteResponse(ctx context.Context, h http.Header) {
	pol, _ := ctx.Value(limitObserverKey{}).(*policy)
	if pol == nil {
		return
	}
	if l := parseLimitHeaders(h); l.rate > 0 || (l.spent && l.reset >= minAnnouncedReset) {
		pol.announce(l)
	}
}
