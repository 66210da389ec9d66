package provision_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/emulator"
)

// The performance targets of PRODUCT.md section 8 are reported by these
// benchmarks as metrics; none of them is asserted, since timings depend on the
// machine. Run them with
//
//	go test -run '^$' -bench 'Apply10k|RateLimit|Plan100k' -benchtime 1x ./provision/

// BenchmarkApply10kLatency50ms applies 10,000 creates against an emulator that
// answers every request after 50 ms, with parallelism 64. The ideal rate is
// parallelism / latency = 1,280 accounts/s; the target is 90% of it.
//
// accounts/s and ratio-to-ideal time Apply alone (the read and plan of an empty
// set are left out), including its end-of-run listing of the set (50 pages,
// one after the other: 2.5 s of latency alone, reported as relist-s).
// creates-ratio is the ratio up to the last create's answer. first-2k-ratio
// and last-2k-ratio are the same over the first and the last 2,000 creates
// to complete: a gap between them means a cost that grows with the instances
// already created (the emulator's, before it indexed its instances by name).
func BenchmarkApply10kLatency50ms(b *testing.B) {
	const (
		n           = 10_000
		parallelism = 64
		latency     = 50 * time.Millisecond
		part        = 2_000
	)
	ideal := parallelism / latency.Seconds()
	accts := accounts(n)
	var applyTime, createTime, relist time.Duration
	var first, last float64
	var peak int
	for b.Loop() {
		b.StopTimer()
		e := newBench(b, emulator.Options{Latency: latency}, "demo-user")
		rec := &recorder{Platform: e.pf}
		opts := provision.Options{Parallelism: parallelism, Log: zerolog.Nop()}
		remote, _, err := provision.NewRun(e.pf, opts).ReadRemote(context.Background(), "acme", provision.Recovery{})
		if err != nil {
			b.Fatalf("read remote: %v", err)
		}
		plan := provision.MakePlan("acme", manifest.CloudElements, accts, remote, provision.PlanOptions{})
		b.StartTimer()

		start := time.Now()
		out := provision.NewRun(rec, opts).Apply(context.Background(), plan)
		end := time.Now()
		applyTime += end.Sub(start)

		b.StopTimer()
		s := createdOnce(b, e, out, n)
		ok := rec.creates()
		lastCreate := ok[n-1]
		createTime += lastCreate.Sub(start)
		relist += end.Sub(lastCreate)
		first += part / ok[part-1].Sub(start).Seconds() / ideal
		last += part / lastCreate.Sub(ok[n-part-1]).Seconds() / ideal
		peak = max(peak, s.PeakInFlight)
		e.srv.Close()
		b.StartTimer()
	}
	rate := float64(n*b.N) / applyTime.Seconds()
	b.ReportMetric(rate, "accounts/s")
	b.ReportMetric(rate/ideal, "ratio-to-ideal")
	b.ReportMetric(float64(n*b.N)/createTime.Seconds()/ideal, "creates-ratio")
	b.ReportMetric(relist.Seconds()/float64(b.N), "relist-s")
	b.ReportMetric(first/float64(b.N), "first-2k-ratio")
	b.ReportMetric(last/float64(b.N), "last-2k-ratio")
	b.ReportMetric(float64(peak), "peak-in-flight")
}

