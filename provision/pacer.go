package provision

import (
	"fmt"
	"math"
	"time"
)

// pacer is the run's rate controller: it spaces requests evenly at a pace it
// learns from the platform's throttles (429s, 503s), and decides when the run
// as a whole must pause. It is a plain state machine: every method takes the
// current time, and the caller (the policy) serializes the calls, so it is
// tested on a made-up clock.
//
// The pace follows the AWS SDKs' adaptive retry mode (ClientRateLimiter and
// its CUBIC calculator), with the changes a bulk run with many requests in
// flight needs:
//
//   - Start. Until the platform first shows a limit, the pace starts at
//     slowStartRate and doubles every slowStartDoubling (TCP's slow start),
//     so a run at high parallelism does not open with a wave of requests
//     (every fastStartDoubling in a run long enough that the refusals of a
//     ramp into a hidden limit, at most the parallelism, are a small share
//     of it: see begin);
//     once the pace is more than twice what the run manages to send, the
//     parallelism is the bottleneck and pacing stops (with no throttle and
//     no --rate, the pacer then costs nothing). The first limit ends slow
//     start for good; until then, it begins again when the requests in
//     parallel begin (begin), after the reads that planned them. While the
//     throttles since a trickle of them began are more than onsetNoise of
//     the answers and fewer than holdInFlight requests are in flight (with
//     more, a throttle holds the run instead), slow start's clock stops
//     (freeze): the pace holds where it met them until they cut or fall back
//     to noise, rather than doubling on into the limit. When the platform announces its limit (announce),
//     the pace starts there instead of probing, and never goes above it.
//   - Hold. A throttle with holdInFlight or more requests in flight stops
//     sending at once, until those have answered (at most twice the round
//     trip): a limit crossed at a high pace refuses all of them, and sending
//     on would only add refusals. The hold ends early when most of the
//     answers it waited for were admitted (a stray throttle).
//   - Cut. When most of a hold's answers were throttles, the pace was far
//     above the limit: the limit is the pace they were sent at times the
//     share admitted (a drained token bucket admits its refill rate,
//     whatever is sent). Otherwise throttles cut once they are significantly
//     more than a share: before any limit, twice maxNoise (slow start
//     crossing a limit sees far more, random throttles far less), or
//     onsetNoise counted from the trickle's first throttle (the answers
//     before it, under the limit, would dilute it); after,
//     tolerated (1%) or the noise floor below, among the last testWindow
//     answers of the current epoch. The pace drops to beta (0.9) times the
//     rate the platform admitted over the last second (not over a pause),
//     and recovers to that rate; in slow start, and where a third or more
//     were refused since the throttles began (a token bucket with a burst of
//     1 admits only every other request sent a little too fast, far less
//     than its limit), to the paces the throttles came at (onsetMargin
//     below them). Answers to requests sent before a cut never cut again:
//     with many requests in flight, one round of throttles is one cut.
//     The rate admitted is counted in the pace's unit (requests go a little
//     after their turns, so the rate sent runs a little under the pace),
//     and only from the answers to requests sent since the last cut or
//     pause (slow start's answers can be a burst's allowance spent).
//   - Recovery. After a cut the pace follows a cubic curve, concave back up to
//     the peak (CUBIC's W_max) and convex beyond it:
//     pace(t) = peak - (peak - cut)(1 - t/recoverTime)^3 up to the peak, which
//     it reaches recoverTime (2 s) after the cut whatever the rate (after
//     testTime more when the cut is under test, below), then
//     peak (1 + probeGain (t/recoverTime - 1)^3): flat near the peak (+1.25%
//     after 1 s, +10% after 2 s, then straight on at that slope), so it sits
//     just under the limit and probes rarely, and only while the run uses
//     the pace (at most twice the rate sent). The AWS SDK scales the same
//     curve in absolute requests per second; here it is relative to the
//     peak. Beyond slow start's estimate (from the few answers of its first
//     throttles, off by a quarter either way) it probes unsureGain times as
//     fast; beyond a closed window's rate windowedProbe times more slowly;
//     beyond a peak the last cuts confirmed (each within confirmMargin of
//     the one before) 2, 4, then 8 times more slowly: a limit that holds
//     still is probed for less often, and each probe past it costs a round
//     of throttles.
//   - End. When the requests the run has left take less than the longest
//     Retry-After seen, a throttle would delay the end of the whole run by
//     its Retry-After (earlier, other requests fill the wait), so the last
//     requests go at beta times the peak (a window's pace, already under
//     its quota, at the peak).
//   - Noise. A small share of throttles that does not fall when the pace
//     falls is not a limit (the idea behind Google SRE's client-side
//     throttling and gRPC's retry throttling). Before any limit, a share up
//     to twice maxNoise is left alone. After a cut on a trickle (a share up
//     to maxNoise), the pace stays at the cut until enough answers at that
//     pace tell (testTime, or up to maxTest answers): if at most one of them
//     was a throttle, or significantly fewer than half as many as before, it
//     was a limit and recovery starts; if the share rose (to twice what it
//     was, or significantly), the cut was still above a limit that a
//     bucket's burst hid, and the pace is cut again to what the test's
//     answers were admitted (a share far above the one before decides at
//     once); if not, the throttles do not depend on
//     the rate, the cut is undone (the pace resumes where it was), and their
//     share becomes the noise floor later throttles must rise above. A lone
//     throttle proves no noise: a token bucket is still empty right after
//     the cut, and taken for noise, a limit would keep the pace above itself
//     for the rest of the run; real noise shows again at the next cut.
//   - Pause. Retry-After delays only the request that received it (the caller
//     waits it out). The whole run pauses only when the platform throttles
//     everyone (clustered: a closed fixed window answers 429 to everyone
//     until it reopens), until the reopening the run's Retry-After headers
//     agree on. The pace then becomes the rate the platform admitted over
//     the whole cycle, from the end of the previous pause to the reopening
//     (for a fixed window, its quota over its length, evenly spread; not
//     the last second's, mostly refused), less onsetMargin, held for one
//     more cycle before probing again, windowedProbe times more slowly.
//     Once a window has closed, its quota is known (the answers admitted in
//     the cycle): a throttle after as many within about a window's length
//     is the window closing again, and pauses the run at once (spent).
//     A closed window whose 429s carry no Retry-After (Cloud Elements
//     documents none) pauses the run as well, until a probe is admitted: one
//     request at a time, firstProbe after the closing (or when a window of
//     the known length should reopen), then after twice the wait each time,
//     up to maxProbeWait (startProbe). The reopening, between the last
//     refused probe and the admitted one, begins the next cycle. A 503
//     without Retry-After is an overloaded upstream, not a window: no probe.
//
// It is hand-written because no library does this: golang.org/x/time/rate is
// a fixed token bucket whose reservations keep their times when the rate
// changes, and the AWS SDK's limiter is internal to the SDK, cuts on every
// throttle (with many requests in flight one throttle round would cut the
// rate many times over), does not tell noise from a limit, and knows no
// Retry-After.
type pacer struct {
	fixed   float64 // --rate; +Inf when none
	ceiling float64 // the announced limit; +Inf when none

	remaining   int           // the requests the run has still to make, as its caller counts them; -1 unknown
	longestWait time.Duration // the longest Retry-After of a throttle so far

	curve
	epoch     int       // counts the cuts and pauses; a request carries the epoch it was sent in
	epochAt   time.Time // when the current epoch began
	limitSeen bool      // the platform showed a limit: slow start is over for good

	last     time.Time     // when the last request was sent
	inFlight int           // requests sent and not answered yet
	rtt      time.Duration // smoothed time from sending a request to its answer

	hold        hold
	pauseUntil  time.Time
	pauseReason string
	run         int           // throttles in a row, since the last admitted answer
	reopenLo    time.Time     // the platform reopens after reopenLo and by reopenHi,
	reopenHi    time.Time     // from the Retry-After of the current run of throttles
	cycleStart  time.Time     // the end of the last pause (or the first request)
	cycleOK     int           // answers admitted since cycleStart
	quota       int           // the answers a closed window admitted in the cycle it closed (0: none seen),
	quotaWithin time.Duration // and how long that cycle was
	probe       probe         // a closed window that said not when it reopens
	silent      bool          // the last throttle was a 429 without Retry-After

	recent     answers  // the last answers, with their epochs
	sent, ok   meter    // requests sent, answers admitted
	noise      float64  // the learned share of throttles that does not depend on the rate
	test       *cutTest // the last cut on a trickle, until its answers tell noise from a limit
	onset      float64  // the paces the throttles of the current trickle were sent at, summed (epoch onsetEp-1)
	onsetEp    int      //
	onsetN     int      // answers of that epoch since then,
	onsetX     int      // the throttles among them,
	quiet      int      // and the answers since its last throttle
	onsetFirst float64  // the pace its first throttle was sent at
	fresh      int      // throttles of the current run sent after its first one was answered
	runStart   time.Time
	lastOK     time.Time
}

