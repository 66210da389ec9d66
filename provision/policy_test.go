package provision

import (
	"context"
	"testing"
	"time"
)

func TestFixedRateSpacesRequests(t *testing.T) {
	p := newPolicy(20, 1, 0) // one request every 50 ms
	start := time.Now()
	for range 5 {
		if err := p.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("5 requests at 20/s took %v, want at least 200ms", d)
	}
}

func TestPauseHoldsRequests(t *testing.T) {
	defer FastRetries()()
	p := newPolicy(0, 1, 0)
	p.throttle(15 * time.Millisecond) // Retry-After, capped at 20 ms by FastRetries
	p.mu.Lock()
	until := p.pauseUntil
	p.mu.Unlock()
	if err := p.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if now := time.Now(); now.Before(until) {
		t.Fatalf("a request went %v before the pause ended", until.Sub(now))
	}
	if _, throttled, _ := p.stats(); throttled != 1 {
		t.Fatalf("throttled %d, want 1", throttled)
	}
}

func TestCapTracksUnthrottledAnswers(t *testing.T) {
	p := newPolicy(0, 1, 0)
	p.start = time.Now().Add(-5 * time.Second) // past the warm-up
	for range 100 {
		p.answer(true)
	}
	p.throttle(0)
	p.mu.Lock()
	limit, answered := p.limit, p.answeredRate(time.Now())
	p.mu.Unlock()
	if limit < answered || limit > 1.2*answered {
		t.Fatalf("cap %.1f/s, want about %.1f times the answered %.1f/s", limit, headroom, answered)
	}
	// Throttles that do not depend on the rate: the cap stays above what the
	// run achieves, so it does not ratchet down.
	for range 20 {
		for range 19 {
			p.answer(true)
		}
		p.throttle(0)
	}
	p.mu.Lock()
	limit, answered = p.limit, p.answeredRate(time.Now())
	p.mu.Unlock()
	if limit < answered {
		t.Fatalf("under 5%% random throttles the cap %.1f/s fell below the answered rate %.1f/s", limit, answered)
	}
}
