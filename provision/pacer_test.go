package provision

import (
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// The pacer's tests run on a made-up clock: each method takes the time.

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestPacerFindsALimitAndHoldsIt(t *testing.T) {
	// Steady state, after the first 10 s, at 16 and 64 in flight with 50 ms
	// round trips and up to 1 ms of jitter on the way to the platform. A
	// bucket with a burst of 1 refuses a request that arrives under 20 ms
	// after the last, so with jitter it refuses some paced below its limit
	// (with 1 ms, 2% at 48/s): there the pacer holds 88% of the limit, not
	// the 90% of PRODUCT.md section 8.
	for _, c := range []struct {
		name     string
		srv      func() server
		limit    float64
		minRatio float64
	}{
		{"bucket 50/s burst 1", func() server { return tokenBucket(50, 1) }, 50, 0.86},
		{"bucket 50/s burst 10", func() server { return tokenBucket(50, 10) }, 50, 0.9},
		{"bucket 50/s burst 50", func() server { return tokenBucket(50, 50) }, 50, 0.9},
		{"window 100/10s", func() server { return fixedWindow(100, 10*time.Second, t0) }, 10, 0.9},
		{"window 50/2s", func() server { return fixedWindow(50, 2*time.Second, t0) }, 25, 0.9},
	} {
		for _, par := range []int{16, 64} {
			p := newPacer(0, t0)
			r := simulate(p, c.srv(), t0, simConfig{par: par, rtt: 50 * time.Millisecond, jitter: time.Millisecond,
				d: 70 * time.Second, skip: 10 * time.Second, seed: 1})
			share := float64(r.throttled) / float64(r.admitted+r.throttled)
			if r.rate < c.minRatio*c.limit || share > 0.05 {
				t.Errorf("%s, %d in flight: %.1f/s admitted (limit %v/s), %.1f%% throttled; want at least %.0f%% of the limit and at most 5%%",
					c.name, par, r.rate, c.limit, 100*share, 100*c.minRatio)
			}
		}
	}
}

func TestPacerCutsOnAThrottleCluster(t *testing.T) {
	p := newPacer(0, t0)
	p.announce(t0, 100)         // pacing at 100/s
	now := admitted(p, t0, 200) // two seconds admitted at 100/s
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
		p.throttle(now, stamp{epoch: p.epoch - 1, at: now, pace: 100}, 0)
	}
	if r := p.pace(now); r != before {
		t.Fatalf("throttles of requests sent before the cut moved the pace from %.1f to %.1f", before, r)
	}
}