// curve is the shape of the pace over time.
type curve struct {
	phase    pacePhase
	start    time.Time     // slow start's t = 0
	doubling time.Duration // slow start's doubling time (begin)
	frozeAt  time.Time     // slow start's clock stopped here, while throttles tell whether they are a limit
	peak     float64       // the rate to recover to (CUBIC's W_max)
	from     float64       // the pace right after the cut
	cutAt    time.Time     // the cubic curve's t = 0
	flat     bool          // stay at from: a cut under test
	// windowed is set after a closed window: beyond the peak the pace grows
	// windowedProbe times more slowly (probing past a window's quota
	// closes it for the rest of its length).
	windowed bool
	// sure is false while the peak is slow start's estimate, from the few
	// answers to its first throttles: beyond it the pace grows unsureGain
	// times as fast, and the end of the run does not hold to it.
	sure bool
	// confirmed counts the cuts in a row at about the same peak: beyond a
	// peak cut at again and again the pace grows 2^confirmed times more
	// slowly (the platform's limit holds still; probing past it costs a
	// round of throttles each time).
	confirmed int
}

// hold is the wait after a throttle: the answers to the requests that were in
// flight show whether the limit refused most of them.
type hold struct {
	on      bool
	until   time.Time
	n, x    int     // answers during the hold, and the throttles among them
	paceSum float64 // the paces their requests were sent at, summed
}

// probe is a closed window whose throttles carry no Retry-After: the run
// pauses and sends one request at a time, each after a longer wait, until
// one is admitted.
type probe struct {
	on    bool
	wait  time.Duration // before the next probe
	out   bool          // a probe is in flight,
	at    time.Time     // sent at this time
	since time.Time     // the window was still closed then (the last refused probe, or the closing)
}

