package provision

import (
	"math"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"
)

// The pacer's tests run on a made-up clock: each method takes the time.

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// platform is a simulated platform for the pacer: it answers each request at
// once, admitted or throttled (with a Retry-After).
type platform func(now time.Time) (ok bool, retryAfter time.Duration)

// bucket is a token bucket of rate per second holding burst tokens.
func bucket(rate, burst float64) platform {
	tokens, last := burst, t0
	return func(now time.Time) (bool, time.Duration) {
		tokens = math.Min(burst, tokens+now.Sub(last).Seconds()*rate)
		last = now
		if tokens >= 1 {
			tokens--
			return true, 0
		}
		return false, time.Second
	}
}

// drive sends requests through p to pf for d of simulated time, never faster
// than maxRate (the parallelism), and returns the requests admitted and
// throttled after skip.
func drive(p *pacer, pf platform, start time.Time, d, skip time.Duration, maxRate float64) (admitted, throttled int) {
	now, last := start, time.Time{}
	for now.Before(start.Add(d)) {
		now = p.turn(now)
		if !last.IsZero() {
			now = laterOf(now, last.Add(time.Duration(float64(time.Second)/maxRate)))
		}
		last = now
		s := p.send(now)
		ok, ra := pf(now)
		counts := now.After(start.Add(skip))
		if ok {
			p.admit(now, s)
			if counts {
				admitted++
			}
		} else {
			p.throttle(now, s, ra)
			if counts {
				throttled++
			}
		}
	}
	return admitted, throttled
}

func TestPacerFindsATokenBucketsLimitAndHoldsIt(t *testing.T) {
	for _, burst := range []float64{1, 10, 50} {
		p := newPacer(0, t0)
		ok, thr := drive(p, bucket(50, burst), t0, 40*time.Second, 10*time.Second, 2000)
		rate := float64(ok) / 30
		share := float64(thr) / float64(ok+thr)
		if rate < 0.9*50 || share > 0.05 {
			t.Errorf("burst %v: %.1f/s admitted (limit 50/s), %.1f%% throttled; want at least 45/s and at most 5%%", burst, rate, 100*share)
		}
	}
}

func TestPacerCutsOnAThrottleCluster(t *testing.T) {
	p := newPacer(0, t0)
	p.announce(t0, 100) // pacing at 100/s
	now := t0
	for range 200 { // two seconds admitted at 100/s
		now = p.turn(now)
		p.admit(now, p.send(now))
	}
	// The platform's limit drops to about half: every other answer a throttle.
	p.ceiling = math.Inf(1)
	for i := range 20 {
		now = p.turn(now)
		s := p.send(now)
		if i%2 == 0 {
			p.throttle(now, s, 0)
		} else {
			p.admit(now, s)
		}
	}
	if r := p.pace(now); r > beta*100 || r < beta*40 {
		t.Fatalf("pace %.1f/s after half the answers were throttles at 100/s; want a cut to about %v x the admitted rate", r, beta)
	}
	// One cut per round: answers to requests sent before the cut do not cut again.
	before := p.pace(now)
	for range 10 {
		p.throttle(now, stamp{epoch: p.epoch - 1, band: band(100)}, 0)
	}
	if r := p.pace(now); r != before {
		t.Fatalf("throttles of requests sent before the cut moved the pace from %.1f to %.1f", before, r)
	}
}

func TestPacerSingleThrottleDoesNotPauseTheRun(t *testing.T) {
	p := newPacer(0, t0)
	p.announce(t0, 20)
	now := t0
	for range 40 {
		now = p.turn(now)
		p.admit(now, p.send(now))
	}
	now = p.turn(now)
	p.throttle(now, p.send(now), 30*time.Second) // one throttle, Retry-After 30 s
	if reason, _ := p.paused(now); reason != "" {
		t.Fatalf("one throttle paused the run: %s", reason)
	}
	if next := p.turn(now); next.Sub(now) > 100*time.Millisecond {
		t.Fatalf("the next request waits %v after one throttle; want its turn at the pace (50 ms)", next.Sub(now))
	}
}

func TestPacerPausesForAClosedWindow(t *testing.T) {
	p := newPacer(0, t0)
	p.announce(t0, 100)
	now := t0
	for range 100 { // a window's quota, spent in a second
		now = p.turn(now)
		p.admit(now, p.send(now))
	}
	ra := 9 * time.Second // the window reopens in 9 s
	for range clusterSizeFor(p, now, ra) {
		now = p.turn(now)
		p.throttle(now, p.send(now), ra)
	}
	reason, until := p.paused(now)
	if reason == "" || until.Sub(now) < 8*time.Second || until.Sub(now) > ra {
		t.Fatalf("after a cluster of throttles with Retry-After %v: paused %q until +%v; want a pause of 8.5 s", ra, reason, until.Sub(now))
	}
	if next := p.turn(now); next.Before(until) {
		t.Fatalf("a request may go at +%v, before the pause ends", next.Sub(now))
	}
	// After the pause the pace is the window's rate: 100 per 10 s.
	if r := p.pace(until); r < 9 || r > 11.5 {
		t.Fatalf("pace after the window reopened %.1f/s; want its quota over its cycle, about 10/s", r)
	}
}

