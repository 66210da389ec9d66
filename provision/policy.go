package provision

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Backoff and pause limits. Tests shorten them through these unexported variables.
var (
	backoffBase   = 500 * time.Millisecond
	backoffCap    = 20 * time.Second
	maxRetryAfter = 60 * time.Second
)

// The retry budget, after the AWS SDK's standard mode: a retry costs retryCost
// tokens (timeoutCost after a timeout or lost response), a success returns one.
const (
	budgetTokens = 500
	retryCost    = 5
	timeoutCost  = 10
)

// errBudget is returned when the run's retry budget is spent.
var errBudget = errors.New("retry budget exhausted: too many failures across the run, not retrying")

// policy is the run-wide retry and rate policy every platform call goes through:
// an optional fixed rate, an adaptive cap while the platform throttles, a
// run-wide pause on Retry-After, full-jitter backoff, and a shared retry budget.
//
// The adaptive cap is headroom times the rate of answers the platform did not
// throttle over the last two seconds, applied from the first 429 or 503; after
// ten seconds without one it probes upwards (twice the answered rate), and
// after a minute without one it is lifted. Against a real limit L the run settles a little above L, where
// the Retry-After pauses keep the share of 429s small; against throttles that
// do not depend on the rate (a flaky upstream answering 5% 503s) the cap stays
// above the rate the run achieves and never ratchets it down.
type policy struct {
	maxAttempts int
	timeout     time.Duration // per attempt; 0 means none

	limiter *rate.Limiter
	fixed   rate.Limit // --rate, or rate.Inf

	mu           sync.Mutex
	limit        rate.Limit // the limiter's current limit, <= fixed
	pauseUntil   time.Time
	paused       chan struct{} // closed, and replaced, when a pause begins
	lastThrottle time.Time
	lastAdjust   time.Time
	start        time.Time
	answered     meter // answers that were not throttles
	budget       float64
	rng          *rand.Rand

	// counters for the report and benchmarks
	requests, throttled, retries int
}

// Adaptive cap parameters.
const (
	headroom      = 1.10                   // cap = headroom x unthrottled answers per second
	minRate       = 1                      // the cap's floor, in requests per second
	warmup        = time.Second            // no cap before this much of the run has been measured
	adjustEvery   = 100 * time.Millisecond // the cap is recomputed at most this often
	throttleSpan  = 10 * time.Second       // after this long without a throttle the cap probes upwards
	probeHeadroom = 2                      // headroom while probing
	releaseAfter  = time.Minute            // after this long without a throttle the cap is lifted
	capWindow     = 2 * time.Second        // the answered rate is measured over this window
)

func newPolicy(fixedRate float64, maxAttempts int, timeout time.Duration) *policy {
	fixed := rate.Inf
	if fixedRate > 0 {
		fixed = rate.Limit(fixedRate)
	}
	if maxAttempts < 1 {
		maxAttempts = 1
	}
	return &policy{
		maxAttempts: maxAttempts,
		timeout:     timeout,
		limiter:     rate.NewLimiter(fixed, burstFor(fixed, false)),
		fixed:       fixed,
		limit:       fixed,
		start:       time.Now(),
		paused:      make(chan struct{}),
		budget:      budgetTokens,
		rng:         rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x9e3779b97f4a7c15)),
	}
}

// burstFor is the limiter burst for limit l: a second's worth for a fixed
// --rate, so the workers do not idle; 1 for the adaptive cap, so that tokens
// saved up during a pause do not end it with a burst the platform refuses.
func burstFor(l rate.Limit, adaptive bool) int {
	if l == rate.Inf {
		return 0
	}
	if adaptive {
		return 1
	}
	return max(1, int(math.Ceil(float64(l))))
}