// cutTest is a cut on a trickle of throttles waiting for its verdict.
type cutTest struct {
	epoch int       // the epoch of the requests sent at the lower pace
	at    time.Time // when the cut was made
	share float64   // the share of throttles before the cut
	need  int       // answers at the lower pace needed for the verdict
	n, x  int       // answers at the lower pace so far, and throttles among them
	saved curve     // the curve before the cut, to resume if it was noise
	seen  bool      // limitSeen before the cut
}

type pacePhase int

const (
	slowStart pacePhase = iota // no limit seen yet: growing exponentially
	open                       // no limit seen yet, and the parallelism is the bottleneck: not pacing
	cubic                      // after a limit was seen (or announced): CUBIC
)

// Pacer parameters.
const (
	beta              = 0.9             // the cut, times the limit measured
	trickleBeta       = 0.9             // the cut on a trickle of throttles (a share up to maxNoise)
	recoverTime       = 2 * time.Second // from a cut back to the peak
	probeGain         = 1 - beta        // above the peak, +10% recoverTime after reaching it (CUBIC's symmetry)
	slowStartRate     = 40.0            // requests per second at the start
	slowStartDoubling = 150 * time.Millisecond
	fastStartDoubling = 50 * time.Millisecond // slow start's, in a long run (begin)
	fastStartRun      = 100                   // a long run makes this many requests per request in parallel
	minPace           = 0.5                   // requests per second, the floor of any cut (the AWS SDK's minFillRate)
	tolerated         = 0.01                  // a share of throttles not worth a cut
	testWindow        = 50                    // the answers a cut on a trickle is decided on: the last of the current epoch
	significance      = 0.01                  // how unlikely under the tolerated share the throttles must be to cut
	onsetMargin       = 0.97                  // the peak against the pace where a trickle of throttles began
	noiseFall         = 0.5                   // throttles at the lower pace at least this share of those before are noise
	maxNoise          = 0.1                   // a larger share is a limit, whatever it is at lower paces
	onsetNoise        = 1.5 * maxNoise        // in slow start, a larger share since a trickle began holds the pace
	minTest, maxTest  = 30, 100               // the answers a cut waits for its verdict
	testTime          = time.Second / 2       // or as long, with at least minTest/2 answers
	maxHold           = time.Minute
	windowedProbe     = 16
	unsureGain        = 4 * probeGain
	confirmMargin     = 0.1 // a cut's peak this close to the last one confirms it
	maxConfirmed      = 3
	holdInFlight      = 4               // the requests in flight that make a throttle hold the run
	closedRetryAfter  = 2 * time.Second // a cluster waiting this long or more is a closed window
)

// A closed window without Retry-After is probed firstProbe after it closed,
// then after twice the wait each time, up to maxProbeWait. Tests shorten them.
var (
	firstProbe   = 250 * time.Millisecond
	maxProbeWait = time.Second
)

// stallAfter is how long throttles are retried with nothing at all admitted:
// after that the platform refuses everything, which is no rate limit. Tests
// shorten it.
var stallAfter = 5 * time.Minute

// stamp is what the pacer remembers of a request it let go.
type stamp struct {
	epoch int
	at    time.Time
	pace  float64 // the pace it was sent at (the rate sent, when not pacing)
}

func newPacer(fixedRate float64, now time.Time) *pacer {
	fixed := math.Inf(1)
	if fixedRate > 0 {
		fixed = fixedRate
	}
	return &pacer{fixed: fixed, ceiling: math.Inf(1), curve: curve{phase: slowStart, start: now, doubling: slowStartDoubling},
		cycleStart: now, lastOK: now, remaining: -1}
}

// pace returns the requests per second allowed at now; +Inf means no pacing.
func (p *pacer) pace(now time.Time) float64 {
	r := math.Inf(1)
	switch p.phase {
	case slowStart:
		if !p.frozeAt.IsZero() {
			now = p.frozeAt
		}
		r = slowStartRate * math.Exp2(float64(now.Sub(p.start))/float64(p.doubling))
	case cubic:
		t := max(float64(now.Sub(p.cutAt))/float64(recoverTime), 0)
		switch {
		case p.flat:
			r = p.from
		case t < 1:
			r = p.peak - (p.peak-p.from)*math.Pow(1-t, 3)
		default:
			// Cubic for one recoverTime beyond the peak, then straight on
			// at the slope it reached (a fixed window shows the pace was
			// too high only when its quota runs out).
			u := t - 1
			if p.windowed {
				u /= windowedProbe
			}
			u /= float64(int(1) << p.confirmed)
			gain := probeGain
			if !p.sure {
				gain = unsureGain
			}
			if u > 1 {
				u = math.Cbrt(3*u - 2)
			}
			r = p.peak * (1 + gain*u*u*u)
			// Beyond the peak, grow only while the run uses the pace (the
			// AWS SDK caps it at twice the measured sending rate).
			r = min(r, max(p.peak, 2*p.sent.rate(now, time.Second)))
		}
		r = max(r, minPace)
		if p.sure && p.ending(r) {
			// Just under the limit at the end; a window's pace is so
			// already.
			if p.windowed {
				r = min(r, p.peak)
			} else {
				r = min(r, beta*p.peak)
			}
		}
	}
	return min(r, p.fixed, p.ceiling)
}