func clusterSizeFor(p *pacer, now time.Time, ra time.Duration) int {
	return p.clusterSize(now, ra)
}

func TestPacerRecoversToThePeakWithinRecoverTime(t *testing.T) {
	p := newPacer(0, t0)
	pf := bucket(50, 1)
	drive(p, pf, t0, 10*time.Second, 0, 2000)
	// Force a cut now and watch the recovery.
	now := t0.Add(10 * time.Second)
	p.cut(now, 0.5)
	peak, from := p.peak, p.pace(now)
	if math.Abs(from-beta*peak) > 1e-9 {
		t.Fatalf("pace right after the cut %.2f, want beta x peak = %.2f", from, beta*peak)
	}
	for _, c := range []struct {
		after time.Duration
		min   float64
	}{{recoverTime / 2, from + 0.85*(peak-from)}, {recoverTime, peak}} {
		p.sent.add(now.Add(c.after)) // the run keeps sending
		if r := p.pace(now.Add(c.after)); r < c.min-1e-9 {
			t.Errorf("pace %v after the cut: %.2f, want at least %.2f (peak %.2f)", c.after, r, c.min, peak)
		}
	}
	late := now.Add(recoverTime + 2*time.Second)
	for i := range 50 { // the run sends at the pace
		p.sent.add(late.Add(-time.Duration(i) * 20 * time.Millisecond))
	}
	if r := p.pace(late); r <= peak {
		t.Errorf("pace 2 s after reaching the peak: %.2f, want it probing above %.2f", r, peak)
	}
}

func TestPacerIgnoresRateIndependentThrottles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	noise := func(time.Time) (bool, time.Duration) { return rng.Float64() >= 0.05, time.Second }
	p := newPacer(0, t0)
	ok, thr := drive(p, noise, t0, 20*time.Second, 10*time.Second, 1000)
	rate := float64(ok+thr) / 10
	if rate < 0.95*1000 {
		t.Fatalf("5%% random throttles, parallelism good for 1000/s: %.0f requests/s in the last 10 s; want the pace not cut (at least 950/s)", rate)
	}
	if p.noise < 0.02 || p.noise > 0.1 {
		t.Errorf("noise floor %.3f, want about 0.05", p.noise)
	}
	if reason, _ := p.paused(t0.Add(20 * time.Second)); reason != "" {
		t.Errorf("paused: %s", reason)
	}
}

func TestPacerStartsFromAnnouncedLimit(t *testing.T) {
	p := newPacer(0, t0)
	h := http.Header{}
	h.Set("X-HubSpot-RateLimit-Max", "100")
	h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", "10000")
	h.Set("X-HubSpot-RateLimit-Remaining", "99")
	l := parseLimitHeaders(h)
	if l.rate != 10 || l.spent {
		t.Fatalf("HubSpot headers: %+v, want 10/s", l)
	}
	p.announce(t0, l.rate)
	now := p.turn(t0)
	p.admit(now, p.send(now))
	next := p.turn(now)
	if d := next.Sub(now); d != 100*time.Millisecond {
		t.Fatalf("announced 100 per 10 s: the second request waits %v, want 100ms", d)
	}
	// The pace never probes above the announcement.
	if r := p.pace(now.Add(time.Minute)); r > 10 {
		t.Fatalf("pace %.1f/s a minute later, above the announced 10/s", r)
	}
}

func TestParseLimitHeaders(t *testing.T) {
	for _, c := range []struct {
		headers map[string]string
		want    announcedLimit
	}{
		{map[string]string{"RateLimit-Policy": `"burst";q=100;w=10, "daily";q=1000;w=86400`, "RateLimit": `"burst";r=40;t=3`}, announcedLimit{rate: 10}},
		{map[string]string{"RateLimit-Policy": `"burst";q=50;w=1`, "RateLimit": `"burst";r=0;t=4`}, announcedLimit{rate: 50, spent: true, reset: 4 * time.Second}},
		{map[string]string{"RateLimit-Policy": `100;w=10`, "RateLimit-Limit": "100", "RateLimit-Remaining": "0", "RateLimit-Reset": "7"}, announcedLimit{rate: 10, spent: true, reset: 7 * time.Second}},
		{map[string]string{"RateLimit-Limit": "60", "RateLimit-Reset": "30"}, announcedLimit{rate: 2}},
		{map[string]string{"RateLimit": `limit=100, remaining=0, reset=5`}, announcedLimit{spent: true, reset: 5 * time.Second}},
		{map[string]string{"RateLimit-Policy": `"daily";q=1000;w=86400`}, announcedLimit{}}, // a daily quota is no pace
		{map[string]string{"X-HubSpot-RateLimit-Max": "190", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}, announcedLimit{rate: 19}},
		{map[string]string{"X-HubSpot-RateLimit-Max": "lots"}, announcedLimit{}},
	} {
		h := http.Header{}
		for k, v := range c.headers {
			h.Set(k, v)
		}
		if got := parseLimitHeaders(h); got != c.want {
			t.Errorf("%v: %+v, want %+v", c.headers, got, c.want)
		}
	}
}
