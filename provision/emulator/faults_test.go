package emulator

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// noKeepAlive sends every request on a new connection, so the transport never
// retries one transparently and each reset reaches the caller.
func noKeepAlive() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
}

// within says whether count is within 5 standard deviations of n*p.
func within(count, n int, p float64) bool {
	mean := float64(n) * p
	sd := math.Sqrt(mean * (1 - p))
	return math.Abs(float64(count)-mean) <= 5*sd
}

// TestFaultRates checks each fault happens at its configured rate, and only on
// the operation configured.
func TestFaultRates(t *testing.T) {
	const n = 2000
	f := Faults{Rate429: 0.05, Rate500: 0.04, Rate503: 0.06, Reset: 0.05, LostResponse: 0.03}
	e, s := start(t, Options{Seed: 42, OpFaults: map[Op]Faults{OpGet: f}})
	id := e.AddInstance(Seed{Name: "a"})
	c := noKeepAlive()
	var clientErrs int
	for range n {
		if _, err := doReq(c, "GET", s.CloudElementsURL()+"/instances/"+id, ceHeader(), ""); err != nil {
			clientErrs++
		}
	}
	// Other operations get no faults: OpFaults overrides the (empty) Faults.
	for range 50 {
		if r := call(t, c, "GET", s.CloudElementsURL()+"/instances", ceHeader(), ""); r.status != 200 {
			t.Fatalf("list got %d", r.status)
		}
	}
	st := e.Stats()
	t.Logf("%+v", st)
	for _, c := range []struct {
		name  string
		count int
		p     float64
	}{
		{"429", st.ByStatus[429], f.Rate429},
		{"500", st.ByStatus[500], f.Rate500},
		{"503", st.ByStatus[503], f.Rate503},
		{"reset", st.Resets, f.Reset},
		{"lost", st.Lost, f.LostResponse},
		{"ok", st.ByStatus[200] - 50, 1 - f.Rate429 - f.Rate500 - f.Rate503 - f.Reset - f.LostResponse},
	} {
		if !within(c.count, n, c.p) {
			t.Errorf("%s: %d of %d, want about %.0f", c.name, c.count, n, n*c.p)
		}
	}
	if clientErrs != st.Resets+st.Lost {
		t.Errorf("client saw %d errors, emulator %d resets + %d lost", clientErrs, st.Resets, st.Lost)
	}
	if st.Requests != n+50 || st.ByOp[OpGet] != n || st.ByOp[OpList] != 50 {
		t.Errorf("requests %d, by op %v", st.Requests, st.ByOp)
	}
}

// TestFaultsRepeatable checks a seed gives the same fault sequence.
func TestFaultsRepeatable(t *testing.T) {
	seq := func(seed int64) []int {
		e := New(Options{Seed: seed, Faults: Faults{Rate429: 0.2, Rate500: 0.2, Rate503: 0.2}})
		var out []int
		for range 200 {
			w := httptest.NewRecorder()
			r := httptest.NewRequest("GET", CloudElementsPrefix+"/instances", nil)
			r.Header = ceHeader()
			e.ServeHTTP(w, r)
			out = append(out, w.Code)
		}
		return out
	}
	a, b, c := seq(7), seq(7), seq(8)
	if !slices.Equal(a, b) {
		t.Error("same seed, different faults")
	}
	if slices.Equal(a, c) {
		t.Error("different seeds, same faults")
	}
}

// TestInjected429RetryAfter checks injected 429s carry Retry-After only when
// configured, rounded up to whole seconds.
func TestInjected429RetryAfter(t *testing.T) {
	for _, c := range []struct {
		after time.Duration
		want  string
	}{{0, ""}, {1500 * time.Millisecond, "2"}} {
		e := New(Options{Faults: Faults{Rate429: 1, RetryAfter: c.after}})
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", CloudElementsPrefix+"/instances", nil)
		r.Header = ceHeader()
		e.ServeHTTP(w, r)
		if w.Code != 429 || w.Header().Get("Retry-After") != c.want {
			t.Errorf("RetryAfter %v: %d, Retry-After %q; want 429, %q", c.after, w.Code, w.Header().Get("Retry-After"), c.want)
		}
	}
}

