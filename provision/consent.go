package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/sync/errgroup"

	"github.com/hubprov/hubprov/manifest"
)

// ConsentOptions controls a ConsentServer beyond the engine's Options.
type ConsentOptions struct {
	// StateTTL is how long a consent URL's state stays valid; default 24 hours.
	// URLs are asked for again once half of it has passed.
	StateTTL time.Duration
	// Contact says whom a portal owner should contact when something goes
	// wrong, as shown on the callback's pages ("the migration team,
	// ops@example.com"). Default: "the person who sent you the link".
	Contact string
	// CallbackURL, when set, is the redirect URI the consent URLs name instead
	// of each account's callbackURL (hubprov consent --emulate: the emulated
	// HubSpot then sends the owner back to this server). Instances are still
	// created with the account's callbackURL.
	CallbackURL string
	// Progress, when not nil, is kept up to date for a progress display: Total
	// accounts, Done and Created the connected ones (Unchanged those connected
	// by an earlier run), Bad those whose last consent failed or was refused.
	Progress *Progress
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// The statuses of a consent account, as /accounts.json and the operator page show them.
const (
	ConsentPending    = "pending"    // waiting for its owner's consent
	ConsentConnecting = "connecting" // a code arrived; the instance is being created
	ConsentConnected  = "connected"  // the instance exists
	ConsentFailed     = "failed"     // the create failed; a new consent may succeed
	ConsentDenied     = "denied"     // the owner refused; a new consent may succeed
)

// ConsentServer serves the HubSpot app's redirect URI for the oauth2 accounts
// of a plan that wait for consent (AwaitConsent), and creates each account's
// instance the moment its owner's code arrives, through the same engine as
// Apply: the run's retry and rate policy, markers, journal, failure budget and
// results. It is an http.Handler:
//
//   - GET /callback?code=C&state=S: S must be a state this server signed, for
//     its set, not expired; then the account named by S is created with
//     providerData.code C. A denial (error=...) is recorded for the account.
//     The portal owner gets a small HTML page saying what happened.
//   - GET /accounts.json: the accounts not yet connected, with their consent URLs.
//   - GET /: the same for an operator, as a plain HTML page.
//
// The code is never written to a log, the journal, a result or a page: it is
// scrubbed from every platform message before anything records it.
type ConsentServer struct {
	r        *runner
	az       Authorizer
	signer   *stateSigner
	co       ConsentOptions
	ctx      context.Context // the batch: cancelled on interrupt or abort
	endBatch func()
	parent   context.Context
	sem      chan struct{} // bounds the creates in flight to the parallelism

	fetchMu sync.Mutex // one FetchURLs at a time: a second caller finds the URLs fresh

	codesMu sync.Mutex
	codes   []string // codes received, for scrubbing

	mu       sync.Mutex
	accounts []*consentAccount // plan order
	byName   map[string]*consentAccount
	others   []Result // the plan's other accounts that have an instance, as Unchanged
	done     chan struct{}
	isDone   bool
}

type consentAccount struct {
	i        int  // index into r.plan.Changes and r.out; -1 when connected by an earlier run
	earlier  bool // connected by an earlier run
	account  *manifest.Account
	status   string
	res      Result // the last outcome, for connected, failed and denied accounts
	url      string
	urlAt    time.Time
	urlError *ResultError
}

// NewConsentServer prepares the consent of plan's AwaitConsent accounts
// under run, whose platform must be an [Authorizer] (see CanAuthorize); the
// journal attached to run records each create. Accounts of the plan that need
// consent but already have an instance count as connected; every other change
// of the plan is not the server's business (apply makes those), but those
// with an instance are listed Unchanged in the Outcome, so that the report
// still maps every account with a live instance to it. From now on
// the run also scrubs every code received from its messages. The server stops
// taking callbacks when ctx is cancelled or the run aborts (rejected
// credentials, failure budget, journal): see Stopped and Outcome. Call
// FetchURLs before serving and Close after.
func NewConsentServer(ctx context.Context, run *Run, plan Plan, co ConsentOptions) (*ConsentServer, error) {
	az, ok := run.pf.(Authorizer)
	if !ok {
		return nil, fmt.Errorf("%s has no consent URL: its connections take oauth2Tokens", run.pf.Name())
	}
	if co.StateTTL <= 0 {
		co.StateTTL = 24 * time.Hour
	}
	if co.Contact == "" {
		co.Contact = "the person who sent you the link"
	}
	if co.Now == nil {
		co.Now = time.Now
	}
	signer, err := newStateSigner(plan.Set, co.StateTTL)
	if err != nil {
		return nil, fmt.Errorf("consent state key: %w", err)
	}
	s := &ConsentServer{az: az, signer: signer, co: co, parent: ctx,
		byName: map[string]*consentAccount{}, done: make(chan struct{})}
	user := run.opts.Scrub
	run.opts.Scrub = func(m string) string { return s.scrubCodes(user(m)) }
	run.opts.Progress = nil // a consent can be retried: Counts reports progress instead
	s.ctx, s.endBatch = run.batch(ctx)
	s.r = &runner{Run: run, plan: Plan{Set: plan.Set, Platform: plan.Platform}, lists: newListings(run, plan.Set)}
	s.sem = make(chan struct{}, run.opts.Parallelism)
	for _, c := range plan.Changes {
		if c.Desired == nil {
			continue
		}
		var live Result
		if c.Remote != nil {
			live = Result{Name: c.Name, Element: c.Desired.Account.Element, Action: Unchanged, Status: Succeeded,
				InstanceID: c.Remote.ID, Token: c.Remote.Token}
		}
		if !NeedsConsent(c.Desired.Account) {
			if c.Remote != nil {
				s.others = append(s.others, live)
			}
			continue
		}
		a := &consentAccount{i: -1, account: &c.Desired.Account}
		switch {
		case c.Action == AwaitConsent:
			a.i, a.status = len(s.r.plan.Changes), ConsentPending
			s.r.plan.Changes = append(s.r.plan.Changes, c)
		case c.Remote != nil:
			a.status, a.res, a.earlier = ConsentConnected, live, true
		default:
			continue
		}
		s.accounts = append(s.accounts, a)
		s.byName[c.Name] = a
	}
	s.r.out = make([]Result, len(s.r.plan.Changes))
	if p := co.Progress; p != nil {
		p.Total.Store(int64(len(s.accounts)))
	}
	s.checkDoneLocked()
	return s, nil
}

// Close ends the server's batch of the run: callbacks after it are refused.
// Call it once no callback is in flight (after http.Server.Shutdown).
func (s *ConsentServer) Close() { s.endBatch() }

// FetchURLs asks the platform for the consent URL of every account not yet
// connected whose URL is missing, failed, or older than half the state's
// lifetime, under the run's policy. A failure is kept for that account (and
// shown); rejected credentials abort the run.
func (s *ConsentServer) FetchURLs(ctx context.Context) {
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	now := s.co.Now()
	s.mu.Lock()
	var stale []*consentAccount
	for _, a := range s.accounts {
		if a.status != ConsentConnected && (a.url == "" || now.Sub(a.urlAt) >= s.co.StateTTL/2) {
			stale = append(stale, a)
		}
	}
	s.mu.Unlock()
	g := new(errgroup.Group)
	g.SetLimit(s.r.opts.Parallelism)
	for _, a := range stale {
		g.Go(func() error {
			if s.ctx.Err() != nil || ctx.Err() != nil {
				return nil
			}
			at := s.co.Now()
			acct := *a.account
			if s.co.CallbackURL != "" {
				acct.Auth.CallbackURL = s.co.CallbackURL
			}
			u := s.r.consentURL(s.ctx, s.az, &acct, s.signer.sign(a.account.Name, at))
			s.mu.Lock()
			defer s.mu.Unlock()
			switch u.Status {
			case Succeeded:
				a.url, a.urlAt, a.urlError = u.URL, at, nil
			case Failed:
				a.url, a.urlError = "", u.Error
			}
			return nil
		})
	}
	_ = g.Wait()
}

// Done is closed when no account waits for consent any more.
func (s *ConsentServer) Done() <-chan struct{} { return s.done }

// Stopped is closed when the run stops taking callbacks: the context given
// to NewConsentServer was cancelled or the run aborted.
func (s *ConsentServer) Stopped() <-chan struct{} { return s.ctx.Done() }

// ConsentCounts is how far the consent has come.
type ConsentCounts struct {
	Total, Connected, Pending, Failed, Denied int
}

// Counts returns how many accounts are connected and how many still wait:
// Pending counts every account not connected, Failed and Denied those among
// them whose last consent failed or was refused.
func (s *ConsentServer) Counts() ConsentCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.countsLocked()
}

