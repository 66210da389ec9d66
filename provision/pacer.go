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
//   - Start. Before the first throttle the pace starts at slowStartRate and
//     doubles every slowStartDoubling (TCP's slow start), so a run at high
//     parallelism does not open with a wave of requests; once the pace is more
//     than twice what the run manages to send, the parallelism is the
//     bottleneck and pacing stops until a throttle. When the platform
//     announces its limit (announce), the pace starts there instead of
//     probing, and never goes above it.
//   - Cut. A throttle cuts the pace to beta (0.8; the AWS SDK takes 0.7)
//     times the rate the platform admitted over the last second of sending
//     (not over a pause, and never more than the pace), but only when the
//     throttles among the last answers since the previous cut are
//     significantly more than a tolerated share (tolerated, 1%, or the noise
//     floor below): one throttle in a hundred answers from a platform at its
//     limit is the price of holding the limit, not a reason to leave it.
//     Answers to requests sent before a cut never cut again: with many
//     requests in flight, one round of throttles is one cut. When the
//     throttles came in a trickle, the platform admitted less than the pace
//     only because of them (a token bucket with a burst of 1 drops every
//     other request sent a little too fast), so the pace they began at is the
//     better measure of the limit.
//   - Recovery. After a cut the pace follows a cubic curve, concave back up to
//     the rate it was cut from (the last peak) and convex beyond it:
//     pace(t) = peak - (peak - cut)(1 - t/recoverTime)^3 up to the peak, which
//     it reaches recoverTime (2 s) after the cut whatever the rate, then
//     peak (1 + probeGain (t/recoverTime - 1)^3): +12% one second later,
//     +100% two seconds later, and only while the run uses the pace (at most
//     twice the rate sent). The AWS SDK scales the same curve in absolute requests
//     per second (2 s to recover at 10/s, 9 s at 1,000/s); here it is
//     relative to the peak.
//   - Noise. A small share of throttles that does not fall when the pace falls
//     is not a limit (the idea behind Google SRE's client-side throttling and
//     gRPC's retry throttling). The pacer keeps the share of throttles by the
//     pace the requests were sent at (four bands per doubling); before a cut
//     it looks at the bands below: if the share there is as high (at least
//     noiseFall of it), the throttles do not depend on the rate, the pace
//     stays, and that share becomes the noise floor that later throttles must
//     rise above.
//   - Pause. Retry-After delays only the request that received it (the caller
//     waits it out). The whole run pauses only when the platform throttles
//     many requests in a row (clusterSize; a closed fixed window answers 429
//     to everyone until it reopens), until the reopening the cluster's
//     Retry-After headers announce. The pace then becomes the rate the
//     platform admitted over the whole cycle, from the end of the previous
//     pause to the reopening (for a fixed window, its quota over its length),
//     and after a long closure (a window, not a token bucket's next token
//     rounded up to a second) it holds there for one more cycle before
//     probing again.
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

	curve
	start time.Time // when slow start began
	epoch int       // counts the cuts and pauses; a request carries the epoch it was sent in

	last        time.Time // the last turn given (as scheduled)
	pauseUntil  time.Time
	pauseReason string
	cycleStart  time.Time // the end of the last pause (or the first request)
	cycleOK     int       // answers admitted since cycleStart

	recent       answers        // the last answers, with their epochs
	bands        map[int]*tally // answers by the pace their requests were sent at
	run          int            // throttles in a row, since the last answer that was not one
	reopen       time.Time      // the earliest reopening the current run of throttles announced
	sent, ok, th meter          // requests sent, answers admitted, throttles
	onset        float64        // the pace at the first throttle of the epoch onsetEpoch
	onsetEpoch   int            //
	limitFound   bool           // a cut was confirmed by quieter lower paces
	noise        float64        // the learned share of throttles that does not depend on the rate
	lastOK       time.Time      // the last admitted answer, for stall detection
}

// curve is the shape of the pace over time.
type curve struct {
	phase     pacePhase
	peak      float64   // the rate to recover to (CUBIC's W_max)
	from      float64   // the pace right after the cut
	cutAt     time.Time // when the cubic curve started (t = 0)
	holdUntil time.Time // hold the pace at the peak until then (after a closed window)
}

type pacePhase int

