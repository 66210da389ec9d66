// Package emulator is an in-memory emulator of the three platform APIs hubprov
// provisions on: Cloud Elements and SAP Open Connectors (one API, served under
// /elements/api-v2) and Adobe Experience Platform Flow Service (served under
// /data/foundation/flowservice). It follows the seed documents and
// api-contract.md, and it injects faults (latency, a server-side rate limit,
// random 429/500/503, connection resets, lost responses after a committed
// change) so the engine's retry, rate and ambiguity handling can be tested and
// benchmarked. An [*Emulator] is a plain http.Handler; [Start] serves one on a
// TCP address.
package emulator

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Path prefixes of the emulated APIs.
const (
	CloudElementsPrefix = "/elements/api-v2"
	FlowServicePrefix   = "/data/foundation/flowservice"
	StatsPath           = "/_emulator/stats"
)

// Op names one kind of operation, the unit of per-operation fault injection.
type Op string

// The operations. Each request to an emulated API is exactly one of them; a
// request to an unknown path has no operation and gets no faults.
const (
	OpCreate   Op = "create"    // POST /instances, POST /elements/{key}/instances, POST /connections
	OpList     Op = "list"      // GET /instances, GET /elements/{key}/instances, GET /connections
	OpGet      Op = "get"       // GET /instances/{id}, GET /connections/{id}
	OpUpdate   Op = "update"    // PATCH and PUT /instances/{id}, PATCH /connections/{id}
	OpDelete   Op = "delete"    // DELETE /instances/{id}, DELETE /connections/{id}
	OpOAuthURL Op = "oauth-url" // GET /elements/{key}/oauth/url
)

// Ops lists every operation.
var Ops = []Op{OpCreate, OpList, OpGet, OpUpdate, OpDelete, OpOAuthURL}

// Faults are the probabilities (0..1) of each injected failure for one request.
// At most one fault happens per request: one uniform draw is compared with the
// probabilities in the order Reset, Rate429, Rate500, Rate503, LostResponse, so
// each happens at its own rate as long as they sum to at most 1.
type Faults struct {
	Rate429 float64 // answer 429 without handling
	// RetryAfter, when positive, is sent as Retry-After (whole seconds,
	// rounded up, or a date with Options.RetryAfterDate) with the injected
	// 429s; otherwise they carry none.
	RetryAfter time.Duration
	Rate500    float64 // answer 500 without handling
	Rate503    float64 // answer 503 without handling
	// Reset closes the connection with a TCP RST before the request is handled.
	Reset float64
	// LostResponse performs the request (a create commits), then closes the
	// connection with a TCP RST instead of answering: the ambiguous failure.
	LostResponse float64
}