// begin tells the pacer that the run's requests in parallel begin at now
// (Apply's creates, updates and deletes, after the reads that planned them):
// n requests at least, up to parallelism at once.
//
// A slow start no throttle has ended begins again from slowStartRate: the
// reads went one page after the other, which tests no rate, and its clock
// ran on through them (and through any wait before the apply), so the pace
// would otherwise open with a wave of requests at once.
//
// How fast it doubles depends on the run's length. The ramp costs time:
// about 3.5 doubling times of the run at full speed (0.5 s at 150 ms). When
// it meets a hidden limit it costs refusals: the requests sent in the round
// trip before the first throttle answers, never more than the parallelism.
// A short run doubles every slowStartDoubling, so that those refusals stay a
// small share of it. In a run of fastStartRun requests or more per request
// in parallel, they are at most 1% however fast the ramp, and its time is
// what counts: it doubles every fastStartDoubling.
func (p *pacer) begin(now time.Time, n, parallelism int) {
	p.remaining = n
	if !p.limitSeen && p.phase != cubic {
		p.phase, p.start, p.frozeAt = slowStart, now, time.Time{}
		p.doubling = slowStartDoubling
		if n >= fastStartRun*max(parallelism, 1) {
			p.doubling = fastStartDoubling
		}
	}
}

// ending reports whether the run is at its end at pace r: its remaining
// requests take less than the longest Retry-After seen. There a throttle
// delays the end of the whole run by its whole Retry-After (earlier on,
// other requests fill the wait), and going a tenth slower costs a tenth of
// it: the last requests go at beta times the peak.
func (p *pacer) ending(r float64) bool {
	return p.remaining >= 0 && p.longestWait > 0 && float64(p.remaining) < r*p.longestWait.Seconds()
}

// turn returns the earliest time the next request may be sent: after any
// pause or hold, and 1/pace after the last request. A hold past its time
// ends here.
func (p *pacer) turn(now time.Time) time.Time {
	if p.hold.on && !now.Before(p.hold.until) {
		p.endHold(now)
	}
	at := laterOf(now, p.pauseUntil)
	if p.probe.out {
		return now.Add(maxHold) // until the probe's answer
	}
	if p.hold.on {
		at = laterOf(at, p.hold.until)
	}
	if r := p.pace(at); !math.IsInf(r, 1) && !p.last.IsZero() {
		at = laterOf(at, p.last.Add(time.Duration(float64(time.Second)/r)))
	}
	return at
}

// holding reports whether a hold or a probe is on: the next answer may
// release the requests waiting.
func (p *pacer) holding() bool { return p.hold.on || p.probe.on }

// send records a request sent at now, when turn allowed it.
func (p *pacer) send(now time.Time) stamp {
	if p.last.IsZero() {
		p.cycleStart = now
	}
	r := p.pace(now)
	p.last = now
	p.inFlight++
	if p.probe.on {
		p.probe.out, p.probe.at = true, now
	}
	p.sent.add(now)
	if p.phase == slowStart && now.Sub(p.start) > 5*p.doubling && r > 2*p.sent.rate(now, 500*time.Millisecond) {
		p.phase = open // the parallelism, not the pace, limits the run
	}
	if math.IsInf(r, 1) {
		r = p.sent.rate(now, time.Second)
	}
	return stamp{epoch: p.epoch, at: now, pace: r}
}

// answered notes that the request of s has ended, with or without an answer.
func (p *pacer) answered(now time.Time, s stamp) {
	p.inFlight = max(p.inFlight-1, 0)
	if d := now.Sub(s.at); p.rtt == 0 {
		p.rtt = d
	} else {
		p.rtt += (d - p.rtt) / 8
	}
}

// lost records a request that got no answer (a reset, a timeout): it says
// nothing about the rate.
func (p *pacer) lost(now time.Time, s stamp) {
	p.answered(now, s)
	if p.probe.out && s.at.Equal(p.probe.at) {
		p.probe.out = false // probe again after the same wait
		p.pauseUntil = now.Add(p.probe.wait)
	}
	if p.hold.on && p.inFlight == 0 {
		p.endHold(now)
	}
}

// admit records an answer that was not a throttle.
func (p *pacer) admit(now time.Time, s stamp) {
	p.answered(now, s)
	p.recent.push(s.epoch, false)
	p.run, p.fresh = 0, 0
	if s.epoch+1 == p.onsetEp {
		p.onsetN++
		p.quiet++
	}
	p.ok.add(now)
	p.cycleOK++
	p.lastOK = now
	if p.probe.out && s.at.Equal(p.probe.at) {
		// The window reopened between the last refusal and this probe.
		since := p.probe.since
		p.probe = probe{}
		p.newCycle(now, since.Add(s.at.Sub(since)/2))
		p.cycleOK = 1 // this probe's
		return
	}
	if p.hold.on {
		p.hold.n++
		p.hold.paceSum += s.pace
		if 2*p.hold.x <= p.hold.n {
			p.hold.on = false // most were admitted: a stray throttle
		} else if p.inFlight == 0 {
			p.endHold(now)
		}
	}
	p.tested(now, s, false)
	p.freeze(now)
}

// throttle records a throttle (429 or 503) with the Retry-After it carried (0
// if none), and adapts: a run-wide pause, a hold, a cut, or nothing (noise, a
// tolerated share, or a request sent before the last cut).
func (p *pacer) throttle(now time.Time, s stamp, retryAfter time.Duration) {
	p.throttleWith(now, s, retryAfter, false)
}