const (
	slowStart pacePhase = iota // no throttle yet: growing exponentially
	open                       // no throttle yet, and the parallelism is the bottleneck: not pacing
	cubic                      // after a throttle (or an announced limit): CUBIC
)

// Pacer parameters.
const (
	beta              = 0.8             // the multiplicative cut (the AWS SDK takes 0.7)
	recoverTime       = 2 * time.Second // from a cut back to the peak
	probeGain         = 1.0             // above the peak, +100% recoverTime after reaching it
	slowStartRate     = 40.0            // requests per second at the start
	slowStartDoubling = 150 * time.Millisecond
	minPace           = 0.5  // requests per second, the floor of any cut (the AWS SDK's minFillRate)
	tolerated         = 0.01 // a share of throttles not worth a cut
	testWindow        = 50   // the answers a cut is decided on: the last of the current epoch
	significance      = 0.01 // how unlikely under the tolerated share the throttles must be to cut
	onsetMargin       = 0.95 // the limit against the pace where a trickle of throttles began
	maxOnsetShare     = 0.2  // the largest share of throttles that came in a trickle
	noiseFall         = 0.5  // throttles at lower paces at least this share of the current one's are noise
	maxNoise          = 0.1  // a larger share is a limit, whatever it is at lower paces
	noiseSamples      = 30   // answers at lower paces needed to call throttles noise
	bandsPerDoubling  = 4
	bandCap           = 400 // a band's counts halve beyond this, so old answers fade
	maxHold           = time.Minute
	closedRetryAfter  = 2 * time.Second // a cluster waiting this long or more is a closed window
)

// stallAfter is how long throttles are retried with nothing at all admitted:
// after that the platform refuses everything, which is no rate limit. Tests
// shorten it.
var stallAfter = 5 * time.Minute

// tally counts answers and the throttles among them.
type tally struct{ n, throttled int }

// stamp is what the pacer remembers of a request it let go: its epoch and
// the pace band it was sent in.
type stamp struct{ epoch, band int }

func newPacer(fixedRate float64, now time.Time) *pacer {
	fixed := math.Inf(1)
	if fixedRate > 0 {
		fixed = fixedRate
	}
	return &pacer{fixed: fixed, ceiling: math.Inf(1), curve: curve{phase: slowStart}, start: now,
		cycleStart: now, lastOK: now, onsetEpoch: -1, bands: map[int]*tally{}}
}

// pace returns the requests per second allowed at now; +Inf means no pacing.
func (p *pacer) pace(now time.Time) float64 {
	r := math.Inf(1)
	switch p.phase {
	case slowStart:
		r = slowStartRate * math.Exp2(float64(now.Sub(p.start))/float64(slowStartDoubling))
	case cubic:
		r = p.peak
		if now.After(p.holdUntil) {
			t := max(float64(now.Sub(p.cutAt))/float64(recoverTime), 0)
			r = p.peak - (p.peak-p.from)*math.Pow(1-t, 3)
			if t > 1 {
				r = p.peak * (1 + probeGain*math.Pow(t-1, 3))
				// Beyond the peak, grow only while the run uses the pace (the
				// AWS SDK caps it at twice the measured sending rate).
				r = min(r, max(p.peak, 2*p.sent.rate(now, time.Second)))
			}
		}
		r = max(r, minPace)
	}
	return min(r, p.fixed, p.ceiling)
}

// turn returns the earliest time the next request may be sent: after any
// pause, and 1/pace after the last turn.
func (p *pacer) turn(now time.Time) time.Time {
	at := laterOf(now, p.pauseUntil)
	if r := p.pace(at); !math.IsInf(r, 1) && !p.last.IsZero() {
		at = laterOf(at, p.last.Add(time.Duration(float64(time.Second)/r)))
	}
	return at
}

// send records a request sent at now, when turn allowed it.
func (p *pacer) send(now time.Time) stamp {
	if p.last.IsZero() {
		p.cycleStart = now
	}
	r := p.pace(now)
	p.last = now
	p.sent.add(now)
	if p.phase == slowStart && now.Sub(p.start) > 5*slowStartDoubling && r > 2*p.sent.rate(now, 500*time.Millisecond) {
		p.phase = open // the parallelism, not the pace, limits the run
	}
	if math.IsInf(r, 1) {
		r = p.sent.rate(now, time.Second)
	}
	return stamp{epoch: p.epoch, band: band(r)}
}