// Options configure an Emulator. The zero value is a fault-free emulator
// accepting the demo credentials.
type Options struct {
	// User and Organization are the Cloud Elements / Open Connectors platform
	// secrets accepted in "Authorization: User <u>, Organization <o>".
	// Defaults "demo-user" and "demo-org".
	User, Organization string
	// FlowToken, FlowAPIKey and FlowIMSOrg are the Flow Service credentials
	// accepted (Bearer token, x-api-key, x-gw-ims-org-id). Defaults
	// "demo-token", "demo-key", "demo@AdobeOrg". Any x-sandbox-name is accepted.
	FlowToken, FlowAPIKey, FlowIMSOrg string
	// Seed seeds the fault and jitter randomness, so a run is repeatable.
	Seed int64
	// Latency is added to every request; Jitter adds a uniform random extra
	// delay in [0, Jitter).
	Latency, Jitter time.Duration
	// RateLimit requests per RatePer is a server-side rate limit; a request
	// over it gets 429 with Retry-After (whole seconds, rounded up, at least
	// 1). 0 disables it. By default it is a token bucket refilled at
	// RateLimit per RatePer, holding Burst tokens (RateLimit when Burst is 0),
	// full at start; Retry-After is the time until the next token.
	RateLimit int
	RatePer   time.Duration
	Burst     int
	// Window makes the limit a fixed window instead (HubSpot's burst limit):
	// RateLimit requests in each RatePer from the emulator's start, then 429
	// until the window ends, with Retry-After the time to its end.
	Window bool
	// WindowPhase places the first window's start that long before the
	// emulator's (modulo RatePer): a client then begins in the middle of a
	// window, as against a platform whose windows follow its own clock.
	WindowPhase time.Duration
	// Rolling makes the limit a rolling window instead (HubSpot names its
	// burst limit TEN_SECONDLY_ROLLING): at most RateLimit requests admitted
	// in any RatePer, then 429 with Retry-After the time until the oldest of
	// them is RatePer old.
	Rolling bool
	// NoRetryAfter leaves Retry-After out of the rate limit's 429s, as Cloud
	// Elements documents none: a client must find the wait itself.
	NoRetryAfter bool
	// RetryAfterDate sends every Retry-After as an HTTP date, the moment
	// meant truncated to its second (as Go's http.TimeFormat writes it),
	// instead of delta-seconds rounded up.
	RetryAfterDate bool
	// Announce sends the limit with every response, as HubSpot does
	// (X-HubSpot-RateLimit-Max, -Interval-Milliseconds, -Remaining) and as
	// the IETF draft does (RateLimit-Policy and RateLimit).
	Announce bool
	// MaxInFlight, when positive, is an overloaded upstream: a request that
	// arrives while that many are being served is answered 503 at once, with
	// no Retry-After.
	MaxInFlight int
	// Faults apply to every operation that has no entry in OpFaults.
	Faults Faults
	// OpFaults override Faults for one operation.
	OpFaults map[Op]Faults
	// ListLag makes lists lag behind writes, as search-backed list endpoints
	// do: a list (any GET /instances or /connections query, lookups by name
	// included) shows an instance only ListLag after its create, and goes on
	// showing a deleted one for ListLag. Reads by id are current. 0: lists
	// are current.
	ListLag time.Duration
	// Now is the emulator's clock for ListLag and creation times; nil means
	// time.Now. Tests advance a fake clock instead of sleeping.
	Now func() time.Time
	// TagObjects answers instance tags as objects {"id": n, "name": tag}, as
	// the platform's own create example shows them, instead of strings.
	TagObjects bool
	// OffsetPages makes Cloud Elements page tokens offsets into the listing
	// as it stands when each page is read, as offset-paged list endpoints do:
	// an instance deleted behind a listing in progress shifts the rest, and
	// the listing skips one it should have shown. Default: a cursor after the
	// last id of the page, which skips nothing.
	OffsetPages bool
}

// Stats are the emulator's counters. Requests to StatsPath and under
// HubSpotPrefix are not counted as requests.
//
// A reset or lost response is counted in Resets or Lost, not in ByStatus, since
// no status reached the client. Note that Go's http.Client transparently
// retries a request on a reused connection that was closed before any response
// byte when the request is idempotent (GET, HEAD, OPTIONS, TRACE, or with an
// Idempotency-Key header): the emulator then counts two requests and a reset
// for what the client sees as one successful call.
type Stats struct {
	Requests   int         `json:"requests"`   // every request to an emulated API, faults included
	ByStatus   map[int]int `json:"byStatus"`   // responses sent, by status
	ByOp       map[Op]int  `json:"byOp"`       // requests, by operation
	Creates    int         `json:"creates"`    // committed creates (lost responses included)
	Duplicates int         `json:"duplicates"` // creates of a name already live in the same set (Flow: same name)
	Updates    int         `json:"updates"`    // committed PATCH/PUT
	Deletes    int         `json:"deletes"`    // committed DELETE
	// ReusedCodes counts creates, PATCHes and PUTs refused because their
	// providerData.code was already exchanged (HubSpot's BAD_AUTH_CODE).
	ReusedCodes int `json:"reusedCodes"`
	// CredentialUpdates counts the PATCH and PUT requests that carried
	// credentials, accepted or not: providerData, a configuration key the
	// platform masks, or a Flow Service /auth/params secret.
	CredentialUpdates int `json:"credentialUpdates"`
	Resets            int `json:"resets"`       // connections reset before handling
	Lost              int `json:"lost"`         // requests performed whose response was dropped
	RateLimited       int `json:"rateLimited"`  // 429s from the rate limit (also in ByStatus)
	Overloaded        int `json:"overloaded"`   // 503s from MaxInFlight (also in ByStatus)
	InFlight          int `json:"inFlight"`     // requests being served now
	PeakInFlight      int `json:"peakInFlight"` // most requests served at once
	// ConsentCodes counts the codes the emulated HubSpot consent page issued
	// (approvals); ConsentDenials the consents it refused (HubSpotPrefix).
	ConsentCodes   int `json:"consentCodes"`
	ConsentDenials int `json:"consentDenials"`
	// Instances is the number of live Cloud Elements / Open Connectors
	// instances plus live Flow Service connections; the two are also given apart.
	Instances       int `json:"instances"`
	CEInstances     int `json:"ceInstances"`
	FlowConnections int `json:"flowConnections"`
}