// TestResetBeforeHandling checks a reset reaches the client as ECONNRESET and
// nothing is created.
func TestResetBeforeHandling(t *testing.T) {
	e, s := start(t, Options{OpFaults: map[Op]Faults{OpCreate: {Reset: 1}}})
	_, err := doReq(noKeepAlive(), "POST", s.CloudElementsURL()+"/instances", ceHeader(), apiKeyBody("a", "s1"))
	if err == nil {
		t.Fatal("no error")
	}
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
		t.Errorf("error %v: want a connection reset", err)
	}
	if st := e.Stats(); st.Resets != 1 || st.Creates != 0 || st.Instances != 0 || len(st.ByStatus) != 0 {
		t.Errorf("stats %+v", st)
	}
}

func apiKeyBody(name, set string) string {
	return fmt.Sprintf(`{"element":{"key":"hubspotcrm"},"name":%q,"tags":["hubprov:set=%s"],
	  "configuration":{"authentication.type":"apiKey","hubspot.authorization.apikey":"k"}}`, name, set)
}

// TestLostResponseCommitsCreate checks the ambiguous failure: the client gets
// no response, yet the instance exists and a lookup finds it.
func TestLostResponseCommitsCreate(t *testing.T) {
	e, s := start(t, Options{OpFaults: map[Op]Faults{OpCreate: {LostResponse: 1}}})
	if _, err := doReq(noKeepAlive(), "POST", s.CloudElementsURL()+"/instances", ceHeader(), apiKeyBody("acme", "s1")); err == nil {
		t.Fatal("CE create: no error")
	}
	if _, err := doReq(noKeepAlive(), "POST", s.FlowServiceURL()+"/connections", flowHeader(), flowBody("acme")); err == nil {
		t.Fatal("Flow create: no error")
	}
	st := e.Stats()
	if st.Lost != 2 || st.Creates != 2 || st.CEInstances != 1 || st.FlowConnections != 1 || len(st.ByStatus) != 0 {
		t.Errorf("stats %+v", st)
	}
	r := call(t, testClient, "GET", s.CloudElementsURL()+"/instances?tags[]=hubprov:set=s1&searchText=acme", ceHeader(), "")
	if r.status != 200 || len(r.arr(t)) != 1 {
		t.Errorf("lookup after lost response: %d %s", r.status, r.body)
	}
	r = call(t, testClient, "GET", s.FlowServiceURL()+"/connections?property=name==acme", flowHeader(), "")
	if len(r.obj(t)["items"].([]any)) != 1 {
		t.Errorf("Flow lookup after lost response: %s", r.body)
	}
}

// TestRateLimit checks the token bucket: a burst of its capacity passes, the
// rest get 429 with Retry-After, and tokens come back with time.
func TestRateLimit(t *testing.T) {
	e, s := start(t, Options{RateLimit: 5, RatePer: 10 * time.Second})
	var ok, limited int
	for range 20 {
		r := call(t, testClient, "GET", s.CloudElementsURL()+"/instances", ceHeader(), "")
		switch r.status {
		case 200:
			ok++
		case 429:
			limited++
			if ra := r.header.Get("Retry-After"); ra != "2" {
				t.Errorf("Retry-After %q, want 2 (one token per 2 s)", ra)
			}
			checkCEError(t, r)
		}
	}
	if ok != 5 || limited != 15 {
		t.Errorf("%d ok, %d limited; want 5 and 15", ok, limited)
	}
	if st := e.Stats(); st.RateLimited != 15 || st.ByStatus[429] != 15 {
		t.Errorf("stats %+v", st)
	}
	// Flow Service answers in its gateway's style.
	r := call(t, testClient, "GET", s.FlowServiceURL()+"/connections", flowHeader(), "")
	if r.status != 429 || r.obj(t)["error_code"] != "429050" || r.header.Get("Retry-After") == "" {
		t.Errorf("Flow 429: %d %s", r.status, r.body)
	}
	// The bucket refills at its rate.
	b := newTokenBucket(100, 10*time.Second, 100)
	t0 := time.Unix(0, 0)
	for range 100 {
		if ok, _, _ := b.take(t0); !ok {
			t.Fatal("burst refused")
		}
	}
	if ok, wait, _ := b.take(t0); ok || wait != 100*time.Millisecond {
		t.Errorf("empty bucket: %v, wait %v", ok, wait)
	}
	if ok, _, _ := b.take(t0.Add(100 * time.Millisecond)); !ok {
		t.Error("no token after 100 ms")
	}
	n := 0
	for b.take(t0.Add(time.Hour)); ; n++ {
		if ok, _, _ := b.take(t0.Add(time.Hour)); !ok {
			break
		}
	}
	if n != 99 {
		t.Errorf("bucket over capacity: %d", n+1)
	}
}

