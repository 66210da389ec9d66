package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Run is one command's work with one platform. It owns the run's one retry
// and rate policy, and every platform call of the command goes through it:
// the listing and lookups that plan reads, reads by id, consent URLs, creates,
// updates and deletes. So --request-timeout, --rate, --max-attempts and an
// interrupt apply to each of them, and its counters count them all. Make one
// with NewRun per command and use it for everything the command sends.
type Run struct {
	pf   Platform
	opts Options
	pol  *policy

	mu         sync.Mutex
	aborted    string
	abortClass Class
	stop       context.CancelFunc // stops the batch in progress (Apply, AuthorizeURLs); nil between batches

	warnedUnreachable time.Time // when noteRetry last warned of an unreachable platform
}

// NewRun returns the run of one command against pf, with opts' defaults
// filled in: 8 accounts at once, 5 attempts per request, no scrubbing.
func NewRun(pf Platform, opts Options) *Run {
	if opts.Parallelism < 1 {
		opts.Parallelism = 8
	}
	if opts.MaxAttempts < 1 {
		opts.MaxAttempts = 5
	}
	if opts.Scrub == nil {
		opts.Scrub = func(s string) string { return s }
	}
	return &Run{pf: pf, opts: opts, pol: newPolicy(opts.Rate, opts.MaxAttempts, opts.RequestTimeout, opts.Parallelism, opts.Progress)}
}

// accountsInProgress is how many accounts a batch holds at once, for a
// parallelism: up to parallelism work (send requests) and the others wait
// out a Retry-After or a backoff, so that they do not keep the rest from using
// the platform.
func accountsInProgress(parallelism int) int { return 4 * parallelism }

// accountSlot is one of the parallelism slots of an Apply, held by an account
// while it works and let go while it waits out a Retry-After or a backoff.
type accountSlot struct {
	sem  chan struct{}
	held bool
}

type accountSlotKey struct{}

func (s *accountSlot) release() {
	if s.held {
		s.held = false
		<-s.sem
	}
}

func (s *accountSlot) acquire(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
		s.held = true
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitOut sleeps d before a retry. An account of an Apply lets another
// account work in the meantime (its slot, from ctx), and takes a slot again
// before going on.
func waitOut(ctx context.Context, d time.Duration) error {
	slot, _ := ctx.Value(accountSlotKey{}).(*accountSlot)
	if slot == nil || !slot.held || d <= 0 {
		return sleep(ctx, d)
	}
	slot.release()
	err := sleep(ctx, d)
	if aerr := slot.acquire(ctx); err == nil {
		err = aerr
	}
	return err
}

// errNotSent marks a call stopped before its request was sent.
var errNotSent = errors.New("stopped before the request was sent")

// Counts returns the requests the run has sent so far (every attempt of every
// call), the 429 and 503 answers among them, and the retried attempts.
func (r *Run) Counts() (requests, throttled, retries int) { return r.pol.stats() }

// writeGrace is how long a create, update or delete in flight may still take
// after an interrupt before it is cut off. Reads are cut off at once: they
// change nothing. A cut-off create stays pending in the journal, and the next
// run looks it up.
var writeGrace = 10 * time.Second

// abort stops the run: the batch in progress starts no new request.
func (r *Run) abort(reason string, class Class) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.aborted == "" {
		r.aborted, r.abortClass = reason, class
		r.opts.Log.Error().Str("reason", reason).Msg("aborting the run: no new requests")
	}
	if r.stop != nil {
		r.stop()
	}
}

// batch starts a batch of calls (Apply, AuthorizeURLs) that an abort stops:
// it returns the batch's context and a function that ends the batch.
func (r *Run) batch(ctx context.Context) (context.Context, func()) {
	stopCtx, stop := context.WithCancel(ctx)
	r.mu.Lock()
	r.stop = stop
	aborted := r.aborted != ""
	r.mu.Unlock()
	if aborted {
		stop()
	}
	return stopCtx, func() {
		r.mu.Lock()
		r.stop = nil
		r.mu.Unlock()
		stop()
	}
}

// abortState returns why the run stopped early, if it did.
func (r *Run) abortState() (string, Class) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.aborted, r.abortClass
}

// request describes one platform call for the policy.
type request struct {
	write    bool   // a create, update or delete: it may finish after an interrupt (writeGrace)
	account  string // the account, for logs; empty for the set's listing
	attempts *int   // counts every attempt; may be nil
}