// throttleWith is throttle; silent says the throttle is a 429 without
// Retry-After (not a 503: an overloaded upstream sheds load, it has no window
// to reopen).
func (p *pacer) throttleWith(now time.Time, s stamp, retryAfter time.Duration, silent bool) {
	defer p.freeze(now)
	p.silent = silent && retryAfter == 0
	p.answered(now, s)
	p.recent.push(s.epoch, true)
	p.run++
	if p.run == 1 {
		p.runStart = now
	} else if s.at.After(p.runStart) {
		p.fresh++
	}
	if s.epoch+1 == p.onsetEp {
		p.onsetN++
		p.onsetX++
		p.onset += s.pace
	}
	p.longestWait = max(p.longestWait, retryAfter, time.Second)
	if retryAfter > 0 {
		// Retry-After counts whole seconds, rounded up (a date names a
		// second, which ParseRetryAfter waits to the end of): the moment
		// meant lies in the last second of the wait.
		hi := now.Add(retryAfter)
		lo := hi.Add(-min(retryAfter, time.Second))
		if p.run == 1 || p.reopenHi.IsZero() {
			p.reopenLo, p.reopenHi = lo, hi
		} else {
			p.reopenLo, p.reopenHi = laterOf(p.reopenLo, lo), earlierOf(p.reopenHi, hi)
		}
		spent := p.spent(now)
		if (spent || p.clustered(now, retryAfter)) && p.reopenHi.After(now) && !p.pauseUntil.After(now) {
			// The platform throttles everyone until it reopens. The
			// throttled requests themselves wait out their whole Retry-After.
			p.closed(now, spent)
			return
		}
	} else if p.silent {
		// A closed window that does not say when it reopens: probe.
		if p.probe.on {
			p.probeRefused(now, s)
			return
		}
		if spent := p.spent(now); spent || p.clustered(now, 0) {
			p.startProbe(now)
			return
		}
	}
	p.tested(now, s, true)
	if p.hold.on {
		p.hold.n++
		p.hold.x++
		p.hold.paceSum += s.pace
		if p.inFlight == 0 {
			p.endHold(now)
		}
		return
	}
	if s.epoch != p.epoch {
		return // answered by the last cut already
	}
	if p.onsetEp != p.epoch+1 || p.quiet >= testWindow {
		// The first throttle of the epoch, or the first after a quiet
		// stretch: a trickle begins here.
		p.onset, p.onsetEp, p.onsetN, p.onsetX, p.onsetFirst = s.pace, p.epoch+1, 1, 1, s.pace
	}
	p.quiet = 0
	// A hold is worth it when many requests are in flight; with a noise
	// floor, a lone throttle holds nothing.
	if p.inFlight >= holdInFlight && (p.noise == 0 || p.run > 1) {
		wait := min(max(2*p.rtt, 10*time.Millisecond), time.Second)
		p.hold = hold{on: true, until: now.Add(wait), n: 1, x: 1, paceSum: s.pace}
		if p.inFlight == 0 {
			p.endHold(now)
		}
	}
	if s.epoch != p.epoch {
		return // the hold cut
	}
	threshold := max(tolerated, p.noise)
	switch {
	case !p.limitSeen:
		// Before any limit, only a share well beyond noise cuts (slow
		// start crossing a limit sees far more).
		threshold = 2 * maxNoise
	case p.test != nil:
		threshold = maxNoise // while a cut is under test
	}
	n, x := p.recent.count(p.epoch, testWindow)
	// Slow start's answers before the trickle began dilute it: count from
	// the trickle's first throttle too (leaving that one out: it chose
	// where to count from).
	if significant(x, n, threshold) || !p.limitSeen && significant(p.onsetX-1, p.onsetN-1, onsetNoise) {
		// The cut is from the rate the platform admitted, and the pace
		// recovers to it (CUBIC's W_max), except where the platform
		// admits far less than its limit: a token bucket with a burst of
		// 1 admits only every other request sent a little too fast, so
		// when a third or more were refused since the throttles began,
		// the limit lies a little below the paces they came at.
		admitted := p.admitted(now)
		peak := admitted
		switch {
		case !p.limitSeen:
			// Slow start: the last second was mostly slower than the
			// limit, and the platform's allowance spent in it is no
			// rate; the pace grew fast past the first throttle, which
			// came where it crossed the limit.
			peak = min(p.onsetFirst, p.pace(now))
			admitted = peak
		case 3*p.onsetX >= p.onsetN:
			peak = max(admitted, onsetMargin*min(p.onset/float64(p.onsetX), p.pace(now)))
			admitted = peak
		}
		p.cut(now, min(admitted, peak), peak, true)
	}
}

// freeze stops slow start's clock while the throttles since a trickle began
// are more than onsetNoise of the answers: the pace holds where it met them
// until they prove a limit (and cut) or fall back to noise, instead of
// doubling on into the limit meanwhile. Only with fewer than holdInFlight
// requests in flight: with more, a throttle holds the run, and the hold's
// answers measure the limit; a pace frozen a little over it (an overloaded
// upstream refusing a quarter) would refuse for longer than doubling on
// into the hold does.
func (p *pacer) freeze(now time.Time) {
	frozen := p.phase == slowStart && p.inFlight < holdInFlight && p.onsetEp == p.epoch+1 && p.quiet < testWindow &&
		float64(p.onsetX) > onsetNoise*float64(p.onsetN)
	switch {
	case frozen && p.frozeAt.IsZero():
		p.frozeAt = now
	case !frozen:
		p.thaw(now)
	}
}