// Emulator is the emulated platforms' state and fault injector. It implements
// http.Handler and is safe for concurrent use.
type Emulator struct {
	opts Options
	mux  *http.ServeMux
	ops  map[string]Op // mux pattern -> operation
	reqN atomic.Uint64 // request ids

	rngMu  sync.Mutex
	faults *rand.Rand
	jitter *rand.Rand

	limit limiter

	mu      sync.Mutex // guards everything below
	stats   Stats
	serving int // requests being served, not shed by MaxInFlight
	ce      map[int64]*ceInstance
	ceSeq   int64
	// ceNames indexes the live instances by name, so a create's duplicate
	// check does not scan them all.
	ceNames map[string][]*ceInstance
	// ceOrder lists the live instances by id, for paging.
	ceOrder []*ceInstance
	flow    map[string]*flowConn
	fSeq    int64
	// gone holds, under ListLag, the instances and connections deleted less
	// than ListLag ago, which lists still show.
	ceGone   []*ceInstance
	flowGone []*flowConn
	// codes maps every authorization code exchanged to the instance it
	// authorized: a code is single-use.
	codes map[string]int64
}

// New returns an emulator configured by opts.
func New(opts Options) *Emulator {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&opts.User, "demo-user")
	def(&opts.Organization, "demo-org")
	def(&opts.FlowToken, "demo-token")
	def(&opts.FlowAPIKey, "demo-key")
	def(&opts.FlowIMSOrg, "demo@AdobeOrg")
	seed := uint64(opts.Seed)
	e := &Emulator{
		opts:    opts,
		faults:  rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)),
		jitter:  rand.New(rand.NewPCG(seed, 0x6a09e667f3bcc909)),
		ce:      map[int64]*ceInstance{},
		ceSeq:   58771,
		ceNames: map[string][]*ceInstance{},
		flow:    map[string]*flowConn{},
		codes:   map[string]int64{},
		ops:     map[string]Op{},
		stats:   Stats{ByStatus: map[int]int{}, ByOp: map[Op]int{}},
	}
	if opts.RateLimit > 0 && opts.RatePer > 0 {
		switch {
		case opts.Rolling:
			e.limit = &rollingWindow{n: opts.RateLimit, per: opts.RatePer}
		case opts.Window:
			e.limit = &fixedWindow{n: opts.RateLimit, per: opts.RatePer, start: time.Now().Add(-(opts.WindowPhase % opts.RatePer))}
		default:
			burst := opts.Burst
			if burst <= 0 {
				burst = opts.RateLimit
			}
			e.limit = newTokenBucket(opts.RateLimit, opts.RatePer, burst)
		}
	}
	e.mux = http.NewServeMux()
	e.routesCloudElements()
	e.routesFlowService()
	e.routesHubSpot()
	e.mux.HandleFunc(StatsPath, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, e.Stats())
	})
	return e
}

// handle registers h for pattern, as operation op.
func (e *Emulator) handle(pattern string, op Op, h http.HandlerFunc) {
	e.ops[pattern] = op
	e.mux.HandleFunc(pattern, h)
}

// Stats returns a snapshot of the counters.
func (e *Emulator) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.stats
	s.ByStatus = make(map[int]int, len(e.stats.ByStatus))
	for k, v := range e.stats.ByStatus {
		s.ByStatus[k] = v
	}
	s.ByOp = make(map[Op]int, len(e.stats.ByOp))
	for k, v := range e.stats.ByOp {
		s.ByOp[k] = v
	}
	s.CEInstances = len(e.ce)
	s.FlowConnections = len(e.flow)
	s.Instances = s.CEInstances + s.FlowConnections
	return s
}