func TestPacerSingleThrottleDoesNotPauseTheRun(t *testing.T) {
	p := newPacer(0, t0)
	p.announce(t0, 20)
	now := admitted(p, t0, 40)
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
	now := admitted(p, t0, 100) // a window's quota, spent in a second
	ra := 9 * time.Second       // the window reopens in 9 s
	for range 2 {
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
	// The reason shows whole on an 80-column progress line, after the
	// counts and with the time left (see the progress line's tests).
	if len(reason) > 50 {
		t.Errorf("pause reason of %d characters: %q; want at most 50", len(reason), reason)
	}
	// After the pause the pace is the window's rate: 100 per 10 s.
	if r := p.pace(until); r < 9 || r > 11.5 {
		t.Fatalf("pace after the window reopened %.1f/s; want its quota over its cycle, about 10/s", r)
	}
}

// TestPacerPausesToTheMiddleOfADatesLastSecond: a Retry-After given as a date
// is waited out to the end of the second it names (ParseRetryAfter), so it is
// no whole number of seconds, and as uncertain as one: the window reopens in
// its last second. The run resumes in the middle of it, as for delta-seconds;
// taken as exact, the pause lasted to its end, half a second too long on
// average, which against a window of 50 per 2 s lost a quarter of the rate.
func TestPacerPausesToTheMiddleOfADatesLastSecond(t *testing.T) {
	p := newPacer(0, t0)
	p.announce(t0, 100)
	now := admitted(p, t0, 100)
	reopen := now.Add(8600 * time.Millisecond) // the end of the second the date names
	for range 2 {
		now = p.turn(now)
		p.throttle(now, p.send(now), reopen.Sub(now))
	}
	if _, until := p.paused(now); until.Before(reopen.Add(-time.Second)) || !until.Before(reopen.Add(-400*time.Millisecond)) {
		t.Fatalf("paused until %v before the end of the date's second; want about 500ms (the middle of it)", reopen.Sub(until))
	}
}

func TestPacerRecoversToThePeakWithinRecoverTime(t *testing.T) {
	p := newPacer(0, t0)
	p.announce(t0, 100) // pacing at 100/s
	now := admitted(p, t0, 200)
	p.ceiling = math.Inf(1)
	// Ten requests in flight; the limit refuses eight of them: a cut to
	// the rate admitted, 20/s.
	var in []stamp
	for range 10 {
		now = p.turn(now)
		in = append(in, p.send(now))
	}
	now = now.Add(50 * time.Millisecond)
	for i, s := range in {
		if i%5 == 4 {
			p.admit(now, s)
		} else {
			p.throttle(now, s, time.Second)
		}
	}
	cut := now
	peak, from := p.peak, p.pace(now)
	if peak < 18 || peak > 25 || math.Abs(from-beta*peak) > 1e-9 {
		t.Fatalf("after 8 of 10 refused at 100/s: pace %.2f, peak %.2f; want a cut to beta x 20/s, recovering to 20/s", from, peak)
	}
	for _, c := range []struct {
		after time.Duration
		min   float64
	}{{recoverTime / 2, from + 0.85*(peak-from)}, {recoverTime, peak}} {
		p.sent.add(cut.Add(c.after)) // the run keeps sending
		if r := p.pace(cut.Add(c.after)); r < c.min-1e-9 {
			t.Errorf("pace %v after the cut: %.2f, want at least %.2f (peak %.2f)", c.after, r, c.min, peak)
		}
	}
	// Near the peak the pace stays flat (CUBIC's plateau), then probes.
	if r := p.pace(cut.Add(recoverTime + recoverTime/4)); r > peak*1.01 {
		t.Errorf("pace %v after reaching the peak: %.2f, want at most 1%% above %.2f", recoverTime/4, r, peak)
	}
	late := cut.Add(2 * recoverTime)
	for i := range 40 { // the run sends at the pace
		p.sent.add(late.Add(-time.Duration(i) * 25 * time.Millisecond))
	}
	if r := p.pace(late); r < peak*(1+probeGain)-1e-9 {
		t.Errorf("pace %v after reaching the peak: %.2f, want it probing at %.2f", recoverTime, r, peak*(1+probeGain))
	}
}

func TestPacerIgnoresRateIndependentThrottles(t *testing.T) {
	// 5% of requests refused whatever the rate, with Retry-After 1 s; 64 in
	// flight, 50 ms round trips: the run should go at the parallelism,
	// 1,280/s.
	for seed := range uint64(5) {
		p := newPacer(0, t0)
		noise := randomThrottles(0.05, time.Second, rand.New(rand.NewPCG(seed, 2)))
		r := simulate(p, noise, t0, simConfig{par: 64, rtt: 50 * time.Millisecond, d: 20 * time.Second, skip: 2 * time.Second, seed: seed})
		if sent := float64(r.admitted+r.throttled) / 18; sent < 0.97*1280 {
			t.Errorf("seed %d: %.0f requests/s after the first 2 s; want the pace left alone (at least 1,240/s)", seed, sent)
		}
		if reason, _ := p.paused(t0.Add(20 * time.Second)); reason != "" || p.phase != open {
			t.Errorf("seed %d: pacing at %.0f/s at the end, paused %q; want no pacing", seed, p.pace(t0.Add(20*time.Second)), reason)
		}
	}
}

func TestPacerTellsNoiseFromALimitAfterACut(t *testing.T) {
	// A limit is known (announced, then lifted); throttles then come at 5%
	// whatever the pace: the cut they cause is undone and the noise floor
	// learned, so later throttles at that share cut no more.
	p := newPacer(0, t0)
	p.announce(t0, 200)
	p.ceiling = math.Inf(1)
	noise := randomThrottles(0.05, time.Second, rand.New(rand.NewPCG(1, 2)))
	simulate(p, noise, t0, simConfig{par: 64, rtt: 50 * time.Millisecond, d: 30 * time.Second, seed: 1})
	if p.noise < 0.02 || p.noise > maxNoise {
		t.Fatalf("noise floor %.3f after 30 s of 5%% random throttles; want about 0.05", p.noise)
	}
	now := t0.Add(30 * time.Second)
	r := simulate(p, noise, now, simConfig{par: 64, rtt: 50 * time.Millisecond, d: 10 * time.Second, seed: 2})
	if rate := float64(r.admitted) / 10; rate < 0.8*200 {
		t.Errorf("%.0f/s admitted once the noise was learned; want the pace kept near the 200/s it held", rate)
	}
}

func TestPacerTakesAShareThatRoseAfterACutForALimit(t *testing.T) {
	// A trickle of throttles (4 of the last 200 answers) cuts, under test.
	// At the lower pace 2 of 25 are throttled: a share four times that
	// before the cut, which noise (the same share at any pace) does not
	// show. A token bucket's burst, spent just before the cut, does: the
	// cut was still above its rate, and the pace is cut again. Before, the
	// share had only to not fall by half to be noise, and this one set a
	// noise floor of 8% that kept the pace over the limit for the rest of
	// the run.
	p := newPacer(0, t0)
	p.announce(t0, 100)
	p.ceiling = math.Inf(1)
	now := throttledEvery(p, t0, 200, 50) // 4 of the last 200
	p.cut(now, 90, 100, true)
	if p.test == nil {
		t.Fatal("a cut on a trickle of 4 in 200 is not under test")
	}
	for i := range 25 {
		now = p.turn(now).Add(10 * time.Millisecond)
		s := p.send(now)
		if i == 5 || i == 15 {
			p.throttle(now, s, time.Second)
		} else {
			p.admit(now, s)
		}
	}
	if p.test != nil {
		t.Fatalf("no verdict after 25 answers over %v", now.Sub(p.test.at))
	}
	if p.noise != 0 {
		t.Errorf("noise floor %.3f after 2 of 25 throttled at the lower pace, against 2%% before; want none (a limit)", p.noise)
	}
	// The test's answers, at the cut's pace (81/s), were admitted 23 in
	// 25: the limit, and beta below it is the pace.
	if r, want := p.pace(now), beta*81*23/25; math.Abs(r-want) > 0.5 {
		t.Errorf("pace %.1f/s after the verdict; want %.1f/s, beta times what the test's answers were admitted", r, want)
	}

	// Three throttles in the first twelve answers need no more to tell:
	// the verdict comes at once, rather than after testTime at a pace the
	// platform refuses a quarter of (too few to cut again on their own).
	p = newPacer(0, t0)
	p.announce(t0, 100)
	p.ceiling = math.Inf(1)
	now = throttledEvery(p, t0, 200, 50)
	p.cut(now, 90, 100, true)
	throttledEvery(p, now, 12, 4)
	if p.test != nil {
		t.Errorf("still testing after 3 of 12 answers throttled at the lower pace, against 2%% before")
	}
}

// throttledEvery sends n requests at the pace from now, every kth
// throttled (Retry-After: 1) and the others admitted, and returns the time
// of the last.
func throttledEvery(p *pacer, now time.Time, n, k int) time.Time {
	for i := range n {
		now = p.turn(now)
		s := p.send(now)
		if i%k == k-1 {
			p.throttle(now, s, time.Second)
		} else {
			p.admit(now, s)
		}
	}
	return now
}

func TestPacerSlowStartHoldsWhereThrottlesBegin(t *testing.T) {
	// A bucket with a burst of 1 refuses about half of what comes a little
	// over its rate. Slow start doubled on through the throttles until
	// they were significant among the last 50 answers, most of which came
	// before the limit: 17 to 21 throttles before the first cut (18.6 on
	// average over these seeds). Now its clock stops while they are more
	// than noise, and they are counted from the first.
	total := 0
	for seed := uint64(1); seed <= 8; seed++ {
		p := newPacer(0, t0)
		r := simulate(p, tokenBucket(50, 1), t0, simConfig{par: 16, rtt: 50 * time.Millisecond, jitter: time.Millisecond,
			late: 2 * time.Millisecond, d: 2 * time.Second, skip: 2 * time.Second, seed: seed})
		total += r.throttledAll
	}
	if mean := float64(total) / 8; mean > 15 {
		t.Errorf("%.1f throttles on average in the first 2 s against a 50/s bucket with a burst of 1; want at most 15", mean)
	}
}

func TestPacerHoldsRatherThanFreezesWithManyInFlight(t *testing.T) {
	// An overloaded upstream (8 requests served at once, the rest answered
	// 503 at once) refuses a quarter of what slow start sends at 200/s.
	// With that many in flight, a throttle holds the run and the hold's
	// answers measure the limit; frozen there instead, slow start kept a
	// pace over the limit for most of a second, and 17% of a run's
	// requests were refused (the overload benchmark, 2.7-3.1% before).
	// The freeze is for few requests in flight, where nothing holds.
	for _, c := range []struct {
		inFlight int
		frozen   bool
	}{{10, false}, {2, true}} {
		p := newPacer(0, t0)
		now := t0.Add(450 * time.Millisecond)
		var flying []stamp
		for range c.inFlight {
			flying = append(flying, p.send(now))
		}
		for i := range 8 {
			now = now.Add(5 * time.Millisecond)
			s := flying[0]
			flying = append(flying[1:], p.send(now))
			if i%4 == 0 {
				p.throttle(now, s, 0)
			} else {
				p.admit(now, s)
			}
		}
		if frozen := !p.frozeAt.IsZero(); frozen != c.frozen {
			t.Errorf("%d in flight, throttles on 1 answer in 4: slow start frozen %v, want %v", c.inFlight, frozen, c.frozen)
		}
	}
}

func TestPacerResumesSlowStartWhereItFroze(t *testing.T) {
	// Slow start froze at 160/s (300 ms in), and a trickle cut it 500 ms
	// later: the curve the cut keeps, to resume if its throttles turn out
	// to be noise, is at 160/s then, not 40 * 2^(800/150) nor frozen.
	p := newPacer(0, t0)
	for range 30 {
		p.recent.push(0, false)
	}
	p.recent.push(0, true)
	p.frozeAt = t0.Add(300 * time.Millisecond)
	now := t0.Add(800 * time.Millisecond)
	p.cut(now, 100, 100, true)
	if p.test == nil {
		t.Fatal("a cut on a trickle of 1 in 31 is not under test")
	}
	saved := p.test.saved
	if !saved.frozeAt.IsZero() {
		t.Fatalf("the saved curve is still frozen at %v", saved.frozeAt.Sub(t0))
	}
	resumed := pacer{curve: saved, fixed: math.Inf(1), ceiling: math.Inf(1)}
	if r := resumed.pace(now); math.Abs(r-160) > 0.5 {
		t.Errorf("resumed slow start at %.1f/s, want the 160/s it froze at", r)
	}
}

func TestPacerLearnsNoNoiseFromATokenBucket(t *testing.T) {
	// A bucket with a burst of 10 refills while a cut is under test, and the
	// pace after the cut is measured over a second that spent the burst
	// too: one throttle at the lower pace is the bucket still empty, not
	// noise. Learned as noise, it let the pace sit over the limit at about
	// 4% throttled for the rest of the run (seeds 2, 3, 6 and 7).
	for seed := uint64(1); seed <= 8; seed++ {
		p := newPacer(0, t0)
		r := simulate(p, tokenBucket(50, 10), t0, simConfig{par: 16, rtt: 50 * time.Millisecond, jitter: time.Millisecond,
			late: 2 * time.Millisecond, d: 70 * time.Second, skip: 10 * time.Second, seed: seed})
		share := float64(r.throttled) / float64(r.admitted+r.throttled)
		if p.noise != 0 || share > 0.03 {
			t.Errorf("seed %d: noise floor %.3f, %.1f%% throttled after the first 10 s; want no noise floor and at most 3%%", seed, p.noise, 100*share)
		}
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

func TestPacerTakesADrainedBurstForALimit(t *testing.T) {
	// A bucket with a burst of 50 lets slow start through far above its
	// rate until the burst is spent: the answers of those seconds are no
	// measure of what it admits, and the throttles that follow, a share
	// that does fall with the pace, are its limit, not noise.
	for seed := uint64(1); seed <= 5; seed++ {
		p := newPacer(0, t0)
		r := simulate(p, tokenBucket(50, 50), t0, simConfig{par: 16, rtt: 50 * time.Millisecond, jitter: 300 * time.Microsecond,
			late: 2 * time.Millisecond, d: 10 * time.Second, skip: 2 * time.Second, seed: seed})
		share := float64(r.throttled) / float64(r.admitted+r.throttled)
		if p.noise > 0 || share > 0.03 {
			t.Errorf("seed %d: noise floor %.3f, %.1f%% throttled after the burst; want no noise floor, at most 3%%", seed, p.noise, 100*share)
		}
	}
}

func TestPacerKeepsUnderAClosedWindowsQuota(t *testing.T) {
	// After a fixed window closed once, the pace keeps under its quota
	// over its cycle for several cycles: probing past it closes the window
	// again, which refuses everything sent until it ends.
	for _, par := range []int{16, 64} {
		p := newPacer(0, t0)
		r := simulate(p, fixedWindow(50, 2*time.Second, t0), t0, simConfig{par: par, rtt: 50 * time.Millisecond,
			late: 2 * time.Millisecond, d: 11 * time.Second, skip: 3 * time.Second, seed: 1})
		if r.throttled > 0 || r.rate < 0.9*25 {
			t.Errorf("%d in flight: %d throttled in the four windows after the first closed, %.1f/s; want none, at least 22.5/s",
				par, r.throttled, r.rate)
		}
	}
}

// TestPacerProbesAWindowThatSaysNotWhenItReopens: Cloud Elements documents no
// Retry-After. A closed window whose 429s carry none was taken for a limit
// far below the pace: cut after cut down to a trickle of requests, each
// refused until the window reopened, then a climb back (on the simulation
// below, 122-133 throttles and 8.7-8.9/s of a window of 100 per 10 s, 36 and
// 16.4/s of 50 per 2 s). Now the run pauses and sends one request at a time,
// each after a longer wait (250 ms doubling to 1 s), and the first admitted
// begins the window's next cycle, paced at its quota over its length.
func TestPacerProbesAWindowThatSaysNotWhenItReopens(t *testing.T) {
	p := newPacer(0, t0)
	now := oneAtATime(p, t0, 20, 50*time.Millisecond, p.admit)
	// The window closes: the requests in flight are all refused.
	var ss []stamp
	for range 6 {
		now = p.turn(now)
		ss = append(ss, p.send(now))
	}
	now = now.Add(50 * time.Millisecond)
	for _, s := range ss {
		p.throttleWith(now, s, 0, true)
	}
	reason, _ := p.paused(now)
	if !strings.Contains(reason, "no Retry-After") {
		t.Fatalf("after a cluster of 429s without Retry-After: paused %q; want a probing pause", reason)
	}
	closedAt := now
	// Probes, one at a time: refused three times, then admitted.
	var waits []time.Duration
	for i := range 4 {
		at := p.turn(now)
		waits = append(waits, at.Sub(now).Round(10*time.Millisecond))
		s := p.send(at)
		if next := p.turn(at); next.Before(at.Add(time.Minute)) {
			t.Fatalf("probe %d: another request may go at +%v while it is out", i+1, next.Sub(at))
		}
		now = at.Add(50 * time.Millisecond)
		if i < 3 {
			p.throttleWith(now, s, 0, true)
		} else {
			p.admit(now, s)
		}
	}
	if want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, time.Second}; !slices.Equal(waits, want) {
		t.Errorf("probes went after %v; want %v (after the closing, then after each refusal)", waits, want)
	}
	if reason, _ := p.paused(now); reason != "" {
		t.Fatalf("after an admitted probe: still paused, %q", reason)
	}
	// The cycle: 21 admitted from the start to the reopening (between the
	// last refused probe and the admitted one).
	cycle := now.Add(-50*time.Millisecond - 500*time.Millisecond).Sub(t0)
	if r, want := p.pace(now), onsetMargin*21/cycle.Seconds(); math.Abs(r-want) > 0.05*want {
		t.Errorf("pace after the reopening %.2f/s; want the cycle's rate, %.2f/s (%v since the closing)", r, want, now.Sub(closedAt))
	}

	for _, c := range []struct {
		n        int
		per, d   time.Duration
		most     int
		minShare float64
	}{{100, 10 * time.Second, 50 * time.Second, 40, 0.9}, {50, 2 * time.Second, 12 * time.Second, 25, 0.9}} {
		for _, par := range []int{16, 64} {
			p := newPacer(0, t0)
			r := simulate(p, silent(fixedWindow(c.n, c.per, t0)), t0, simConfig{par: par, rtt: 50 * time.Millisecond,
				jitter: time.Millisecond, late: 2 * time.Millisecond, d: c.d, skip: c.per + 2*time.Second, seed: 1, silent: true})
			limit := float64(c.n) / c.per.Seconds()
			if r.throttledAll > c.most || r.rate < c.minShare*limit {
				t.Errorf("window %d per %v, %d in flight: %d throttled of %d, %.2f/s after the first cycle; want at most %d, at least %.1f/s",
					c.n, c.per, par, r.throttledAll, r.sent, r.rate, c.most, c.minShare*limit)
			}
		}
	}
}

func TestPacerPausesOnceAWindowsQuotaIsSpent(t *testing.T) {
	// A window of 50 per 2 s that began 1.3 s before the run: the first
	// cycle the run sees is short and overestimates the quota's rate, so
	// the next windows close on a pace too high. Each closing, with a
	// Retry-After of 1 s, took a round trip of refusals to tell from a
	// trickle: 25 to 27 refusals in 12 s (8 seeds). Once a window has
	// closed, a refusal after as many admitted is the window closing again.
	total := 0
	for seed := uint64(1); seed <= 8; seed++ {
		p := newPacer(0, t0)
		r := simulate(p, fixedWindow(50, 2*time.Second, t0.Add(-1300*time.Millisecond)), t0, simConfig{par: 16,
			rtt: 50 * time.Millisecond, jitter: time.Millisecond, late: 2 * time.Millisecond, d: 12 * time.Second, seed: seed})
		total += r.throttledAll
	}
	if mean := float64(total) / 8; mean > 22 {
		t.Errorf("%.1f refusals on average in 12 s against a window of 50 per 2 s begun 1.3 s before; want at most 22", mean)
	}
}

func TestPacerSaysAWindowsQuotaIsUsed(t *testing.T) {
	// A window of 50 closed after a cycle of 2 s; 1.9 s into the next, 50
	// were admitted, and one refusal pauses the run, saying why.
	p := newPacer(0, t0)
	p.windowed, p.phase, p.peak = true, cubic, 25
	p.quota, p.quotaWithin = 50, 2*time.Second
	p.cycleStart, p.cycleOK, p.last = t0, 50, t0
	now := t0.Add(1900 * time.Millisecond)
	s := p.send(now.Add(-50 * time.Millisecond))
	p.throttle(now, s, time.Second)
	reason, until := p.paused(now)
	if reason != "window quota used, 50 admitted" || !until.After(now) {
		t.Errorf("paused %q until %v; want the window's quota named, until its reopening", reason, until.Sub(now))
	}
	p = newPacer(0, t0)
	p.windowed, p.phase, p.peak = true, cubic, 25
	p.quota, p.quotaWithin = 50, 2*time.Second
	p.cycleStart, p.cycleOK, p.last = t0, 50, t0
	now = t0.Add(5 * time.Second) // 50 admitted over 2.5 windows: paced under the quota
	s = p.send(now.Add(-50 * time.Millisecond))
	p.throttle(now, s, time.Second)
	if reason, _ := p.paused(now); reason != "" {
		t.Errorf("paused %q on one refusal 5 s into a cycle of a 2 s window; want no pause", reason)
	}
}

func TestPacerGoesUnderThePeakAtTheEnd(t *testing.T) {
	// With fewer requests left than a Retry-After's worth, a throttle would
	// delay the end of the run by its whole Retry-After: the last requests
	// go under the peak instead of probing beyond it.
	p := newPacer(0, t0)
	p.announce(t0, 100)
	now := admitted(p, t0, 100)
	now = p.turn(now)
	p.throttle(now, p.send(now), time.Second) // a stray throttle: Retry-After 1 s
	now = now.Add(10 * time.Second)
	p.remaining = 500
	if r := p.pace(now); r < 99 {
		t.Fatalf("pace %.1f/s with 500 requests left; want the peak, 100/s", r)
	}
	p.remaining = 50 // half a second's worth at 100/s
	if r := p.pace(now); r > beta*100+0.01 {
		t.Fatalf("pace %.1f/s with 50 requests left and Retry-After 1 s; want at most %v/s", r, beta*100)
	}
}

func TestPacerKeepsAWindowsRateWhenItClosesAgain(t *testing.T) {
	// A window of 100 per 10 s, paced at 10/s: the last requests of a
	// window are refused (Retry-After 1 s, the time to its end rounded
	// up), and the run pauses until it reopens. The pace after that is the
	// window's quota over its length, a little less, not what the last
	// second admitted (mostly refusals).
	p := newPacer(0, t0)
	p.announce(t0, 10)
	now := oneAtATime(p, t0, 97, 20*time.Millisecond, p.admit)
	now = oneAtATime(p, now, 3, 20*time.Millisecond, func(now time.Time, s stamp) { p.throttle(now, s, time.Second) })
	reason, until := p.paused(now)
	if reason == "" {
		t.Fatalf("three throttles in a row at the end of the window: no pause")
	}
	if r := p.pace(until); r < 9 || r > 10 {
		t.Fatalf("pace after the window reopened %.2f/s; want a little under its quota over its length, 10/s", r)
	}
}

func TestPacerSlowStartsWhenTheCreatesBegin(t *testing.T) {
	// A run reads the set before it creates: one page after the other, for
	// two seconds. The creates that follow still begin slowly: the reads
	// went one at a time and tested no rate, so slow start begins again
	// with them (Apply calls begin). Before, two seconds of reading made
	// the pace unlimited, and the creates opened with a wave of requests
	// at once into the platform's hidden limit.
	p := newPacer(0, t0)
	now := oneAtATime(p, t0, 20, 100*time.Millisecond, p.admit)
	p.begin(now, -1, 64)
	if r := p.pace(now); r > 2*slowStartRate {
		t.Errorf("pace %.0f/s when the creates begin after 20 pages read one after the other; want slow start's, %v/s", r, slowStartRate)
	}
	r := simulate(p, tokenBucket(50, 10), now, simConfig{par: 64, rtt: 50 * time.Millisecond, jitter: 300 * time.Microsecond,
		late: 2 * time.Millisecond, d: 2 * time.Second, seed: 1})
	if r.throttledAll > 20 {
		t.Errorf("%d of the first %d creates throttled by a bucket of 50/s with a burst of 10; want at most 20", r.throttledAll, r.sent)
	}

	// A limit seen while reading stays: begin does not forget it.
	p = newPacer(0, t0)
	p.announce(t0, 10)
	p.begin(t0.Add(time.Second), -1, 64)
	if r := p.pace(t0.Add(time.Second)); r > 10 {
		t.Errorf("pace %.1f/s after begin, with 10/s announced; want at most 10/s", r)
	}
}

func TestPacerProbesAConfirmedLimitMoreSlowly(t *testing.T) {
	// Cut again and again at about the same peak, the pace grows beyond
	// it twice as slowly each time (up to 8 times): a limit that holds still
	// is probed for less often, since each probe past it costs a round of
	// throttles. A cut at another peak starts over.
	p := newPacer(0, t0)
	now := t0
	p.cut(now, 50, 50, false)  // slow start's: the peak is a guess
	beyond := func() float64 { // the run sends fast enough to use the pace
		at := p.cutAt.Add(recoverTime + 2*time.Second)
		for i := 100; i > 0; i-- {
			p.sent.add(at.Add(-time.Duration(i) * 10 * time.Millisecond))
		}
		return p.pace(at)
	}
	var grew []float64
	for i := range 5 {
		now = now.Add(10 * time.Second)
		p.cut(now, 50, 50+float64(i%2), false)
		grew = append(grew, beyond()/p.peak-1)
	}
	want := []float64{0.10, 0.10 / 8, 0.10 / 64, 0.10 / 512, 0.10 / 512}
	for i := range want {
		if math.Abs(grew[i]-want[i]) > want[i]/100 {
			t.Errorf("growth 2 s beyond the peak after cuts at it: %.5f; want %.5f", grew, want)
			break
		}
	}
	now = now.Add(10 * time.Second)
	p.cut(now, 70, 70, false)
	if g := beyond()/p.peak - 1; math.Abs(g-0.10) > 0.001 {
		t.Errorf("growth 2 s beyond a new peak: %.4f; want 0.10", g)
	}

	// Against a token bucket of 50/s with a burst of 1, over 20 s: each
	// cycle of cut and probe costs throttles, and there are fewer.
	var share float64
	const seeds = 8
	for seed := uint64(1); seed <= seeds; seed++ {
		p := newPacer(0, t0)
		r := simulate(p, tokenBucket(50, 1), t0, simConfig{par: 16, rtt: 50 * time.Millisecond, jitter: 2 * time.Millisecond,
			late: 2 * time.Millisecond, d: 20 * time.Second, seed: seed})
		share += float64(r.throttledAll) / float64(r.sent) / seeds
	}
	if share > 0.032 {
		t.Errorf("%.2f%% of requests throttled by a bucket of 50/s with a burst of 1, mean of %d runs; want at most 3.2%%", 100*share, seeds)
	}
}

func TestPacerRampsFasterInALongRun(t *testing.T) {
	// A run of 10,000 creates at parallelism 64 ramps up three times as fast
	// as one of 300: its ramp into a hidden limit costs at most 64
	// refusals, under 1% of it, and the time it takes is what counts.
	at := t0.Add(250 * time.Millisecond) // five fast doublings
	long, short := newPacer(0, t0), newPacer(0, t0)
	long.begin(t0, 10_000, 64)
	short.begin(t0, 300, 64)
	if r := long.pace(at); math.Abs(r-32*slowStartRate) > 1 {
		t.Errorf("long run: pace %.0f/s 250 ms in; want %v/s", r, 32*slowStartRate)
	}
	if r, want := short.pace(at), slowStartRate*math.Exp2(250.0/150); math.Abs(r-want) > 1 {
		t.Errorf("short run: pace %.0f/s 250 ms in; want %.0f/s", r, want)
	}
	// Parallelism counts: 10,000 requests at 200 at once are a short run.
	wide := newPacer(0, t0)
	wide.begin(t0, 10_000, 200)
	if r := wide.pace(at); r > 4*slowStartRate {
		t.Errorf("10,000 requests at parallelism 200: pace %.0f/s 250 ms in; want slow start's", r)
	}

	// Into a token bucket of 50/s with a burst of 50, reached at full pace:
	// the refusals stay within the parallelism.
	p := newPacer(0, t0)
	p.begin(t0, 10_000, 64)
	r := simulate(p, tokenBucket(50, 50), t0, simConfig{par: 64, rtt: 50 * time.Millisecond, jitter: 300 * time.Microsecond,
		late: 2 * time.Millisecond, d: 5 * time.Second, seed: 1})
	if r.throttledAll > 64 {
		t.Errorf("%d of %d throttled in a long run's first 5 s against a bucket of 50/s with a burst of 50; want at most 64", r.throttledAll, r.sent)
	}
}

// admitted sends n requests at the pace, each admitted as it is sent, and
// returns the time of the last.
func admitted(p *pacer, now time.Time, n int) time.Time {
	for range n {
		now = p.turn(now)
		p.admit(now, p.send(now))
	}
	return now
}

// oneAtATime sends n requests one after the other from now, each answered
// rtt after it went, and returns the time of the last answer.
func oneAtATime(p *pacer, now time.Time, n int, rtt time.Duration, answer func(time.Time, stamp)) time.Time {
	for range n {
		now = p.turn(now)
		s := p.send(now)
		now = now.Add(rtt)
		answer(now, s)
	}
	return now
}