// thaw starts slow start's clock again where freeze stopped it.
func (p *pacer) thaw(now time.Time) {
	if !p.frozeAt.IsZero() {
		p.start = p.start.Add(now.Sub(p.frozeAt))
		p.frozeAt = time.Time{}
	}
}

// endHold ends the hold: when most of its answers were throttles, the pace
// was far above the limit, which is the pace times the share admitted.
func (p *pacer) endHold(now time.Time) {
	h := p.hold
	p.hold = hold{}
	threshold := maxNoise
	if !p.limitSeen {
		threshold = 2 * maxNoise
	}
	if h.n < 3 || 2*h.x <= h.n || !significant(h.x, h.n, threshold) {
		return
	}
	if h.x == h.n && p.reopenHi.After(now) && !p.pauseUntil.After(now) {
		p.closed(now, false) // all refused: closed until the reopening
		return
	}
	if h.x == h.n && p.silent && !p.probe.on && !p.pauseUntil.After(now) {
		p.startProbe(now) // all refused, and no word of when it reopens
		return
	}
	limit := h.paceSum / float64(h.n) * float64(max(h.n-h.x, 1)) / float64(h.n)
	if r := p.pace(now); limit < r || math.IsInf(r, 1) {
		p.cut(now, limit, limit, false)
	}
}

// cut lowers the pace to beta times admitted, and recovers towards peak. A
// cut on a trickle of throttles is tested: the pace stays there until its
// answers tell noise from a limit.
func (p *pacer) cut(now time.Time, admitted, peak float64, trickle bool) {
	p.thaw(now) // the curve a cut on noise resumes is slow start's as it stands
	p.test = nil
	if n, x := p.recent.count(p.epoch, len(p.recent.epochs)); trickle && n > 0 && float64(x)/float64(n) <= maxNoise {
		share := float64(x) / float64(n)
		need := int(math.Ceil(3 / (noiseFall * max(share, tolerated))))
		p.test = &cutTest{epoch: p.epoch + 1, at: now, share: share, need: min(max(need, minTest), maxTest), saved: p.curve, seen: p.limitSeen}
	}
	prev, wasSure := p.peak, p.phase == cubic && p.sure && !p.flat
	p.peak = max(peak, minPace)
	if wasSure && math.Abs(p.peak-prev) <= confirmMargin*prev {
		p.confirmed = min(p.confirmed+1, maxConfirmed)
	} else {
		p.confirmed = 0
	}
	b := beta
	if p.test != nil {
		b = trickleBeta // a trickle: just below where it came
	}
	p.from, p.cutAt = max(b*admitted, minPace), now
	p.phase, p.flat, p.windowed, p.sure = cubic, p.test != nil, false, p.limitSeen
	p.limitSeen = true
	p.newEpoch(now)
}

// tested counts an answer towards the test of the last cut, and gives the
// verdict when it has enough.
func (p *pacer) tested(now time.Time, s stamp, throttled bool) {
	t := p.test
	if t == nil || s.epoch != t.epoch {
		return
	}
	t.n++
	if throttled {
		t.x++
	}
	// A share far above the one before needs no more answers to tell.
	early := t.x >= 3 && float64(t.x) > 2*t.share*float64(t.n) && significant(t.x, t.n, max(t.share, tolerated))
	if !early && t.n < t.need && (now.Sub(t.at) < testTime || 2*t.n < minTest) {
		return
	}
	p.test = nil
	fell := binomialCDF(t.x, t.n, noiseFall*t.share) < 0.05
	rose := float64(t.x) > 2*t.share*float64(t.n) || 1-binomialCDF(t.x-1, t.n, t.share) < 0.05
	if t.x >= 2 && rose {
		// A share that rose at the lower pace is no noise: the cut was
		// still above a limit that a token bucket's burst, spent before
		// the cut, hid. The test's answers, all at the cut's pace,
		// measure it: what they were admitted of that pace.
		limit := p.from * float64(t.n-t.x) / float64(t.n)
		p.cut(now, limit, limit, false)
		return
	}
	if t.x < 2 || fell || float64(t.x)/float64(t.n) > maxNoise {
		// The share fell with the pace, or too few throttles to say it
		// did not: a limit; recover from here.
		p.flat, p.cutAt = false, now
		return
	}
	// Noise: resume the curve where the cut left it.
	shift := now.Sub(t.at)
	p.curve = t.saved
	p.start, p.cutAt = p.start.Add(shift), p.cutAt.Add(shift)
	p.limitSeen = t.seen
	p.noise = min(max(p.noise, tolerated, float64(t.x)/float64(t.n), t.share), maxNoise)
	p.newEpoch(now)
}

// closed pauses the run until the platform reopens, and paces from then on
// at the rate it admitted over the whole cycle; spent says the pause is for a
// window's known quota used (see spent), which its reason names.
func (p *pacer) closed(now time.Time, spent bool) {
	until := p.reopenLo.Add(p.reopenHi.Sub(p.reopenLo) / 2)
	until = laterOf(until, now)
	p.pauseUntil = until
	// Short: it fits an 80-column progress line.
	p.pauseReason = fmt.Sprintf("closed window, %d throttled in a row", p.run)
	if spent {
		p.pauseReason = fmt.Sprintf("window quota used, %d admitted", p.cycleOK)
	}
	p.newCycle(now, until)
}