// band is the pace band of a rate: four per doubling.
func band(rate float64) int {
	return int(math.Floor(bandsPerDoubling * math.Log2(max(rate, minPace))))
}

// admit records an answer that was not a throttle.
func (p *pacer) admit(now time.Time, s stamp) {
	p.recent.push(s.epoch, false)
	p.count(s.band, false)
	p.run = 0
	p.ok.add(now)
	p.cycleOK++
	p.lastOK = now
}

func (p *pacer) count(b int, throttled bool) {
	t := p.bands[b]
	if t == nil {
		t = &tally{}
		p.bands[b] = t
	}
	t.n++
	if throttled {
		t.throttled++
	}
	if t.n > bandCap {
		t.n, t.throttled = t.n/2, t.throttled/2
	}
}

// throttle records a throttle (429 or 503) with the Retry-After it carried (0
// if none), and adapts: a run-wide pause, a cut, or nothing (noise, a
// tolerated share, or a request sent before the last cut).
func (p *pacer) throttle(now time.Time, s stamp, retryAfter time.Duration) {
	p.recent.push(s.epoch, true)
	p.count(s.band, true)
	p.th.add(now)
	p.run++
	if retryAfter > 0 {
		if at := now.Add(expectedReopen(retryAfter)); p.run == 1 || p.reopen.IsZero() || at.Before(p.reopen) {
			p.reopen = at
		}
	}
	if retryAfter > 0 && p.run >= p.clusterSize(now, retryAfter) && p.reopen.After(now) && !p.pauseUntil.After(now) {
		// The platform throttles everyone until it reopens. The pause ends
		// when it most likely does; the throttled requests themselves wait
		// out their whole Retry-After.
		p.closed(now)
		return
	}
	if s.epoch != p.epoch {
		return // answered by the last cut already
	}
	if p.onsetEpoch != p.epoch {
		p.onset, p.onsetEpoch = p.pace(now), p.epoch
	}
	n, x := p.recent.count(p.epoch, testWindow)
	if !significant(x, n, max(tolerated, p.noise)) {
		return
	}
	if p.rateIndependent(s.band, float64(x)/float64(n)) {
		if !p.limitFound && p.phase == cubic {
			p.phase = open // every cut so far was noise: unpace
		}
		return
	}
	n, x = p.recent.count(p.epoch, len(p.recent.epochs))
	p.cut(now, float64(x)/float64(n))
}

