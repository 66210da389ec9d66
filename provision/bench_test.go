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
// set are left out). first-2k-ratio and last-2k-ratio are the same ratio over
// the first and the last 2,000 creates to complete: a gap between them means a
// cost that grows with the instances already created (the emulator's, before
// it indexed its instances by name).
func BenchmarkApply10kLatency50ms(b *testing.B) {
	const (
		n           = 10_000
		parallelism = 64
		latency     = 50 * time.Millisecond
		part        = 2_000
	)
	ideal := parallelism / latency.Seconds()
	accts := accounts(n)
	var applyTime time.Duration
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
		ok := rec.succeeded()
		first += part / ok[part-1].Sub(start).Seconds() / ideal
		last += part / end.Sub(ok[n-part-1]).Seconds() / ideal
		peak = max(peak, s.PeakInFlight)
		e.srv.Close()
		b.StartTimer()
	}
	rate := float64(n*b.N) / applyTime.Seconds()
	b.ReportMetric(rate, "accounts/s")
	b.ReportMetric(rate/ideal, "ratio-to-ideal")
	b.ReportMetric(first/float64(b.N), "first-2k-ratio")
	b.ReportMetric(last/float64(b.N), "last-2k-ratio")
	b.ReportMetric(float64(peak), "peak-in-flight")
}

// BenchmarkApplyRateLimit100per10s applies 700 creates against an emulator
// with a token bucket of 100 requests per 10 s (full at start, refilled at
// 10/s) that answers 429 with Retry-After. Targets: at least 90% of the limit
// achieved, at most 5% of requests answered 429.
//
// Two achieved rates are reported, both as successful (2xx) requests per second
// divided by the limit of 10/s:
//   - whole-run-ratio: over the whole run, from the list request to the last
//     answer. The first 100 requests spend the bucket's initial content, so
//     this can exceed 1.
//   - steady-ratio: from the first 429 (the initial bucket spent, the bucket
//     empty) to the last answer, where at most the refill rate of 10/s can
//     succeed. This is the fairer measure of how close the run keeps to the limit.
//
// It runs at parallelism 8 and 16: the requests in flight when the initial
// bucket runs out all get a 429 before the first one can pause the run, so the
// parallelism sets a floor under the 429s. The emulator adds 50 ms of latency.
func BenchmarkApplyRateLimit100per10s(b *testing.B) {
	for _, p := range []int{8, 16} {
		b.Run(fmt.Sprintf("parallelism=%d", p), func(b *testing.B) { benchRateLimit(b, p) })
	}
}

func benchRateLimit(b *testing.B, parallelism int) {
	const (
		n       = 700
		limit   = 100
		per     = 10 * time.Second
		latency = 50 * time.Millisecond
	)
	limitRate := float64(limit) / per.Seconds()
	accts := accounts(n)
	var whole, steady, share, requests, r429, secs float64
	for b.Loop() {
		b.StopTimer()
		e := newBench(b, emulator.Options{Latency: latency, RateLimit: limit, RatePer: per}, "demo-user")
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
		s := createdOnce(b, e, out, n)
		ok := s.ByStatus[200] + s.ByStatus[201]
		whole += float64(ok) / end.Sub(start).Seconds() / limitRate
		t0, after := rec.afterFirst429()
		if !t0.IsZero() {
			steady += float64(after) / end.Sub(t0).Seconds() / limitRate
		}
		share += float64(s.ByStatus[429]) / float64(s.Requests)
		requests += float64(s.Requests)
		r429 += float64(s.ByStatus[429])
		secs += end.Sub(start).Seconds()
		e.srv.Close()
		b.StartTimer()
	}
	N := float64(b.N)
	b.ReportMetric(whole/N, "whole-run-ratio")
	b.ReportMetric(steady/N, "steady-ratio")
	b.ReportMetric(100*share/N, "pct-429")
	b.ReportMetric(requests/N, "requests")
	b.ReportMetric(r429/N, "429s")
	b.ReportMetric(secs/N, "run-s")
}

// recorder passes calls to a Platform and records when each successful call
// and each 429 answer arrived.
type recorder struct {
	provision.Platform
	mu       sync.Mutex
	ok       []time.Time
	first429 time.Time
}

func (r *recorder) note(err error) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	var ae *provision.APIError
	switch {
	case err == nil:
		r.ok = append(r.ok, now)
	case errors.As(err, &ae) && ae.Status == 429 && r.first429.IsZero():
		r.first429 = now
	}
}

// succeeded returns when each successful call returned, in order.
func (r *recorder) succeeded() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.ok...)
}

// afterFirst429 returns when the first 429 arrived and how many calls
// succeeded after it.
func (r *recorder) afterFirst429() (time.Time, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.first429.IsZero() {
		return time.Time{}, 0
	}
	n := 0
	for _, t := range r.ok {
		if t.After(r.first429) {
			n++
		}
	}
	return r.first429, n
}

func (r *recorder) ListPage(ctx context.Context, q provision.Query, token string) (provision.Page, error) {
	out, err := r.Platform.ListPage(ctx, q, token)
	r.note(err)
	return out, err
}

func (r *recorder) Create(ctx context.Context, d provision.Desired) (provision.Instance, error) {
	out, err := r.Platform.Create(ctx, d)
	r.note(err)
	return out, err
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