// call makes one attempt of op under the run's policy: it waits for the rate
// and any pause, bounds the attempt's time (--request-timeout), and feeds the
// outcome back. An interrupt (ctx done) cuts a read off at once; a write in
// flight may finish within writeGrace.
func (r *Run) call(ctx context.Context, write bool, op func(context.Context) error) error {
	t, err := r.pol.wait(ctx)
	if err != nil {
		return errors.Join(errNotSent, err)
	}
	actx := withLimitObserver(ctx, r.pol)
	if write {
		var cancel context.CancelFunc
		actx, cancel = context.WithCancel(context.WithoutCancel(actx))
		defer cancel()
		defer context.AfterFunc(ctx, func() { time.AfterFunc(writeGrace, cancel) })()
		if r.opts.Abandon != nil {
			defer context.AfterFunc(r.opts.Abandon, cancel)()
		}
	}
	if r.pol.timeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(actx, r.pol.timeout)
		defer cancel()
	}
	err = op(actx)
	r.pol.done(t, err)
	if err == nil {
		return nil
	}
	if r.pol.timeout > 0 && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		if strings.Contains(err.Error(), "no answer within the request timeout") {
			err = fmt.Errorf("%w (%v)", err, r.pol.timeout) // the client said it; add how long that was
		} else {
			err = fmt.Errorf("no answer within the request timeout (%v): %w", r.pol.timeout, err)
		}
	}
	var ae *APIError
	if errors.As(err, &ae) && (ae.Status == 429 || ae.Status == 503) {
		if p := r.opts.Progress; p != nil {
			p.Throttled.Add(1)
		}
	}
	if Classify(err) == Systemic {
		r.abort("the platform rejected the credentials: "+r.opts.Scrub(err.Error()), Systemic)
	}
	return err
}

// retrying runs op until it succeeds, fails for good, or attempts run out,
// and returns the last error.
func (r *Run) retrying(ctx context.Context, q request, op func(context.Context) error) error {
	var failures, throttles int
	for {
		if q.attempts != nil {
			*q.attempts++
		}
		err := r.call(ctx, q.write, op)
		if err == nil {
			return nil
		}
		if Classify(err) != Transient {
			return err
		}
		if isThrottle(err) {
			throttles++
		} else {
			failures++
		}
		d, rerr := r.pol.retry(failures, throttles, err)
		if rerr != nil {
			return rerr
		}
		r.noteRetry(q.account, failures, d, err)
		if serr := waitOut(ctx, d); serr != nil {
			return fmt.Errorf("interrupted before retrying: %w", errors.Join(serr, err))
		}
	}
}

// noteRetry counts a retry for the progress display and logs it: at debug
// level, except while the platform is unreachable, which shows as a warning
// (at most one every unreachableEvery), so a run does not retry in silence.
func (r *Run) noteRetry(account string, attempt int, d time.Duration, err error) {
	if p := r.opts.Progress; p != nil {
		p.Retries.Add(1)
	}
	if Unreachable(err) {
		r.mu.Lock()
		quiet := time.Since(r.warnedUnreachable) >= unreachableEvery
		if quiet {
			r.warnedUnreachable = time.Now()
		}
		r.mu.Unlock()
		if quiet {
			r.opts.Log.Warn().Str("error", r.opts.Scrub(err.Error())).
				Msgf("the platform is unreachable: retrying in %s (attempt %d of %d)", d.Round(100*time.Millisecond), attempt+1, r.opts.MaxAttempts)
		}
		return
	}
	r.opts.Log.Debug().Str("account", account).Int("attempt", attempt).Dur("backoff", d).Str("error", r.opts.Scrub(err.Error())).Msg("retrying")
}

// unreachableEvery spaces the warnings of an unreachable platform.
const unreachableEvery = 2 * time.Second

// The bounds of one listing. A platform that keeps announcing another page
// (a fresh token every time) is stopped by them; tests shorten them. Each
// page is bounded by the response cap, but a listing of many pages under it
// is not, so the instances kept are bounded both in number and in size (what
// they hold in memory, see footprint): 300,000 instances of 800 bytes, or
// 9,000 of 30 KB, a page of which is 6 MB.
var (
	maxPages       = 1500      // pages of one listing: 300,000 instances at 200 a page
	maxListed      = 300_000   // instances one listing keeps
	maxListedBytes = 256 << 20 // bytes of instances one listing keeps
)

// maxPageToken is the longest next-page token a listing follows. The
// platforms' tokens are a few hundred bytes; one of megabytes would be sent
// back in every URL and kept to spot a repeat.
const maxPageToken = 8 << 10

// ErrEndlessListing is the error of a listing the engine stopped because it
// would not end: a repeated page token, more items than the platform's own
// total, or more pages, instances or bytes than any real set holds.
var ErrEndlessListing = errors.New("the listing does not end")