// BenchmarkRateLimit applies creates against an emulator that throttles in
// each style of PRODUCT.md section 7, at parallelism 16 and 64, with 50 ms of
// latency. Targets (section 8): at least 90% of the limit achieved, at most 5%
// of requests answered 429, no account failed. Run it with
//
//	go test -run '^$' -bench RateLimit -benchtime 1x ./provision/
//
// achieved-ratio is the rate of successful requests once the platform's
// initial allowance is spent (the token bucket's burst, the fixed window's
// first window), divided by the limit: successes from the reopening the first
// 429 announced (its time plus its Retry-After; without one, the first
// success after it) to the last answer, per second. A client that keeps exactly to the limit, evenly paced, scores 1.
// pct-429 (pct-503 for the overloaded upstream) is the share of all
// requests so answered; failed counts the accounts that failed.
//
// The styles: token buckets of 50/s with a burst of 1, 10 and 50; fixed
// windows of 100 per 10 s (HubSpot's) and 50 per 2 s, the latter also begun
// 1.3 s before the run (a platform's windows follow its own clock, so the
// first cycle a client sees is short); rolling windows of the same quotas
// (HubSpot names its burst limit TEN_SECONDLY_ROLLING: a quota in any
// stretch of the window's length, so a burst at the start frees its slots a
// window later as fast as it came); the 50 per 2 s window again with its
// Retry-After as an HTTP date (truncated to its second, as servers write
// it: the reopening is known only to within that second); the burst-1 bucket
// and both windows again with no Retry-After at all (-silent: Cloud Elements
// documents none); and an overloaded
// upstream that sheds with a 503 every request beyond 8 in service (a limit of
// 8 / 50 ms = 160/s). The account counts size each run to several of the
// style's periods; the 100/10s windows run for about 40 to 50 s.
func BenchmarkRateLimit(b *testing.B) {
	const latency = 50 * time.Millisecond
	for _, c := range []struct {
		name  string
		opts  emulator.Options
		n     int
		limit float64 // requests per second
	}{
		{"bucket=50per1s-burst1", emulator.Options{RateLimit: 50, RatePer: time.Second, Burst: 1}, 400, 50},
		{"bucket=50per1s-burst10", emulator.Options{RateLimit: 50, RatePer: time.Second, Burst: 10}, 400, 50},
		{"bucket=50per1s-burst50", emulator.Options{RateLimit: 50, RatePer: time.Second, Burst: 50}, 450, 50},
		{"window=100per10s", emulator.Options{RateLimit: 100, RatePer: 10 * time.Second, Window: true}, 500, 10},
		{"window=50per2s", emulator.Options{RateLimit: 50, RatePer: 2 * time.Second, Window: true}, 300, 25},
		{"window=50per2s-begun", emulator.Options{RateLimit: 50, RatePer: 2 * time.Second, Window: true, WindowPhase: 1300 * time.Millisecond}, 300, 25},
		{"rolling=100per10s", emulator.Options{RateLimit: 100, RatePer: 10 * time.Second, Rolling: true}, 500, 10},
		{"rolling=50per2s", emulator.Options{RateLimit: 50, RatePer: 2 * time.Second, Rolling: true}, 300, 25},
		{"window=50per2s-dates", emulator.Options{RateLimit: 50, RatePer: 2 * time.Second, Window: true, RetryAfterDate: true}, 300, 25},
		{"bucket=50per1s-burst1-silent", emulator.Options{RateLimit: 50, RatePer: time.Second, Burst: 1, NoRetryAfter: true}, 400, 50},
		{"window=100per10s-silent", emulator.Options{RateLimit: 100, RatePer: 10 * time.Second, Window: true, NoRetryAfter: true}, 500, 10},
		{"window=50per2s-silent", emulator.Options{RateLimit: 50, RatePer: 2 * time.Second, Window: true, NoRetryAfter: true}, 300, 25},
		{"overload=8inflight", emulator.Options{MaxInFlight: 8}, 1000, 8 / latency.Seconds()},
	} {
		for _, p := range []int{16, 64} {
			b.Run(fmt.Sprintf("%s/parallelism=%d", c.name, p), func(b *testing.B) {
				opts := c.opts
				opts.Latency = latency
				benchThrottled(b, opts, c.n, p, c.limit)
			})
		}
	}
}

func benchThrottled(b *testing.B, eopts emulator.Options, n, parallelism int, limit float64) {
	accts := accounts(n)
	status := 429
	if eopts.MaxInFlight > 0 {
		status = 503
	}
	var achieved, share, failed, secs float64
	for b.Loop() {
		b.StopTimer()
		e := newBench(b, eopts, "demo-user")
		rec := &recorder{Platform: e.pf}
		opts := provision.Options{Parallelism: parallelism, Log: zerolog.Nop()}
		b.StartTimer()

		start := time.Now()
		run := provision.NewRun(rec, opts)
		remote, _, err := run.ReadRemote(context.Background(), "acme", provision.Recovery{})
		if err != nil {
			b.Fatalf("read remote: %v", err)
		}
		plan := provision.MakePlan("acme", manifest.CloudElements, accts, remote, provision.PlanOptions{})
		out := run.Apply(context.Background(), plan)
		end := time.Now()

		b.StopTimer()
		s := e.emu.Stats()
		if s.Duplicates != 0 || out.Aborted != "" {
			b.Fatalf("%d duplicates, aborted %q", s.Duplicates, out.Aborted)
		}
		from, after := rec.afterReopening()
		if from.IsZero() || !from.Before(end) {
			b.Fatalf("no throttle, or none long before the end: %v", from)
		}
		achieved += float64(after) / end.Sub(from).Seconds() / limit
		share += float64(s.ByStatus[status]) / float64(s.Requests)
		failed += float64(count(out, provision.Create, provision.Failed))
		secs += end.Sub(start).Seconds()
		e.srv.Close()
		b.StartTimer()
	}
	N := float64(b.N)
	b.ReportMetric(achieved/N, "achieved-ratio")
	b.ReportMetric(100*share/N, fmt.Sprintf("pct-%d", status))
	b.ReportMetric(failed/N, "failed")
	b.ReportMetric(secs/N, "run-s")
}

