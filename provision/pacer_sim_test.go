package provision

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"time"
)

// A simulated run for the pacer, on a made-up clock: up to par requests in
// flight, each answered rtt after it is sent; the platform decides when the
// request arrives (half the round trip later, give or take jitter). There is
// always more work to send.

// server decides on a request arriving at now: admitted, or throttled with a
// Retry-After.
type server func(now time.Time) (ok bool, retryAfter time.Duration)

// tokenBucket is a platform's token bucket: rate per second, burst tokens,
// full at start. Retry-After is the wait for the next token, in whole
// seconds rounded up.
func tokenBucket(rate, burst float64) server {
	tokens, last := burst, time.Time{}
	return func(now time.Time) (bool, time.Duration) {
		if !last.IsZero() && now.After(last) {
			tokens = math.Min(burst, tokens+now.Sub(last).Seconds()*rate)
		}
		last = laterOf(last, now)
		if tokens >= 1 {
			tokens--
			return true, 0
		}
		return false, wholeSeconds(time.Duration((1 - tokens) / rate * float64(time.Second)))
	}
}

// fixedWindow admits n requests in each window of per from start, Retry-After
// the time to the window's end in whole seconds rounded up.
func fixedWindow(n int, per time.Duration, start time.Time) server {
	index, used := int64(-1), 0
	return func(now time.Time) (bool, time.Duration) {
		i := int64(now.Sub(start) / per)
		if i != index {
			index, used = i, 0
		}
		if used >= n {
			return false, wholeSeconds(start.Add(time.Duration(i+1) * per).Sub(now))
		}
		used++
		return true, 0
	}
}

// silent drops the Retry-After of srv's throttles.
func silent(srv server) server {
	return func(now time.Time) (bool, time.Duration) {
		ok, _ := srv(now)
		return ok, 0
	}
}

// randomThrottles throttles a share of requests, whatever the rate.
func randomThrottles(share float64, retryAfter time.Duration, rng *rand.Rand) server {
	return func(time.Time) (bool, time.Duration) {
		if rng.Float64() < share {
			return false, retryAfter
		}
		return true, 0
	}
}

func wholeSeconds(d time.Duration) time.Duration {
	return max(time.Duration(math.Ceil(d.Seconds()))*time.Second, time.Second)
}

type simConfig struct {
	par    int
	rtt    time.Duration
	jitter time.Duration // the arrival is up to this much later than half the round trip
	late   time.Duration // a request is sent up to this much later than its turn
	d      time.Duration // how long to run
	skip   time.Duration // the results count after this
	seed   uint64
	silent bool // the server's throttles are 429s without Retry-After
}

type simResult struct {
	admitted, throttled int     // after skip
	sent, throttledAll  int     // all of the run
	rate                float64 // admitted per second after skip
}

type flight struct {
	answer time.Time
	s      stamp
	ok     bool
	ra     time.Duration
}

type flights []flight

func (f flights) Len() int           { return len(f) }
func (f flights) Less(i, j int) bool { return f[i].answer.Before(f[j].answer) }
func (f flights) Swap(i, j int)      { f[i], f[j] = f[j], f[i] }
func (f *flights) Push(x any)        { *f = append(*f, x.(flight)) }
func (f *flights) Pop() any {
	old := *f
	x := old[len(old)-1]
	*f = old[:len(old)-1]
	return x
}

// simulate runs p against srv from start.
func simulate(p *pacer, srv server, start time.Time, c simConfig) simResult {
	rng := rand.New(rand.NewPCG(c.seed, 7))
	var in flights
	var res simResult
	now, end := start, start.Add(c.d)
	for now.Before(end) {
		next := time.Time{}
		if len(in) < c.par {
			next = p.turn(now)
		}
		if len(in) > 0 && (next.IsZero() || !in[0].answer.After(next)) {
			f := heap.Pop(&in).(flight)
			now = f.answer
			counts := now.After(start.Add(c.skip))
			if f.ok {
				p.admit(now, f.s)
				if counts {
					res.admitted++
				}
			} else {
				p.throttleWith(now, f.s, f.ra, c.silent)
				res.throttledAll++
				if counts {
					res.throttled++
				}
			}
			continue
		}
		if next.IsZero() {
			break
		}
		now = next
		if c.late > 0 {
			now = now.Add(time.Duration(rng.Int64N(int64(c.late)))) // timers fire late
		}
		if at := p.turn(now); at.After(now) {
			continue // the schedule moved
		}
		s := p.send(now)
		res.sent++
		arrive := now.Add(c.rtt / 2)
		if c.jitter > 0 {
			arrive = arrive.Add(time.Duration(rng.Int64N(int64(c.jitter))))
		}
		ok, ra := srv(arrive)
		heap.Push(&in, flight{answer: now.Add(c.rtt), s: s, ok: ok, ra: ra})
	}
	res.rate = float64(res.admitted) / (c.d - c.skip).Seconds()
	return res
}