// footprint is about what in holds in memory: its strings, with the
// overhead of the struct, of each tag and of each configuration entry.
func (in *Instance) footprint() int {
	n := 256 + len(in.ID) + len(in.Name) + len(in.Element) + len(in.Description) + len(in.Token.Reveal()) +
		len(in.ETag) + len(in.Set) + len(in.Fingerprint)
	for _, t := range in.Tags {
		n += 16 + len(t)
	}
	for k, v := range in.Configuration {
		n += 64 + len(k) + len(v)
	}
	return n
}

// listTotal is what the pages of one listing said of its size (Page.Total).
type listTotal int

const (
	// totalUnsaid: no page said.
	totalUnsaid listTotal = iota
	// totalHeld: every page said the same total, and the pages held that
	// many items.
	totalHeld
	// totalMoved: the pages said different totals (or some said none), or
	// held another number of items than they said: the set changed while
	// the listing paged through it.
	totalMoved
)

// list reads every page of q, each page one request under the policy (so
// each is timed, paced, retried and counted on its own), and stops with
// ErrEndlessListing on a repeated page token, on more items than the largest
// total the platform announced (allowing one page's worth for instances
// created meanwhile), on a page token longer than maxPageToken, or past
// maxPages, maxListed or maxListedBytes. It also says whether the totals
// the pages reported held (see listTotal).
func (r *Run) list(ctx context.Context, q Query, rq request) ([]Instance, listTotal, error) {
	var all []Instance
	seen := map[string]bool{}
	token := ""
	scanned, total, biggest, kept := 0, -1, 0, 0
	first, same := 0, true // the first page's total; whether every page said it
	for pages := 1; ; pages++ {
		var page Page
		if err := r.retrying(ctx, rq, func(ctx context.Context) error {
			var err error
			page, err = r.pf.ListPage(ctx, q, token)
			return err
		}); err != nil {
			return nil, 0, err
		}
		all = append(all, page.Instances...)
		for i := range page.Instances {
			kept += page.Instances[i].footprint()
		}
		n := max(page.Scanned, len(page.Instances))
		scanned += n
		total = max(total, page.Total)
		biggest = max(biggest, n)
		if pages == 1 {
			first = page.Total
		}
		same = same && page.Total == first
		next := page.Next
		switch {
		case next == "" || n == 0:
			said := totalUnsaid
			switch {
			case !same || first >= 0 && scanned != first:
				said = totalMoved
			case first >= 0:
				said = totalHeld
			}
			return all, said, nil
		case len(next) > maxPageToken:
			return nil, 0, fmt.Errorf("%w: page %d announces a next-page token of %d bytes, more than the %d hubprov follows", ErrEndlessListing, pages, len(next), maxPageToken)
		case seen[next]:
			return nil, 0, fmt.Errorf("%w: page %d repeats the page token %s", ErrEndlessListing, pages, shortToken(next))
		case total >= 0 && scanned > total+biggest:
			return nil, 0, fmt.Errorf("%w: %d items over %d pages and another page announced, but the platform's total is %d", ErrEndlessListing, scanned, pages, total)
		case pages >= maxPages:
			return nil, 0, fmt.Errorf("%w: another page after %d pages, the most hubprov reads", ErrEndlessListing, pages)
		case len(all) > maxListed:
			return nil, 0, fmt.Errorf("%w: more than %d instances listed, the most hubprov keeps", ErrEndlessListing, maxListed)
		case kept > maxListedBytes:
			return nil, 0, fmt.Errorf("%w: more than %d MiB of instances listed (%d instances over %d pages), the most hubprov keeps", ErrEndlessListing, maxListedBytes>>20, len(all), pages)
		}
		seen[next] = true
		token = next
	}
}

// shortToken quotes a page token for a message, cut to a readable length.
func shortToken(t string) string {
	if len(t) > 40 {
		t = t[:40] + "..."
	}
	return fmt.Sprintf("%q", t)
}

// List returns every instance carrying the marker of set, following all
// pages under the run's policy.
func (r *Run) List(ctx context.Context, set string) ([]Instance, error) {
	all, _, err := r.list(ctx, Query{Set: set}, request{})
	return all, err
}

// Lookup returns the instance of set named name, or nil when there is none:
// the read-before-retry of an ambiguous create, and of a create an
// interrupted run left pending.
func (r *Run) Lookup(ctx context.Context, set, name string) (*Instance, error) {
	found, _, err := r.list(ctx, Query{Set: set, Name: name}, request{account: name})
	if err != nil {
		return nil, err
	}
	for i := range found {
		if found[i].Name == name && found[i].Set == set {
			return &found[i], nil
		}
	}
	return nil, nil
}

// Attach sets what the run's next Apply records into: the journal (intent
// and outcome records) and the progress counters; either may be nil. The
// reads before a plan need neither.
func (r *Run) Attach(j *Journal, p *Progress) {
	r.opts.Journal, r.opts.Progress = j, p
	r.pol.attach(p)
}