// TestLatency checks the added delay is at least Latency and below
// Latency+Jitter, by the emulator's own draw.
func TestLatency(t *testing.T) {
	e := New(Options{Latency: 20 * time.Millisecond, Jitter: 10 * time.Millisecond, Seed: 1})
	for range 100 {
		if d := e.delay(); d < 20*time.Millisecond || d >= 30*time.Millisecond {
			t.Fatalf("delay %v", d)
		}
	}
	_, s := start(t, Options{Latency: 30 * time.Millisecond})
	t0 := time.Now()
	call(t, testClient, "GET", s.CloudElementsURL()+"/instances", ceHeader(), "")
	if d := time.Since(t0); d < 30*time.Millisecond {
		t.Errorf("request took %v, latency 30ms", d)
	}
}

// TestConcurrentCreates sends 200 creates at once and checks the counters are exact.
func TestConcurrentCreates(t *testing.T) {
	e, s := start(t, Options{Latency: 20 * time.Millisecond})
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var r resp
			var err error
			if i%2 == 0 {
				r, err = doReq(c, "POST", s.CloudElementsURL()+"/instances", ceHeader(), apiKeyBody(fmt.Sprintf("acct-%d", i%150), "s1"))
			} else {
				r, err = doReq(c, "POST", s.FlowServiceURL()+"/connections", flowHeader(), flowBody(fmt.Sprintf("conn-%d", i%150)))
			}
			if err == nil && r.status != 200 && r.status != 201 {
				err = fmt.Errorf("status %d", r.status)
			}
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Names i%150 for i in 0..199: 150..199 repeat 0..49, 25 of them CE (even i), 25 Flow.
	st := e.Stats()
	if st.Requests != 200 || st.Creates != 200 || st.Duplicates != 50 || st.Instances != 200 ||
		st.CEInstances != 100 || st.FlowConnections != 100 || st.ByStatus[200] != 100 || st.ByStatus[201] != 100 || st.InFlight != 0 {
		t.Errorf("stats %+v", st)
	}
	if st.PeakInFlight < 2 || st.PeakInFlight > 200 {
		t.Errorf("peak in flight %d", st.PeakInFlight)
	}
	// CE ids are distinct.
	ids := map[string]bool{}
	for _, id := range e.Instances() {
		ids[id] = true
	}
	if len(ids) != 200 {
		t.Errorf("%d distinct ids", len(ids))
	}
}

// TestStatsEndpoint checks GET /_emulator/stats serves the counters and is not counted.
func TestStatsEndpoint(t *testing.T) {
	_, s := start(t, Options{})
	call(t, testClient, "POST", s.CloudElementsURL()+"/instances", ceHeader(), apiKeyBody("a", "s"))
	call(t, testClient, "GET", s.CloudElementsURL()+"/instances/1", ceHeader(), "")
	r := call(t, testClient, "GET", s.StatsURL(), nil, "")
	m := r.obj(t)
	if r.status != 200 || m["requests"] != 2.0 || m["creates"] != 1.0 || m["instances"] != 1.0 ||
		m["byStatus"].(map[string]any)["404"] != 1.0 || m["byOp"].(map[string]any)["create"] != 1.0 {
		t.Errorf("stats %s", r.body)
	}
}

