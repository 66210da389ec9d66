package provision

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"time"
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

	fixed float64 // --rate in requests per second, or +Inf

	mu           sync.Mutex
	limit        float64   // the current rate, <= fixed; +Inf for none
	next         time.Time // the earliest time the next request may go, when limit is finite
	pauseEpoch   int       // counts the pauses begun
	pauseUntil   time.Time
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
	fixed := math.Inf(1)
	if fixedRate > 0 {
		fixed = fixedRate
	}
	if maxAttempts < 1 {
		maxAttempts = 1
	}
	return &policy{
		maxAttempts: maxAttempts,
		timeout:     timeout,
		fixed:       fixed,
		limit:       fixed,
		start:       time.Now(),
		budget:      budgetTokens,
		rng:         rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x9e3779b97f4a7c15)),
	}
}

// wait blocks until the run may send one more request: after any run-wide
// pause, in its turn at the current rate. Turns are spaced 1/rate apart; a
// pause restarts the schedule at its end, and a request whose turn a pause
// overtook takes a new turn after it, so a pause never ends in a burst.
func (p *policy) wait(ctx context.Context) error {
	for {
		p.mu.Lock()
		turn := laterOf(time.Now(), p.pauseUntil)
		if !math.IsInf(p.limit, 1) {
			turn = laterOf(turn, p.next)
			p.next = turn.Add(time.Duration(float64(time.Second) / p.limit))
		}
		epoch := p.pauseEpoch
		p.mu.Unlock()
		if err := sleep(ctx, time.Until(turn)); err != nil {
			return err
		}
		p.mu.Lock()
		if p.pauseEpoch != epoch && time.Now().Before(p.pauseUntil) {
			p.mu.Unlock()
			continue // a pause began while this request waited for its turn
		}
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
		p.pauseEpoch++
		p.next = until // the schedule restarts when the pause ends
	}
	p.adjust(now, true)
}

// adjust recomputes the adaptive cap. Called with p.mu held.
func (p *policy) adjust(now time.Time, throttled bool) {
	if !throttled && now.Sub(p.lastAdjust) < adjustEvery {
		return
	}
	p.lastAdjust = now
	next := p.fixed
	if quiet := now.Sub(p.lastThrottle); !p.lastThrottle.IsZero() && quiet < releaseAfter && now.Sub(p.start) >= warmup {
		h := headroom
		if quiet >= throttleSpan {
			// Quiet, perhaps only because of the cap: probe upwards, doubling
			// every capWindow, rather than lift it at once into a burst.
			h = probeHeadroom
		}
		next = min(p.fixed, max(minRate, h*p.answeredRate(now)))
	}
	p.limit = next
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