// wait blocks until the run may send one more request: after any run-wide
// pause, within the current rate.
func (p *policy) wait(ctx context.Context) error {
	for {
		p.mu.Lock()
		until := p.pauseUntil
		p.mu.Unlock()
		if d := time.Until(until); d > 0 {
			if err := sleep(ctx, d); err != nil {
				return err
			}
			continue
		}
		r := p.limiter.Reserve()
		if !r.OK() {
			return errors.New("rate limiter: no burst") // cannot happen: burstFor gives at least 1
		}
		if d := r.Delay(); d > 0 {
			p.mu.Lock()
			paused := p.paused
			p.mu.Unlock()
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				r.Cancel()
				return ctx.Err()
			case <-paused:
				// A pause began while this request waited for the rate:
				// give the token back and wait for the pause.
				t.Stop()
				r.Cancel()
				continue
			case <-t.C:
			}
		}
		p.mu.Lock()
		p.requests++
		p.mu.Unlock()
		return nil
	}
}

// answered records an answer that was not a throttle (a success or any other
// error): it counts towards the accepted rate, and a success refills the
// retry budget.
func (p *policy) answer(success bool) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if success {
		p.budget = math.Min(budgetTokens, p.budget+1)
	}
	p.answered.add(now)
	p.adjust(now, false)
}

// throttle records a 429 or 503: the run pauses for retryAfter (capped) and
// the adaptive cap applies.
func (p *policy) throttle(retryAfter time.Duration) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.throttled++
	p.lastThrottle = now
	if retryAfter > maxRetryAfter {
		retryAfter = maxRetryAfter
	}
	if until := now.Add(retryAfter); until.After(p.pauseUntil) {
		p.pauseUntil = until
		close(p.paused)
		p.paused = make(chan struct{})
	}
	p.adjust(now, true)
}

// adjust recomputes the adaptive cap. Called with p.mu held.
func (p *policy) adjust(now time.Time, throttled bool) {
	if !throttled && now.Sub(p.lastAdjust) < adjustEvery {
		return
	}
	p.lastAdjust = now
	next, adaptive := p.fixed, false
	if quiet := now.Sub(p.lastThrottle); !p.lastThrottle.IsZero() && quiet < releaseAfter && now.Sub(p.start) >= warmup {
		h := headroom
		if quiet >= throttleSpan {
			// Quiet, perhaps only because of the cap: probe upwards, doubling
			// every capWindow, rather than lift it at once into a burst.
			h = probeHeadroom
		}
		if c := rate.Limit(max(minRate, h*p.answeredRate(now))); c < p.fixed {
			next, adaptive = c, true
		}
	}
	if next == p.limit {
		return
	}
	p.limit = next
	p.limiter.SetLimit(next)
	p.limiter.SetBurst(burstFor(next, adaptive))
}

// answeredRate is the rate of unthrottled answers over the last capWindow of
// wall-clock time, Retry-After pauses included: against a token bucket the
// pauses are part of the rate the platform sustains. (Not counting them lets
// the cap climb after every pause, and the 429 share with it: 10% instead of
// 2.5% in BenchmarkApplyRateLimit100per10s.)
func (p *policy) answeredRate(now time.Time) float64 {
	span := now.Sub(laterOf(p.start, now.Add(-capWindow)))
	return float64(p.answered.count(now, capWindow)) / max(span, slot).Seconds()
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

// retry decides whether another attempt may follow failure number attempt
// (counting from 1) and returns how long to wait first.
func (p *policy) retry(attempt int, err error) (time.Duration, error) {
	if attempt >= p.maxAttempts {
		return 0, err
	}
	var ae *APIError
	errors.As(err, &ae)
	cost := float64(retryCost)
	if ae != nil && ae.Status == 0 {
		cost = timeoutCost
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.budget < cost {
		return 0, errors.Join(errBudget, err)
	}
	p.budget -= cost
	p.retries++
	ceil := float64(backoffBase) * math.Pow(2, float64(attempt-1))
	if ceil > float64(backoffCap) {
		ceil = float64(backoffCap)
	}
	d := time.Duration(p.rng.Float64() * ceil)
	if ae != nil && ae.RetryAfter > d {
		d = min(ae.RetryAfter, maxRetryAfter)
	}
	return d, nil
}

// stats returns the policy's counters.
func (p *policy) stats() (requests, throttled, retries int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests, p.throttled, p.retries
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