// BenchmarkRateLimitRandom429 applies 10,000 creates at parallelism 64 against
// an emulator with 50 ms of latency and no limit, once as it is and once
// answering 5% of requests 429 with Retry-After: 1. Target: the throttled run
// reaches at least 80% of the throughput of the clean one (ratio). Both runs
// end with the accounts throttled last waiting out their Retry-After, a
// second or two in which little else happens, and the end-of-run listing of
// the set (50 pages one after the other; in the throttled run each page has
// its 5% chance of a 429 and its 1 s wait); ratio-creates compares the time
// to the last create's answer, ratio-90pct the time to finish 90% of the
// accounts, the throughput while the run is in full swing.
func BenchmarkRateLimitRandom429(b *testing.B) {
	const (
		n           = 10_000
		parallelism = 64
		latency     = 50 * time.Millisecond
	)
	accts := accounts(n)
	run := func(f emulator.Faults) (all, creates, ninety time.Duration) {
		e := newBench(b, emulator.Options{Latency: latency, Faults: f, Seed: time.Now().UnixNano()}, "demo-user")
		defer e.srv.Close()
		rec := &recorder{Platform: e.pf}
		opts := provision.Options{Parallelism: parallelism, Log: zerolog.Nop()}
		plan := provision.MakePlan("acme", manifest.CloudElements, accts, nil, provision.PlanOptions{})
		start := time.Now()
		out := provision.NewRun(rec, opts).Apply(context.Background(), plan)
		end := time.Now()
		createdOnce(b, e, out, n)
		ok := rec.creates()
		return end.Sub(start), ok[n-1].Sub(start), ok[n*9/10-1].Sub(start)
	}
	var clean, throttled, cleanC, throttledC, clean90, throttled90 time.Duration
	for b.Loop() {
		a, ac, a90 := run(emulator.Faults{})
		t, tc, t90 := run(emulator.Faults{Rate429: 0.05, RetryAfter: time.Second})
		clean, throttled = clean+a, throttled+t
		cleanC, throttledC = cleanC+ac, throttledC+tc
		clean90, throttled90 = clean90+a90, throttled90+t90
	}
	b.ReportMetric(float64(n*b.N)/clean.Seconds(), "clean-accounts/s")
	b.ReportMetric(float64(n*b.N)/throttled.Seconds(), "throttled-accounts/s")
	b.ReportMetric(clean.Seconds()/throttled.Seconds(), "ratio")
	b.ReportMetric(cleanC.Seconds()/throttledC.Seconds(), "ratio-creates")
	b.ReportMetric(clean90.Seconds()/throttled90.Seconds(), "ratio-90pct")
}

// recorder passes calls to a Platform and records when each successful call
// returned, and when the first throttle said to come back.
type recorder struct {
	provision.Platform
	mu      sync.Mutex
	ok      []time.Time
	created []time.Time // the successful creates among ok
	reopen  time.Time   // when the first throttle said to come back, or when it was, if it said not
	silent  bool        // the first throttle said not when to come back
}

func (r *recorder) note(err error) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	var ae *provision.APIError
	switch {
	case err == nil:
		r.ok = append(r.ok, now)
		if r.silent {
			r.reopen, r.silent = now, false // the first admitted after it
		}
	case errors.As(err, &ae) && (ae.Status == 429 || ae.Status == 503) && r.reopen.IsZero():
		r.reopen, r.silent = now.Add(ae.RetryAfter), ae.RetryAfter == 0
	}
}

