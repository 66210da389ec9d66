package provision

import (
	"context"
	"errors"
	"fmt"
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

// policy is the run-wide retry and rate policy every platform call goes
// through: at most parallelism requests in flight, paced by the run's pacer
// (an optional fixed rate, and the limit it learns from throttles), full-jitter
// backoff, and a shared retry budget that throttles do not spend.
type policy struct {
	maxAttempts int
	timeout     time.Duration // per attempt; 0 means none

	slots chan struct{} // one per request in flight
	turns chan struct{} // held by the one request waiting for its turn

	mu       sync.Mutex
	pc       *pacer
	changed  chan struct{} // closed when the pacer's schedule may have moved earlier or later
	budget   float64
	rng      *rand.Rand
	progress *Progress // may be nil

	// counters for the report and benchmarks
	requests, throttled, retries int
}

// ticket is one request admitted by wait; done returns it.
type ticket struct{ s stamp }

func newPolicy(fixedRate float64, maxAttempts int, timeout time.Duration, parallelism int, progress *Progress) *policy {
	if maxAttempts < 1 {
		maxAttempts = 1
	}
	if parallelism < 1 {
		parallelism = 1
	}
	p := &policy{
		maxAttempts: maxAttempts,
		timeout:     timeout,
		slots:       make(chan struct{}, parallelism),
		turns:       make(chan struct{}, 1),
		pc:          newPacer(fixedRate, time.Now()),
		changed:     make(chan struct{}),
		budget:      budgetTokens,
		rng:         rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x9e3779b97f4a7c15)),
		progress:    progress,
	}
	p.publish(time.Now())
	return p
}

// wait blocks until the run may send one more request: a slot among the
// parallelism, then its turn at the pace, after any run-wide pause. Requests
// take their turns one at a time, in order, and each turn is computed when it
// comes, so a change of pace applies to the very next request. The caller
// must pass the ticket to done when the attempt ends.
func (p *policy) wait(ctx context.Context) (ticket, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return ticket{}, ctx.Err()
	}
	select {
	case p.turns <- struct{}{}:
	case <-ctx.Done():
		<-p.slots
		return ticket{}, ctx.Err()
	}
	defer func() { <-p.turns }()
	for {
		p.mu.Lock()
		now := time.Now()
		at := p.pc.turn(now)
		if !at.After(now) {
			t := ticket{s: p.pc.send(now)}
			p.requests++
			p.publish(now)
			p.mu.Unlock()
			return t, nil
		}
		changed := p.changed
		p.mu.Unlock()
		timer := time.NewTimer(at.Sub(now))
		select {
		case <-timer.C:
		case <-changed:
			timer.Stop()
		case <-ctx.Done():
			timer.Stop()
			<-p.slots
			return ticket{}, ctx.Err()
		}
	}
}

// done ends the attempt of ticket t with err: it frees the slot and tells the
// pacer what the platform answered. A 429 or 503 is a throttle; a success
// refills the retry budget; no answer at all (a reset, a timeout) says nothing
// about the rate.
func (p *policy) done(t ticket, err error) {
	<-p.slots
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	held := p.pc.holding()
	var ae *APIError
	switch {
	case err == nil:
		p.budget = math.Min(budgetTokens, p.budget+1)
		p.pc.admit(now, t.s)
	case !errors.As(err, &ae) || ae.Status == 0:
		p.pc.lost(now, t.s)
	case ae.Status == 429 || ae.Status == 503:
		p.throttled++
		p.pc.throttleWith(now, t.s, min(ae.RetryAfter, maxRetryAfter), ae.Status == 429)
		held = true
	default:
		p.pc.admit(now, t.s)
	}
	if held {
		p.reschedule() // a throttle, or a hold that may have ended
	}
	p.publish(now)
}

// announce applies a limit the platform announced in its response headers.
func (p *policy) announce(l announcedLimit) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if l.rate > 0 {
		p.pc.announce(now, l.rate)
	}
	if l.spent && l.reset >= minAnnouncedReset {
		p.pc.exhausted(now, min(l.reset, maxRetryAfter))
	}
	p.reschedule()
	p.publish(now)
}

// begin tells the policy that the run's requests in parallel begin, after
// the reads that planned them: n requests at least (see pacer.begin).
func (p *policy) begin(n int) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pc.begin(now, n, cap(p.slots))
	p.reschedule()
	p.publish(now)
}

// remaining tells the policy how many requests the run has still to make (at
// least): at the end of a run the pacer does not probe (see pacer.ending).
func (p *policy) remaining(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pc.remaining = n
}

// attach makes the policy report its pace and pauses to p (nil for none).
func (p *policy) attach(pr *Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.progress = pr
	p.publish(time.Now())
}

// reschedule wakes the request waiting for its turn. Called with p.mu held.
func (p *policy) reschedule() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// publish copies the pace, the throttles and any pause to the progress
// display. Called with p.mu held.
func (p *policy) publish(now time.Time) {
	if p.progress == nil {
		return
	}
	reason, until := p.pc.paused(now)
	p.progress.setRate(p.pc.pace(now), reason, until)
}

// isThrottle reports whether err is the platform asking to slow down: a 429,
// or a 503 that says when to come back. Retrying it spends no retry budget and
// counts against no attempt limit.
func isThrottle(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && (ae.Status == 429 || (ae.Status == 503 && ae.RetryAfter > 0))
}

// retry decides whether another attempt may follow err, and how long to wait
// first. failures counts the attempts so far that failed other than by a
// throttle, throttles those throttled. A throttle is retried however many
// came before, without spending the retry budget, after its Retry-After (or a
// backoff when it has none), unless the platform has admitted nothing at all
// for stallAfter: that is no rate limit. Other failures are retried up to
// maxAttempts while the budget lasts, after a full-jitter backoff, or their
// Retry-After if longer.
func (p *policy) retry(failures, throttles int, err error) (time.Duration, error) {
	var ae *APIError
	errors.As(err, &ae)
	p.mu.Lock()
	defer p.mu.Unlock()
	if isThrottle(err) {
		if p.pc.stalled(time.Now()) {
			return 0, fmt.Errorf("throttled, and the platform has admitted no request for %v: %w", stallAfter, err)
		}
		p.retries++
		if ae.RetryAfter > 0 {
			return min(ae.RetryAfter, maxRetryAfter), nil
		}
		return p.backoff(throttles), nil
	}
	if failures >= p.maxAttempts {
		return 0, err
	}
	cost := float64(retryCost)
	if ae != nil && ae.Status == 0 {
		cost = timeoutCost
	}
	if p.budget < cost {
		return 0, errors.Join(errBudget, err)
	}
	p.budget -= cost
	p.retries++
	d := p.backoff(failures)
	if ae != nil && ae.RetryAfter > d {
		d = min(ae.RetryAfter, maxRetryAfter)
	}
	return d, nil
}

// backoff is the full-jitter wait before retry number n (from 1). Called with
// p.mu held.
func (p *policy) backoff(n int) time.Duration {
	ceil := float64(backoffBase) * math.Pow(2, float64(min(n, 30)-1))
	if ceil > float64(backoffCap) {
		ceil = float64(backoffCap)
	}
	return time.Duration(p.rng.Float64() * ceil)
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