// newCycle begins the platform's next cycle at reopen, when a closed window
// reopens (or reopened), and paces from then on at the rate it admitted over
// the cycle that ended.
func (p *pacer) newCycle(now, reopen time.Time) {
	cycle := reopen.Sub(p.cycleStart)
	var r float64
	switch {
	case cycle >= time.Second && p.cycleOK > 0:
		// Just under the cycle's rate (a window's quota over its
		// length): the last second before it closed refused much, and
		// is no measure of it.
		r = onsetMargin * float64(p.cycleOK) / cycle.Seconds()
	case p.windowed:
		r = p.peak // closed again right after the reopening: it was not open yet
	default:
		r = onsetMargin * p.admitted(now)
	}
	r = max(r, minPace)
	if p.cycleOK > 0 && (p.quota == 0 || p.cycleOK <= p.quota+p.quota/2) {
		// One window's quota, not many windows' paced under it.
		p.quota, p.quotaWithin = p.cycleOK, cycle
	}
	p.peak, p.from, p.flat, p.phase, p.windowed, p.sure = r, r, false, cubic, true, true
	p.confirmed = 0
	p.cutAt = reopen.Add(min(cycle, maxHold) - recoverTime) // hold the cycle's rate for one more cycle
	p.newEpoch(now)
	p.limitSeen = true
	p.hold, p.test = hold{}, nil
	// The run of throttles goes on: one more right after the reopening means
	// it is not open yet, and pauses again at once.
	p.cycleStart, p.cycleOK = reopen, 0
}

// startProbe pauses the run for a closed window that does not say when it
// reopens: after firstProbe (or, once a window's length is known, when this
// one should reopen) one request goes alone; refused, the next goes after
// twice the wait, up to maxProbeWait. The first admitted one begins the
// platform's next cycle (newCycle, from admit).
func (p *pacer) startProbe(now time.Time) {
	wait := firstProbe
	if p.windowed && p.quotaWithin > 0 && p.quotaWithin <= maxHold {
		wait = max(wait, p.cycleStart.Add(p.quotaWithin).Sub(now))
	}
	p.probe = probe{on: true, wait: wait, since: now}
	p.pauseUntil = now.Add(wait)
	p.pauseReason = "closed window, no Retry-After: probing"
	p.hold, p.test = hold{}, nil
	p.newEpoch(now)
}

// probeRefused records a throttle while probing: a refused probe means the
// window is still closed, and the next probe waits longer.
func (p *pacer) probeRefused(now time.Time, s stamp) {
	if !p.probe.out || !s.at.Equal(p.probe.at) {
		return // sent before the window closed
	}
	p.probe.out, p.probe.since = false, s.at
	p.probe.wait = min(2*p.probe.wait, maxProbeWait)
	p.pauseUntil = now.Add(p.probe.wait)
}

// spent reports whether the current cycle has had, within about one window
// (at most half as long again as the cycle that measured it: a run's first
// window can have begun before the run), the quota a window admitted before
// it closed: a throttle then is the window closing again, and needs no
// second one to tell (with a Retry-After under closedRetryAfter that takes
// requests sent after the first throttle came back, refused too: a round
// trip of refusals).
func (p *pacer) spent(now time.Time) bool {
	return p.windowed && p.quota > 0 && p.cycleOK >= p.quota && now.Sub(p.cycleStart) <= p.quotaWithin+p.quotaWithin/2
}

// newEpoch starts a new epoch: the pace changed, by a cut or a pause.
func (p *pacer) newEpoch(now time.Time) {
	p.epoch++
	p.epochAt = now
}

// admitted is the rate the platform admitted over the last second of sending
// (since the end of the last pause, and the answers to the last cut, at the
// earliest), at most the pace.
func (p *pacer) admitted(now time.Time) float64 {
	// Answers to requests sent before the last cut or pause were sent at
	// another pace: slow start's can be a burst's allowance spent.
	span := min(now.Sub(laterOf(p.cycleStart, p.epochAt.Add(p.rtt))), time.Second)
	r := p.pace(now)
	if span >= 200*time.Millisecond && p.ok.count(now, span) >= 5 {
		// In the pace's unit: requests go a little later than their
		// turns (timers fire late), so the rate sent is a little under
		// the pace, and so is what was admitted of it.
		late := 1.0
		if sent := p.sent.rate(now, span); sent > 0 && !math.IsInf(r, 1) {
			late = max(1, min(r/sent, 1.1))
		}
		r = min(r, late*p.ok.rate(now, span))
	}
	if math.IsInf(r, 1) {
		r = p.sent.rate(now, time.Second)
	}
	return max(r, minPace)
}

// binomialCDF is P(X <= x) for X binomial with n trials of probability q.
func binomialCDF(x, n int, q float64) float64 {
	if x >= n {
		return 1
	}
	term := math.Pow(1-q, float64(n))
	sum := term
	for i := 1; i <= x; i++ {
		term *= float64(n-i+1) / float64(i) * q / (1 - q)
		sum += term
	}
	return sum
}