// rateIndependent reports whether throttles at share in band b are noise:
// a small share, about as large at paces well below (70-84% and lower) or
// well above. It learns the noise floor then, and notes a limit found when
// the lower paces were clearly quieter.
func (p *pacer) rateIndependent(b int, share float64) bool {
	var lower, higher tally
	for k, t := range p.bands {
		switch {
		case k <= b-2:
			lower.n += t.n
			lower.throttled += t.throttled
		case k >= b+2:
			higher.n += t.n
			higher.throttled += t.throttled
		}
	}
	rate := func(t tally) float64 { return float64(t.throttled) / float64(t.n) }
	if share > maxNoise {
		return false
	}
	if q := noiseFall * share; float64(lower.n)*q >= 3 {
		// Enough answers at lower paces to tell: a limit if they were
		// significantly quieter than half the share here.
		if binomialCDF(lower.throttled, lower.n, q) < 0.05 {
			p.limitFound = true
			return false
		}
		p.noise = max(rate(lower), tolerated)
		return true
	}
	if h := rate(higher); float64(higher.n)*h >= 3 && h <= maxNoise && share >= noiseFall*h {
		p.noise = max(min(share, h), tolerated)
		return true
	}
	return false
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

// cut lowers the pace to beta times the admitted rate; share is the share of
// throttles among the recent answers.
func (p *pacer) cut(now time.Time, share float64) {
	admitted := p.admitted(now)
	if p.phase == slowStart && p.onsetEpoch == p.epoch {
		// The pace doubled while the first throttled requests were
		// answered (TCP halves its window on a loss in slow start).
		admitted = max(admitted, p.onset/2)
	}
	if share <= maxOnsetShare && p.onsetEpoch == p.epoch && p.onset > admitted {
		// A trickle of throttles: the limit lies a little below the pace
		// where they began.
		admitted = min(onsetMargin*p.onset, 2*admitted)
	}
	p.from, p.peak = beta*admitted, admitted
	p.cutAt, p.holdUntil = now, time.Time{}
	p.phase = cubic
	p.epoch++
}

// closed pauses the run until the platform reopens, and paces from then on
// at the rate it admitted over the whole cycle.
func (p *pacer) closed(now time.Time) {
	until := p.reopen
	cycle := until.Sub(p.cycleStart)
	r := p.admitted(now)
	if cycle >= time.Second && p.cycleOK > 0 {
		r = max(min(r, float64(p.cycleOK)/cycle.Seconds()), minPace)
	}
	p.pauseUntil = until
	p.pauseReason = fmt.Sprintf("%d requests in a row throttled: waiting for the reopening Retry-After announced", p.run)
	p.peak, p.from = r, r
	p.holdUntil = until
	if until.Sub(now) >= closedRetryAfter {
		p.holdUntil = until.Add(min(cycle, maxHold))
	}
	p.cutAt = p.holdUntil.Add(-recoverTime)
	p.phase = cubic
	p.epoch++
	p.limitFound = true
	p.run, p.reopen = 0, time.Time{}
	p.cycleStart, p.cycleOK = until, 0
}

// expectedReopen is when a platform that sent retryAfter most likely
// reopens: Retry-After comes in whole seconds, rounded up, so a whole number
// of seconds means half a second less on average.
func expectedReopen(retryAfter time.Duration) time.Duration {
	if retryAfter >= time.Second && retryAfter%time.Second == 0 {
		return retryAfter - time.Second/2
	}
	return retryAfter
}

// admitted is the rate the platform admitted over the last second of sending
// (since the end of the last pause at the earliest), at most the pace.
func (p *pacer) admitted(now time.Time) float64 {
	span := min(now.Sub(p.cycleStart), time.Second)
	r := p.pace(now)
	if span >= 200*time.Millisecond && p.ok.count(now, span) >= 5 {
		r = min(r, p.ok.rate(now, span))
	}
	if math.IsInf(r, 1) {
		r = p.sent.rate(now, time.Second)
	}
	return max(r, minPace)
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
	// P(X >= x) = 1 - sum_{i<x} C(n,i) s^i (1-s)^(n-i)
	term := math.Pow(1-share, float64(n)) // i = 0
	sum := term
	for i := 1; i < x; i++ {
		term *= float64(n-i+1) / float64(i) * share / (1 - share)
		sum += term
	}
	return 1-sum < significance
}

// clusterSize is how many throttles in a row mean the platform throttles
// everyone: 2 when they carry a Retry-After of closedRetryAfter or more, as a
// closed window does, else 6; more when the throttles are noise at a rate
// where that many in a row would happen by chance more than once a minute.
func (p *pacer) clusterSize(now time.Time, retryAfter time.Duration) int {
	k := 6
	if retryAfter >= closedRetryAfter {
		k = 2
	}
	if p.noise > 0 {
		answers := p.ok.rate(now, time.Second) / max(1-p.noise, 0.01)
		for k < 20 && math.Pow(p.noise, float64(k))*answers*60 > 1 {
			k++
		}
	}
	return k
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
	if p.phase != cubic || p.peak > rate {
		p.phase = cubic
		p.peak, p.from = rate, rate
		p.holdUntil = now
		p.cutAt = now.Add(-recoverTime)
	}
}

// exhausted pauses the run until reset: the platform announced that its
// quota is spent.
func (p *pacer) exhausted(now time.Time, reset time.Duration) {
	if until := now.Add(reset); until.After(p.pauseUntil) {
		p.pauseUntil = until
		p.pauseReason = "the platform announced its quota spent: waiting for it to reset"
		p.cycleStart, p.cycleOK = until, 0
		p.epoch++
	}
}

// paused returns the reason of a run-wide pause in force at now, or "".
func (p *pacer) paused(now time.Time) (reason string, until time.Time) {
	if p.pauseUntil.After(now) {
		return p.pauseReason, p.pauseUntil
	}
	return "", time.Time{}
}

// stalled reports whether the platform has admitted nothing for stallAfter:
// not a rate limit, but a platform that refuses everything.
func (p *pacer) stalled(now time.Time) bool {
	return now.Sub(p.lastOK) > stallAfter && now.After(p.pauseUntil)
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