// ServeHTTP serves one request: counting, latency, the rate limit, faults,
// then the emulated API.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == StatsPath || strings.HasPrefix(r.URL.Path, HubSpotPrefix+"/") {
		e.mux.ServeHTTP(w, r)
		return
	}
	_, pattern := e.mux.Handler(r)
	op := e.ops[pattern]

	e.mu.Lock()
	e.stats.Requests++
	if op != "" {
		e.stats.ByOp[op]++
	}
	shed := op != "" && e.opts.MaxInFlight > 0 && e.serving >= e.opts.MaxInFlight
	if !shed && op != "" {
		e.serving++
	}
	e.stats.InFlight++
	if e.stats.InFlight > e.stats.PeakInFlight {
		e.stats.PeakInFlight = e.stats.InFlight
	}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.stats.InFlight--
		if !shed && op != "" {
			e.serving--
		}
		e.mu.Unlock()
	}()
	flow := isFlow(r.URL.Path)
	if shed {
		sw := &statusWriter{ResponseWriter: w}
		e.writeFault(sw, r, flow, http.StatusServiceUnavailable)
		e.mu.Lock()
		e.stats.Overloaded++
		e.stats.ByStatus[sw.status]++
		e.mu.Unlock()
		return
	}

	// The rate limit sees the request as it arrives, as a gateway in front of
	// the service does; the latency is the service's.
	var limited bool
	var wait time.Duration
	var remaining int
	if e.limit != nil {
		var ok bool
		ok, wait, remaining = e.limit.take(time.Now())
		limited = !ok
	}

	if d := e.delay(); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return // the client is gone; nothing to count
		}
	}

	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if sw.status != 0 {
			e.mu.Lock()
			e.stats.ByStatus[sw.status]++
			e.mu.Unlock()
		}
	}()

	if e.limit != nil {
		if e.opts.Announce {
			e.announce(sw.Header(), remaining, wait)
		}
		if limited {
			e.mu.Lock()
			e.stats.RateLimited++
			e.mu.Unlock()
			if !e.opts.NoRetryAfter {
				e.retryAfter(sw.Header(), wait)
			}
			e.writeFault(sw, r, flow, http.StatusTooManyRequests)
			return
		}
	}

	if op == "" {
		e.mux.ServeHTTP(sw, r)
		return
	}
	switch e.draw(op) {
	case faultReset:
		e.mu.Lock()
		e.stats.Resets++
		e.mu.Unlock()
		abort(w)
		return
	case fault429:
		if ra := e.faultsFor(op).RetryAfter; ra > 0 {
			e.retryAfter(sw.Header(), ra)
		}
		e.writeFault(sw, r, flow, http.StatusTooManyRequests)
		return
	case fault500:
		e.writeFault(sw, r, flow, http.StatusInternalServerError)
		return
	case fault503:
		e.writeFault(sw, r, flow, http.StatusServiceUnavailable)
		return
	case faultLost:
		e.mux.ServeHTTP(&discardWriter{h: http.Header{}}, r)
		e.mu.Lock()
		e.stats.Lost++
		e.mu.Unlock()
		abort(w)
		return
	}
	e.mux.ServeHTTP(sw, r)
}

type fault int

const (
	faultNone fault = iota
	faultReset
	fault429
	fault500
	fault503
	faultLost
)

// draw picks the fault of one request to op.
func (e *Emulator) draw(op Op) fault {
	f := e.faultsFor(op)
	if f == (Faults{}) {
		return faultNone
	}
	e.rngMu.Lock()
	u := e.faults.Float64()
	e.rngMu.Unlock()
	for _, c := range []struct {
		p float64
		f fault
	}{{f.Reset, faultReset}, {f.Rate429, fault429}, {f.Rate500, fault500}, {f.Rate503, fault503}, {f.LostResponse, faultLost}} {
		if u < c.p {
			return c.f
		}
		u -= c.p
	}
	return faultNone
}

// faultsFor returns the faults configured for op.
func (e *Emulator) faultsFor(op Op) Faults {
	if f, ok := e.opts.OpFaults[op]; ok {
		return f
	}
	return e.opts.Faults
}

// delay is the latency of one request.
func (e *Emulator) delay() time.Duration {
	d := e.opts.Latency
	if e.opts.Jitter > 0 {
		e.rngMu.Lock()
		d += time.Duration(e.jitter.Int64N(int64(e.opts.Jitter)))
		e.rngMu.Unlock()
	}
	return d
}

// writeFault answers an injected or rate-limit failure in the platform's style.
func (e *Emulator) writeFault(w http.ResponseWriter, r *http.Request, flow bool, status int) {
	if flow {
		if status == http.StatusTooManyRequests {
			writeJSON(w, status, map[string]string{"error_code": "429050", "message": "Too many requests"})
			return
		}
		e.flowError(w, status, "FLOW-1000-"+fmt.Sprint(status), http.StatusText(status), "injected fault: "+http.StatusText(status))
		return
	}
	e.ceError(w, status, "injected fault: "+http.StatusText(status))
}

// abort closes the client's connection with a TCP RST, without a response. A
// writer that cannot be hijacked (HTTP/2, tests with a recorder) is aborted
// with http.ErrAbortHandler instead.
func abort(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// requestID returns a fresh 24-hex-digit request id, like the platforms'.
func (e *Emulator) requestID() string {
	return fmt.Sprintf("%08x%016x", uint32(e.opts.Seed), e.reqN.Add(1))
}

// statusWriter records the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Hijack lets abort reach the connection through the wrapper.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	return hj.Hijack()
}