func (s *ConsentServer) countsLocked() ConsentCounts {
	c := ConsentCounts{Total: len(s.accounts)}
	for _, a := range s.accounts {
		switch a.status {
		case ConsentConnected:
			c.Connected++
			continue
		case ConsentFailed:
			c.Failed++
		case ConsentDenied:
			c.Denied++
		}
		c.Pending++
	}
	return c
}

// Accounts returns the accounts the server handles, in plan order.
func (s *ConsentServer) Accounts() []manifest.Account {
	out := make([]manifest.Account, len(s.accounts))
	for i, a := range s.accounts {
		out[i] = *a.account
	}
	return out
}

// Connected reports whether the named account is connected.
func (s *ConsentServer) Connected(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.byName[name]
	return a != nil && a.status == ConsentConnected
}

// Outcome is what the server did, for the report: per consent account, in
// plan order, the create that connected it, the failure or refusal of its
// last consent, or Skipped (ReasonAwaitingConsent) for one that is still
// waiting; accounts connected by an earlier run are Unchanged. Then the
// plan's other accounts that have an instance, Unchanged. Aborted is set when
// the run was interrupted or aborted with accounts still waiting.
func (s *ConsentServer) Outcome() Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Outcome{Results: make([]Result, len(s.accounts))}
	for k, a := range s.accounts {
		switch a.status {
		case ConsentPending, ConsentConnecting:
			out.Results[k] = Result{Name: a.account.Name, Element: a.account.Element, Action: AwaitConsent,
				Status: Skipped, Reason: ReasonAwaitingConsent}
		default:
			out.Results[k] = a.res
		}
	}
	out.Results = append(out.Results, s.others...)
	out.Aborted, out.AbortClass = s.r.abortState()
	if out.Aborted == "" && !s.isDone && s.parent.Err() != nil {
		out.Aborted, out.AbortClass = "interrupted", Canceled
	}
	out.Requests, out.Throttled, out.Retries = s.r.Counts()
	return out
}

