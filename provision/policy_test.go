package provision

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestFixedRateSpacesRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPolicy(20, 1, 0, 4, nil) // one request every 50 ms
		start := time.Now()
		for range 5 {
			tk, err := p.wait(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			p.done(tk, nil)
		}
		if d := time.Since(start); d != 200*time.Millisecond {
			t.Fatalf("5 requests at 20/s took %v, want 200ms", d)
		}
	})
}

func TestRequestsInFlightAreBoundedByParallelism(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPolicy(0, 1, 0, 3, nil)
		var mu sync.Mutex
		inFlight, peak := 0, 0
		var wg sync.WaitGroup
		for range 12 {
			wg.Go(func() {
				tk, err := p.wait(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				inFlight++
				peak = max(peak, inFlight)
				mu.Unlock()
				time.Sleep(50 * time.Millisecond)
				mu.Lock()
				inFlight--
				mu.Unlock()
				p.done(tk, nil)
			})
		}
		wg.Wait()
		if peak != 3 {
			t.Fatalf("peak in flight %d, want the parallelism 3", peak)
		}
	})
}

func TestThrottleRetriesSpendNoBudgetAndNoAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPolicy(0, 2, 0, 4, nil)
		throttled := &APIError{Status: 429, RetryAfter: 3 * time.Second}
		for n := 1; n <= 1000; n++ {
			d, err := p.retry(0, n, throttled)
			if err != nil || d != 3*time.Second {
				t.Fatalf("throttle %d: wait %v, error %v; want its Retry-After and a retry", n, d, err)
			}
		}
		if p.budget != budgetTokens {
			t.Fatalf("budget %v after 1000 throttle retries, want it untouched (%d)", p.budget, budgetTokens)
		}
		// A 503 that says when to come back is a throttle too; one that does not is a failure.
		if _, err := p.retry(0, 1, &APIError{Status: 503, RetryAfter: time.Second}); err != nil {
			t.Fatalf("503 with Retry-After: %v", err)
		}
		failed := &APIError{Status: 503}
		if _, err := p.retry(1, 0, failed); err != nil || p.budget != budgetTokens-retryCost {
			t.Fatalf("first failure: %v, budget %v", err, p.budget)
		}
		if _, err := p.retry(2, 0, failed); !errors.Is(err, failed) {
			t.Fatalf("failure number %d of %d attempts: %v, want no retry", 2, p.maxAttempts, err)
		}
		// A platform that admits nothing at all for stallAfter is no rate limit.
		time.Sleep(stallAfter + time.Second)
		if _, err := p.retry(0, 1001, throttled); err == nil {
			t.Fatalf("still retrying throttles after %v with nothing admitted", stallAfter)
		}
	})
}

func TestClusterPausesEveryRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		progress := &Progress{}
		p := newPolicy(0, 1, 0, 8, progress)
		ctx := context.Background()
		for range 2 { // the window is closed: every answer a 429, Retry-After 10 s
			tk, _ := p.wait(ctx)
			p.done(tk, &APIError{Status: 429, RetryAfter: 10 * time.Second})
		}
		st := progress.Rate()
		if st.PauseReason == "" {
			t.Fatalf("progress %+v, want the pause and its reason", st)
		}
		start := time.Now()
		tk, err := p.wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p.done(tk, nil)
		if d := time.Since(start); d < 9*time.Second {
			t.Fatalf("the next request went %v later, during the pause", d)
		}
	})
}