// TestFixedWindowPhase: a fixed window admits its quota in each window and
// then refuses until the window ends, with the time to its end; WindowPhase
// makes the emulator begin in the middle of a window.
func TestFixedWindowPhase(t *testing.T) {
	e := New(Options{RateLimit: 3, RatePer: 2 * time.Second, Window: true, WindowPhase: 3500 * time.Millisecond})
	w, ok := e.limit.(*fixedWindow)
	if !ok {
		t.Fatalf("limit is %T, want a fixed window", e.limit)
	}
	if into := time.Since(w.start); into < 1500*time.Millisecond || into > 1600*time.Millisecond {
		t.Fatalf("the emulator starts %v into its first window; want 1.5 s (3.5 s modulo 2 s)", into)
	}
	now := w.start.Add(1500 * time.Millisecond)
	for i := range 3 {
		if ok, _, _ := w.take(now); !ok {
			t.Fatalf("request %d of the window's 3 refused", i+1)
		}
	}
	ok, wait, _ := w.take(now)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("4th request: admitted %v, wait %v; want refused until the window's end, 500ms", ok, wait)
	}
	if ok, _, _ := w.take(now.Add(wait)); !ok {
		t.Fatalf("first request of the next window refused")
	}
}

// TestRollingWindow: a rolling window admits its quota in any stretch of its
// length, not per window from a start: a request is refused until the oldest
// of the last quota admitted is a window old, with that as the wait, and a
// burst at the start frees its slots a window later at the pace it came.
func TestRollingWindow(t *testing.T) {
	e := New(Options{RateLimit: 3, RatePer: 2 * time.Second, Rolling: true})
	w, ok := e.limit.(*rollingWindow)
	if !ok {
		t.Fatalf("limit is %T, want a rolling window", e.limit)
	}
	t0 := time.Now()
	for i, at := range []time.Duration{0, 100 * time.Millisecond, 1500 * time.Millisecond} {
		if ok, _, _ := w.take(t0.Add(at)); !ok {
			t.Fatalf("request %d of the first 3 refused", i+1)
		}
	}
	// A fixed window would reopen at 2 s; this one frees one slot when the
	// first request is 2 s old, and the next 100 ms later.
	if ok, wait, _ := w.take(t0.Add(1900 * time.Millisecond)); ok || wait != 100*time.Millisecond {
		t.Fatalf("4th request at 1.9 s: admitted %v, wait %v; want refused for 100ms", ok, wait)
	}
	if ok, _, rem := w.take(t0.Add(2 * time.Second)); !ok || rem != 0 {
		t.Fatalf("at 2 s: admitted %v, remaining %d; want admitted, 0 left", ok, rem)
	}
	if ok, wait, _ := w.take(t0.Add(2050 * time.Millisecond)); ok || wait != 50*time.Millisecond {
		t.Fatalf("at 2.05 s: admitted %v, wait %v; want refused for 50ms", ok, wait)
	}
	if ok, _, _ := w.take(t0.Add(2100 * time.Millisecond)); !ok {
		t.Fatalf("at 2.1 s, when the second request is 2 s old: refused")
	}
	if ok, wait, _ := w.take(t0.Add(2200 * time.Millisecond)); ok || wait != 1300*time.Millisecond {
		t.Fatalf("at 2.2 s: admitted %v, wait %v; want refused until the third request is 2 s old, 1.3s", ok, wait)
	}
}

// TestRetryAfterDate: with RetryAfterDate the limit's 429s say when as an
// HTTP date, the moment the window reopens truncated to its second, and no
// later.
func TestRetryAfterDate(t *testing.T) {
	_, s := start(t, Options{RateLimit: 1, RatePer: 3 * time.Second, Window: true, RetryAfterDate: true})
	url := s.CloudElementsURL() + "/instances"
	begun := time.Now()
	if r := call(t, testClient, "GET", url, ceHeader(), ""); r.status != 200 {
		t.Fatalf("first request: %d", r.status)
	}
	r := call(t, testClient, "GET", url, ceHeader(), "")
	when, err := http.ParseTime(r.header.Get("Retry-After"))
	if r.status != 429 || err != nil {
		t.Fatalf("second request: %d, Retry-After %q (%v); want 429 and a date", r.status, r.header.Get("Retry-After"), err)
	}
	if reopen := begun.Add(3 * time.Second); when.After(reopen) || when.Before(reopen.Add(-time.Second).Truncate(time.Second)) {
		t.Errorf("Retry-After %v; want the window's end, %v, truncated to its second", when, reopen)
	}
}