// checkDoneLocked updates the progress counters and closes done when no
// account waits any more.
func (s *ConsentServer) checkDoneLocked() {
	n := s.countsLocked()
	if p := s.co.Progress; p != nil {
		earlier := 0
		for _, a := range s.accounts {
			if a.earlier {
				earlier++
			}
		}
		p.Done.Store(int64(n.Connected))
		p.Created.Store(int64(n.Connected - earlier))
		p.Unchanged.Store(int64(earlier))
		p.Bad.Store(int64(n.Failed + n.Denied))
	}
	if !s.isDone && n.Pending == 0 {
		s.isDone = true
		close(s.done)
	}
}

// scrubCodes removes every code received from m, in the forms an echo takes.
func (s *ConsentServer) scrubCodes(m string) string {
	s.codesMu.Lock()
	codes := s.codes
	s.codesMu.Unlock()
	for _, c := range codes {
		for _, form := range []string{c, url.QueryEscape(c), strconv.Quote(c)[1 : len(strconv.Quote(c))-1]} {
			m = strings.ReplaceAll(m, form, "[redacted]")
		}
	}
	return m
}

// ServeHTTP serves /callback, /accounts.json and /.
func (s *ConsentServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	if r.Method != http.MethodGet && (r.Method != http.MethodHead || r.URL.Path == "/callback") {
		// A HEAD of the callback (a link checker) must not spend the code.
		h.Set("Allow", "GET, HEAD")
		if r.URL.Path == "/callback" {
			h.Set("Allow", "GET")
		}
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case "/callback":
		s.callback(w, r)
	case "/accounts.json":
		s.FetchURLs(r.Context())
		s.accountsJSON(w)
	case "/":
		s.FetchURLs(r.Context())
		s.operatorPage(w)
	default:
		http.NotFound(w, r)
	}
}