// discardWriter swallows the response of a request whose response is lost.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// announce writes the limit headers of a response: HubSpot's and the IETF
// draft's. wait is how long until the quota grows again when it is spent.
func (e *Emulator) announce(h http.Header, remaining int, wait time.Duration) {
	n, per := e.opts.RateLimit, e.opts.RatePer
	h.Set("X-HubSpot-RateLimit-Max", fmt.Sprint(n))
	h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", fmt.Sprint(per.Milliseconds()))
	h.Set("X-HubSpot-RateLimit-Remaining", fmt.Sprint(remaining))
	h.Set("RateLimit-Policy", fmt.Sprintf(`"default";q=%d;w=%d`, n, int(math.Ceil(per.Seconds()))))
	h.Set("RateLimit", fmt.Sprintf(`"default";r=%d;t=%d`, remaining, int(math.Ceil(wait.Seconds()))))
}

// retryAfter sets the Retry-After of a 429 that means wait: delta-seconds,
// rounded up, at least 1; or, with RetryAfterDate, the moment as an HTTP date.
func (e *Emulator) retryAfter(h http.Header, wait time.Duration) {
	if e.opts.RetryAfterDate {
		h.Set("Retry-After", time.Now().Add(wait).UTC().Format(http.TimeFormat))
		return
	}
	h.Set("Retry-After", fmt.Sprint(max(int(math.Ceil(wait.Seconds())), 1)))
}

// limiter is a server-side rate limit.
type limiter interface {
	// take admits one request at now, or says how long until one would be
	// admitted; remaining is what is left of the quota afterwards.
	take(now time.Time) (ok bool, wait time.Duration, remaining int)
}

// tokenBucket is a rate limit refilled at rate tokens per second, holding at
// most cap.
type tokenBucket struct {
	mu     sync.Mutex
	cap    float64
	rate   float64 // tokens per second
	tokens float64
	last   time.Time
}

func newTokenBucket(n int, per time.Duration, burst int) *tokenBucket {
	return &tokenBucket{cap: float64(burst), rate: float64(n) / per.Seconds(), tokens: float64(burst)}
}

func (b *tokenBucket) take(now time.Time) (bool, time.Duration, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		b.tokens = math.Min(b.cap, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, time.Duration((1 - b.tokens) / b.rate * float64(time.Second)), int(b.tokens)
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second)), 0
}

// fixedWindow admits n requests in each window of per, counted from start.
type fixedWindow struct {
	mu    sync.Mutex
	n     int
	per   time.Duration
	start time.Time
	index int64 // the current window
	used  int
}

func (w *fixedWindow) take(now time.Time) (bool, time.Duration, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := int64(now.Sub(w.start) / w.per)
	if i != w.index {
		w.index, w.used = i, 0
	}
	end := w.start.Add(time.Duration(i+1) * w.per).Sub(now)
	if w.used >= w.n {
		return false, end, 0
	}
	w.used++
	return true, end, w.n - w.used
}

// rollingWindow admits at most n requests in any per: a log of the times of
// the last n it admitted.
type rollingWindow struct {
	mu   sync.Mutex
	n    int
	per  time.Duration
	log  []time.Time // ring of admission times, oldest at next
	next int
}

func (w *rollingWindow) take(now time.Time) (bool, time.Duration, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.log) < w.n {
		w.log = append(w.log, now)
		return true, w.per, w.n - len(w.log)
	}
	if free := w.log[w.next].Add(w.per); now.Before(free) {
		return false, free.Sub(now), 0
	}
	w.log[w.next] = now
	w.next = (w.next + 1) % w.n
	inWindow := 0
	for _, t := range w.log {
		if now.Sub(t) < w.per {
			inWindow++
		}
	}
	return true, w.log[w.next].Add(w.per).Sub(now), w.n - inWindow
}

// now reads the emulator's clock.
func (e *Emulator) now() time.Time {
	if e.opts.Now != nil {
		return e.opts.Now()
	}
	return time.Now()
}

// listed reports whether a list at now shows something created at created
// and deleted at deleted (zero: live), under ListLag.
func (e *Emulator) listed(now, created, deleted time.Time) bool {
	lag := e.opts.ListLag
	if lag <= 0 {
		return deleted.IsZero()
	}
	return !created.After(now.Add(-lag)) && (deleted.IsZero() || deleted.After(now.Add(-lag)))
}
