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
// an optional fixed rate, an adaptive rate that drops on 429/503 and recovers on
// success, a run-wide pause on Retry-After, full-jitter backoff, and a shared
// retry budget.
type policy struct {
	maxAttempts int
	timeout     time.Duration // per attempt; 0 means none

	limiter *rate.Limiter
	fixed   rate.Limit // --rate, or rate.Inf

	mu           sync.Mutex
	cur          rate.Limit // adaptive rate, <= fixed
	pauseUntil   time.Time
	lastDecrease time.Time
	start        time.Time
	window       []time.Time // recent successes, for the measured rate
	budget       float64
	rng          *rand.Rand

	// counters for the report and benchmarks
	requests, throttled, retries int
}

func newPolicy(fixedRate float64, maxAttempts int, timeout time.Duration) *policy {
	fixed := rate.Inf
	if fixedRate > 0 {
		fixed = rate.Limit(fixedRate)
	}
	burst := 1
	if fixed == rate.Inf {
		burst = 0
	} else if fixedRate >= 1 {
		burst = int(math.Ceil(fixedRate))
	}
	if maxAttempts < 1 {
		maxAttempts = 1
	}
	return &policy{
		maxAttempts: maxAttempts,
		timeout:     timeout,
		limiter:     rate.NewLimiter(fixed, burst),
		fixed:       fixed,
		cur:         fixed,
		start:       time.Now(),
		budget:      budgetTokens,
		rng:         rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x9e3779b97f4a7c15)),
	}
}

// wait blocks until the run may send one more request: after any run-wide
// pause, within the current rate.
func (p *policy) wait(ctx context.Context) error {
	for {
		p.mu.Lock()
		until := p.pauseUntil
		p.requests++
		p.mu.Unlock()
		if d := time.Until(until); d > 0 {
			if err := sleep(ctx, d); err != nil {
				return err
			}
			p.mu.Lock()
			p.requests--
			p.mu.Unlock()
			continue
		}
		return p.limiter.Wait(ctx)
	}
}

// success records a successful request: the adaptive rate creeps back up and
// the retry budget refills.
func (p *policy) success() {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.budget = math.Min(budgetTokens, p.budget+1)
	p.window = append(p.window, now)
	if len(p.window) > 4096 {
		p.window = p.window[len(p.window)-2048:]
	}
	if p.cur < p.fixed {
		p.cur *= 1.002
		if p.cur >= p.fixed || p.cur > 1e5 {
			p.cur = p.fixed
		}
		p.limiter.SetLimit(p.cur)
		if p.cur != rate.Inf && p.limiter.Burst() < 1 {
			p.limiter.SetBurst(1)
		}
	}
}

// throttle records a 429 or 503: the run pauses for retryAfter (capped), and
// the adaptive rate drops to 90% of what the platform accepted recently, at
// most once a second so that one wave of rejections counts once.
func (p *policy) throttle(retryAfter time.Duration) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.throttled++
	if retryAfter > maxRetryAfter {
		retryAfter = maxRetryAfter
	}
	if until := now.Add(retryAfter); until.After(p.pauseUntil) {
		p.pauseUntil = until
	}
	if now.Sub(p.lastDecrease) < time.Second {
		return
	}
	p.lastDecrease = now
	measured := p.measured(now)
	next := rate.Limit(measured * 0.9)
	if p.cur != rate.Inf && next > p.cur*0.9 {
		next = p.cur * 0.9
	}
	if next < 0.5 {
		next = 0.5
	}
	if next > p.fixed {
		next = p.fixed
	}
	p.cur = next
	p.limiter.SetLimit(next)
	if p.limiter.Burst() < 1 {
		p.limiter.SetBurst(1)
	}
}

// measured is the success rate over the last ten seconds, over at least one second.
func (p *policy) measured(now time.Time) float64 {
	const span = 10 * time.Second
	cut := now.Add(-span)
	i := 0
	for i < len(p.window) && p.window[i].Before(cut) {
		i++
	}
	p.window = p.window[i:]
	elapsed := now.Sub(p.start)
	if elapsed > span {
		elapsed = span
	}
	if elapsed < time.Second {
		elapsed = time.Second
	}
	return float64(len(p.window)) / elapsed.Seconds()
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