// ConsentAccount is one entry of /accounts.json.
type ConsentAccount struct {
	Name    string `json:"name"`
	Element string `json:"element"`
	Status  string `json:"status"`
	URL     string `json:"url,omitempty"`   // the consent URL carrying the signed state
	Error   string `json:"error,omitempty"` // why the URL, or the last consent, failed
}

// Pending returns the accounts not yet connected, in plan order, each with its
// consent URL (as fetched last) or why there is none.
func (s *ConsentServer) Pending() []ConsentAccount {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []ConsentAccount{}
	for _, a := range s.accounts {
		if a.status == ConsentConnected {
			continue
		}
		e := ConsentAccount{Name: a.account.Name, Element: a.account.Element, Status: a.status, URL: a.url}
		switch {
		case a.res.Error != nil && (a.status == ConsentFailed || a.status == ConsentDenied):
			e.Error = a.res.Error.Message
		case a.urlError != nil:
			e.Error = "consent URL: " + a.urlError.Message
		}
		out = append(out, e)
	}
	return out
}

func (s *ConsentServer) accountsJSON(w http.ResponseWriter) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // the URLs' & stay readable
	if err := enc.Encode(s.Pending()); err != nil {
		http.Error(w, "encode accounts", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b.Bytes())
}

// callback handles the redirect of one consent.
func (s *ConsentServer) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	log := s.r.opts.Log
	state := q.Get("state")
	if state == "" {
		log.Warn().Str("outcome", "no-state").Msg("consent callback refused: no state")
		s.page(w, http.StatusBadRequest, pageInvalid, "", "This link has no state, so it cannot say which account it is for.")
		return
	}
	name, err := s.signer.verify(state, s.co.Now())
	if err != nil {
		log.Warn().Str("outcome", "invalid-state").Str("reason", err.Error()).Msg("consent callback refused: nothing created")
		why := "This link was not issued by this connection service, or it was changed."
		if errors.Is(err, errStateExpired) {
			why = "This link has expired."
		}
		s.page(w, http.StatusBadRequest, pageInvalid, "", why)
		return
	}
	s.mu.Lock()
	a := s.byName[name]
	if a == nil {
		s.mu.Unlock()
		log.Warn().Str("account", name).Str("outcome", "unknown-account").Msg("consent callback refused: the account is not served by this run")
		s.page(w, http.StatusBadRequest, pageInvalid, "", "This link is for an account this connection service does not handle.")
		return
	}
	switch {
	case a.status == ConsentConnected:
		s.mu.Unlock()
		log.Info().Str("account", name).Str("outcome", "already-connected").Msg("consent callback: already connected, nothing created")
		s.page(w, http.StatusOK, pageAlready, name, "")
		return
	case a.status == ConsentConnecting:
		s.mu.Unlock()
		log.Info().Str("account", name).Str("outcome", "in-progress").Msg("consent callback: the account is being connected, nothing created")
		s.page(w, http.StatusConflict, pageBusy, name, "")
		return
	case s.ctx.Err() != nil:
		s.mu.Unlock()
		log.Warn().Str("account", name).Str("outcome", "stopping").Msg("consent callback refused: the run is stopping")
		s.page(w, http.StatusServiceUnavailable, pageStopping, name, "")
		return
	}
	if e := q.Get("error"); e != "" {
		s.deny(w, a, e, q.Get("error_description"))
		return
	}
	code := q.Get("code")
	if code == "" {
		s.mu.Unlock()
		log.Warn().Str("account", name).Str("outcome", "no-code").Msg("consent callback refused: empty code")
		s.page(w, http.StatusBadRequest, pageInvalid, name, "The answer from HubSpot carried no authorization code.")
		return
	}
	a.status = ConsentConnecting
	s.mu.Unlock()
	s.codesMu.Lock()
	s.codes = append(s.codes, code)
	s.codesMu.Unlock()

	res := s.connect(r.Context(), a, code)

	s.mu.Lock()
	switch {
	case res.Status == Succeeded || res.Status == Unhealthy && res.InstanceID != "":
		a.status, a.res = ConsentConnected, res
	case res.Status == Skipped:
		// Stopped before the create was sent (an interrupt, an abort, a
		// journal that cannot be written): still waiting.
		a.status = ConsentPending
	default:
		a.status, a.res = ConsentFailed, res
	}
	st := a.status
	n := s.countsLocked()
	s.mu.Unlock()
	defer func() {
		// After the log line: Done may end the server at once.
		s.mu.Lock()
		s.checkDoneLocked()
		s.mu.Unlock()
	}()

	ev := log.Info()
	if st != ConsentConnected {
		ev = log.Warn()
	}
	ev = ev.Str("account", name).Str("outcome", st).Int("connected", n.Connected).Int("pending", n.Pending)
	if res.InstanceID != "" {
		ev = ev.Str("instanceId", res.InstanceID)
	}
	if res.Error != nil {
		ev = ev.Str("class", string(res.Error.Class)).Str("error", res.Error.Message)
	}
	ev.Msg("consent callback")
	switch {
	case st == ConsentConnected:
		s.page(w, http.StatusOK, pageConnected, name, "")
	case st == ConsentPending:
		s.page(w, http.StatusServiceUnavailable, pageStopping, name, "")
	default:
		msg := "The platform did not create the connection."
		if res.Error != nil {
			msg = "The platform did not create the connection: " + res.Error.Message
		}
		s.page(w, http.StatusBadGateway, pageFailed, name, msg)
	}
}