// significant reports whether x throttles among n answers are unlikely
// (below significance) if each answer were a throttle with probability
// share: the binomial tail P(X >= x).
func significant(x, n int, share float64) bool {
	if x < 2 || n == 0 {
		return false
	}
	if x > 50 { // far in the tail: the normal approximation is good enough
		mean := float64(n) * share
		return float64(x) > mean+3*math.Sqrt(mean*(1-share))
	}
	return 1-binomialCDF(x-1, n, share) < significance
}

// clustered reports whether the current run of throttles means the platform
// throttles everyone: two in a row with a Retry-After of closedRetryAfter or
// more, as a closed window sends; else two requests sent after the run's
// first throttle came back, refused too (the requests that were in flight
// then may all be refused by a token bucket just drained). More when the
// throttles are noise at a rate where that many in a row would happen by
// chance more than once a minute.
func (p *pacer) clustered(now time.Time, retryAfter time.Duration) bool {
	k, n := 2, p.fresh
	if retryAfter >= closedRetryAfter {
		n = p.run
	}
	if p.noise > 0 {
		answers := p.ok.rate(now, time.Second) / max(1-p.noise, 0.01)
		for k < 20 && math.Pow(p.noise, float64(k))*answers*60 > 1 {
			k++
		}
	}
	return n >= k
}

// announce sets the pace to a limit the platform announced (requests per
// second); the pace does not go above it.
func (p *pacer) announce(now time.Time, rate float64) {
	if rate <= 0 || math.IsInf(rate, 0) || math.IsNaN(rate) {
		return
	}
	if !math.IsInf(p.ceiling, 1) && math.Abs(rate-p.ceiling) <= 0.05*p.ceiling {
		return // the same announcement again
	}
	p.ceiling = rate
	p.limitSeen = true
	if p.phase != cubic || p.peak > rate {
		p.phase, p.flat, p.test, p.sure = cubic, false, nil, true
		p.peak, p.from = rate, rate
		p.confirmed = 0
		p.cutAt = now.Add(-recoverTime)
	}
}

// exhausted pauses the run until reset: the platform announced that its
// quota is spent.
func (p *pacer) exhausted(now time.Time, reset time.Duration) {
	if until := now.Add(reset); until.After(p.pauseUntil) {
		p.pauseUntil = until
		p.pauseReason = "quota spent, as the platform announced"
		p.cycleStart, p.cycleOK = until, 0
		p.hold = hold{}
		p.newEpoch(now)
	}
}

// paused returns the reason of a run-wide pause in force at now, or "".
func (p *pacer) paused(now time.Time) (reason string, until time.Time) {
	if p.pauseUntil.After(now) || p.probe.on {
		return p.pauseReason, laterOf(p.pauseUntil, now)
	}
	return "", time.Time{}
}

// stalled reports whether the platform has admitted nothing for stallAfter:
// not a rate limit, but a platform that refuses everything.
func (p *pacer) stalled(now time.Time) bool {
	return now.Sub(p.lastOK) > stallAfter && (now.After(p.pauseUntil) || p.probe.on)
}

// answers is a ring of the last answers and the epochs of their requests.
type answers struct {
	epochs    [200]int32
	throttled [200]bool
	n, next   int
}

func (a *answers) push(epoch int, throttled bool) {
	a.epochs[a.next], a.throttled[a.next] = int32(epoch), throttled
	a.next = (a.next + 1) % len(a.epochs)
	a.n = min(a.n+1, len(a.epochs))
}

// count returns how many of the last (at most) window answers are to
// requests of epoch, and how many of those were throttles.
func (a *answers) count(epoch, window int) (n, throttled int) {
	for i := range a.n {
		j := (a.next - 1 - i + len(a.epochs)) % len(a.epochs)
		if a.epochs[j] != int32(epoch) {
			continue
		}
		n++
		if a.throttled[j] {
			throttled++
		}
		if n == window {
			break
		}
	}
	return n, throttled
}

// meter counts events in 100 ms slots over the last ten seconds.
type meter struct {
	slots [100]int
	last  int64 // index (time / 100 ms) of the newest slot written
}

const slot = 100 * time.Millisecond

func (m *meter) advance(now time.Time) int64 {
	i := now.UnixNano() / int64(slot)
	if i-m.last >= int64(len(m.slots)) {
		m.slots = [100]int{}
	} else {
		for j := m.last + 1; j <= i; j++ {
			m.slots[j%int64(len(m.slots))] = 0
		}
	}
	if i > m.last {
		m.last = i
	}
	return i
}

func (m *meter) add(now time.Time) {
	i := m.advance(now)
	m.slots[i%int64(len(m.slots))]++
}

// count is the number of events over the last window.
func (m *meter) count(now time.Time, window time.Duration) int {
	i := m.advance(now)
	size := int64(len(m.slots))
	k := min(int64(window/slot), size)
	n := 0
	for j := i - k + 1; j <= i; j++ {
		n += m.slots[(j%size+size)%size]
	}
	return n
}

// rate is the events per second over the last window (the slots it covers,
// the current one only as far as now).
func (m *meter) rate(now time.Time, window time.Duration) float64 {
	k := min(window/slot, time.Duration(len(m.slots)))
	covered := (k-1)*slot + time.Duration(now.UnixNano()%int64(slot))
	return float64(m.count(now, window)) / max(covered, slot/10).Seconds()
}

func earlierOf(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