// afterReopening returns when the first throttle said to come back (without
// a Retry-After, when the first call after it succeeded), and how many calls
// succeeded after that.
func (r *recorder) afterReopening() (time.Time, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, t := range r.ok {
		if t.After(r.reopen) {
			n++
		}
	}
	return r.reopen, n
}

func (r *recorder) ListPage(ctx context.Context, q provision.Query, token string) (provision.Page, error) {
	out, err := r.Platform.ListPage(ctx, q, token)
	r.note(err)
	return out, err
}

func (r *recorder) Create(ctx context.Context, d provision.Desired) (provision.Instance, error) {
	out, err := r.Platform.Create(ctx, d)
	r.note(err)
	if err == nil {
		r.mu.Lock()
		r.created = append(r.created, time.Now())
		r.mu.Unlock()
	}
	return out, err
}

// creates returns when each successful create returned, in order.
func (r *recorder) creates() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.created...)
}

// BenchmarkPlan100kInstances reads a set of 100,000 existing instances and
// plans 100,000 accounts against them (all unchanged). Target: at most one list
// request per 200 instances (500 requests).
//
// ns/op, B/op and allocs/op cover ReadRemote and MakePlan together and include
// the emulator serving the pages in the same process. read-s is the wall time
// of ReadRemote (mostly the emulator's: it filters and sorts every instance
// for each page); makeplan-s, makeplan-allocs and makeplan-MB are MakePlan's
// alone.
func BenchmarkPlan100kInstances(b *testing.B) {
	const n = 100_000
	accts := accounts(n)
	e := newBench(b, emulator.Options{}, "demo-user")
	for _, a := range accts {
		e.emu.AddInstance(emulator.Seed{
			Name:    a.Name,
			Element: a.Element,
			Tags:    append(append([]string{}, a.Tags...), "hubprov:set=acme", "hubprov:spec="+provision.Fingerprint("acme", a)),
		})
	}
	opts := provision.Options{Log: zerolog.Nop()}
	before := e.emu.Stats().ByOp[emulator.OpList]
	var readTime, planTime time.Duration
	var planAllocs, planBytes uint64
	var m0, m1 runtime.MemStats
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		remote, _, err := provision.NewRun(e.pf, opts).ReadRemote(context.Background(), "acme", provision.Recovery{})
		if err != nil {
			b.Fatalf("read remote: %v", err)
		}
		t1 := time.Now()
		runtime.ReadMemStats(&m0)
		t2 := time.Now()
		plan := provision.MakePlan("acme", manifest.CloudElements, accts, remote, provision.PlanOptions{})
		t3 := time.Now()
		runtime.ReadMemStats(&m1)
		readTime += t1.Sub(t0)
		planTime += t3.Sub(t2)
		planAllocs += m1.Mallocs - m0.Mallocs
		planBytes += m1.TotalAlloc - m0.TotalAlloc
		if len(remote) != n || plan.HasChanges() {
			b.Fatalf("read %d instances, plan %v; want %d, all unchanged", len(remote), plan.Counts(), n)
		}
	}
	N := float64(b.N)
	lists := float64(e.emu.Stats().ByOp[emulator.OpList]-before) / N
	b.ReportMetric(lists, "list-requests")
	b.ReportMetric(lists/(n/200), "lists-per-200")
	b.ReportMetric(readTime.Seconds()/N, "read-s")
	b.ReportMetric(planTime.Seconds()/N, "makeplan-s")
	b.ReportMetric(float64(planAllocs)/N, "makeplan-allocs")
	b.ReportMetric(float64(planBytes)/N/(1<<20), "makeplan-MB")
}

// createdOnce fails the benchmark unless the run created all n accounts, each
// once, and returns the emulator's counters.
func createdOnce(b *testing.B, e *bench, out provision.Outcome, n int) emulator.Stats {
	b.Helper()
	if got := count(out, provision.Create, provision.Succeeded); got != n || out.Aborted != "" {
		b.Fatalf("created %d of %d (aborted %q)", got, n, out.Aborted)
	}
	s := e.emu.Stats()
	if s.Creates != n || s.Duplicates != 0 {
		b.Fatalf("emulator: %d creates, %d duplicates; want %d, 0", s.Creates, s.Duplicates, n)
	}
	return s
}