// connect creates a's instance with code, as Apply would: one create under
// the run's policy, with the journal's intent and outcome records.
func (s *ConsentServer) connect(reqCtx context.Context, a *consentAccount, code string) Result {
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	case <-reqCtx.Done(): // the owner's browser went away before the create started
		return Result{Name: a.account.Name, Status: Skipped}
	case <-s.ctx.Done():
		return Result{Name: a.account.Name, Status: Skipped}
	}
	c := s.r.plan.Changes[a.i]
	d := *c.Desired
	d.Account.Auth.Code = manifest.LiteralSecret(code)
	d.Fingerprint = Fingerprint(d.Set, d.Account)
	s.r.plan.Changes[a.i] = Change{Name: c.Name, Action: Create, Desired: &d}
	s.r.one(s.ctx, a.i)
	res := s.r.out[a.i]
	s.r.plan.Changes[a.i] = c // the code is not kept beyond this create
	return res
}

// deny records a refused consent for a. s.mu is held and released here.
func (s *ConsentServer) deny(w http.ResponseWriter, a *consentAccount, e, desc string) {
	e, desc = s.scrubCodes(printable(e, 64)), s.scrubCodes(printable(desc, 200))
	msg := "consent refused by the portal owner or HubSpot: " + e
	if desc != "" {
		msg += " (" + desc + ")"
	}
	a.status = ConsentDenied
	a.res = Result{Name: a.account.Name, Element: a.account.Element, Action: Create, Status: Failed,
		Error: &ResultError{Class: Item, Message: s.r.opts.Scrub(msg)}}
	s.checkDoneLocked()
	n := s.countsLocked()
	s.mu.Unlock()
	s.r.opts.Log.Warn().Str("account", a.account.Name).Str("outcome", ConsentDenied).Str("error", e).
		Int("connected", n.Connected).Int("pending", n.Pending).Msg("consent callback")
	s.page(w, http.StatusOK, pageDenied, a.account.Name, "")
}

// printable keeps at most n runes of s, without control characters.
func printable(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if n == 0 {
			b.WriteString("...")
			break
		}
		if unicode.IsPrint(r) {
			b.WriteRune(r)
			n--
		}
	}
	return b.String()
}

// CallbackMismatches returns the accounts whose callbackURL is not callback
// (compared by scheme, host, port and path): HubSpot would send their owners'
// codes elsewhere.
func CallbackMismatches(accounts []manifest.Account, callback string) []string {
	want, err := url.Parse(callback)
	var out []string
	for _, a := range accounts {
		got, gerr := url.Parse(a.Auth.CallbackURL)
		if err != nil || gerr != nil || !sameEndpoint(got, want) {
			out = append(out, a.Name)
		}
	}
	return out
}

func sameEndpoint(a, b *url.URL) bool {
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		return map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	path := func(u *url.URL) string { return strings.TrimSuffix(u.EscapedPath(), "/") }
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) &&
		port(a) == port(b) && path(a) == path(b)
}
