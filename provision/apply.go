package provision

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/hubprov/hubprov/manifest"
)

// Status is how one account ended.
type Status string

// The statuses of an account in the report.
const (
	Succeeded Status = "succeeded"
	Failed    Status = "failed"
	Skipped   Status = "skipped"
	Unhealthy Status = "unhealthy"
)

// ReasonAwaitingConsent is the Reason of a skipped AwaitConsent change.
const ReasonAwaitingConsent = "awaiting-consent"

// ReasonInterrupted is the Reason of an account the run did not finish
// because it was interrupted (SIGINT, SIGTERM): not a failure, a rerun
// finishes it.
const ReasonInterrupted = "interrupted"

// ReasonPending is the Reason of an account whose create's outcome stayed
// unknown: the create may have been made (an answer was lost, or came without
// an instance id) but the list did not show it within MaxLagWait, so it was
// neither adopted nor sent again. Its intent stays in the journal: a rerun
// looks it up and resolves it.
const ReasonPending = "pending"

// ReasonNotSelected is the Reason of an account this run did not manage
// (another --select or --shard, or left by destroy) that has a live instance:
// the report maps it from the platform's list, nothing was sent for it.
const ReasonNotSelected = "not-selected"

// Options controls Apply.
type Options struct {
	Parallelism    int           // concurrent accounts; default 8
	Rate           float64       // requests per second for the whole run; 0 means adaptive only
	MaxAttempts    int           // attempts per request; default 5
	RequestTimeout time.Duration // per attempt; 0 means none
	// MaxFailures aborts the rest of the run once more accounts have failed
	// than it allows; the zero value never aborts.
	MaxFailures FailureBudget
	// Verify checks every instance of the run, unchanged ones included, and
	// reports one that is not valid and enabled as Unhealthy: an unchanged
	// instance by what the list said (read by id only when the list did not
	// say), a created or updated one by a read by id.
	Verify  bool
	Journal *Journal // intent and outcome records; nil for none
	// MaxDeletes, when not nil, bounds the deletions of the run: the plan's
	// (checked by the caller before Apply) and the duplicates the end-of-run
	// listing finds, which are left alone, with a warning, beyond it.
	MaxDeletes *int
	// MaxLagWait bounds each wait for a lagging list to catch up: with the
	// outcome of a create that may have been made, with this run's creates
	// before the end-of-run listing resolves duplicates. Zero means 2 minutes.
	MaxLagWait time.Duration
	Log        zerolog.Logger      // run events; never given a secret
	Progress   *Progress           // live counters for a progress display; may be nil
	Scrub      func(string) string // removes known secret values from platform messages; nil for none
	// Abandon, when done, cuts off the writes in flight too (a second
	// Ctrl-C), without waiting out their grace. Nil: never.
	Abandon context.Context
}

// Result is how one account (or deleted instance) ended.
type Result struct {
	Name       string
	Element    string
	Action     Action
	Fields     []string
	Status     Status
	Reason     string // why a skipped account was skipped, when not an abort
	InstanceID string
	Token      manifest.Secret // the instance token, when the platform gave one
	Attempts   int
	Duration   time.Duration
	Error      *ResultError
	// DuplicatesDeleted counts the account's extra live instances the run deleted.
	DuplicatesDeleted int
}

// ResultError describes why an account failed.
type ResultError struct {
	Class      Class  `json:"class"`
	HTTPStatus int    `json:"httpStatus,omitempty"`
	RequestID  string `json:"requestId,omitempty"`
	Message    string `json:"message"`
}

// Outcome is what Apply did.
type Outcome struct {
	Results []Result // one per change, in plan order
	// Aborted says why the run stopped early; empty when it did not.
	Aborted    string
	AbortClass Class // Systemic, Canceled, or "budget" for --max-failures
	// Requests counts requests sent; Throttled the 429 and 503 answers; Retries the retried attempts.
	Requests, Throttled, Retries int
}

// Progress holds live counters that a progress display reads while Apply runs.
type Progress struct {
	// Total is the accounts of the run; a display may read it while Apply
	// or a consent server sets it.
	Total                                           atomic.Int64
	Done, Created, Updated, Deleted, Unchanged, Bad atomic.Int64
	// Skipped counts the accounts an interrupt or an abort left undone; they
	// are not in Done.
	Skipped atomic.Int64
	// Retries counts retried attempts; Throttled the 429 and 503 answers.
	Retries, Throttled atomic.Int64

	rate atomic.Pointer[RateState]
}

// RateState is the run's rate control, as a progress display shows it.
type RateState struct {
	Pace        float64   // requests per second the run is paced at; +Inf when not pacing
	PauseReason string    // why the whole run is paused; empty when it is not
	PauseUntil  time.Time // when the pause ends
}

// Rate returns the run's rate control now.
func (p *Progress) Rate() RateState {
	if s := p.rate.Load(); s != nil {
		return *s
	}
	return RateState{Pace: math.Inf(1)}
}

func (p *Progress) setRate(pace float64, reason string, until time.Time) {
	if s := p.rate.Load(); s != nil && s.Pace == pace && s.PauseReason == reason && s.PauseUntil.Equal(until) {
		return
	}
	p.rate.Store(&RateState{Pace: pace, PauseReason: reason, PauseUntil: until})
}

// ClassBudget marks a run aborted by --max-failures.
const ClassBudget Class = "failure-budget"

// ClassJournal marks a run aborted because its journal could not be written.
const ClassJournal Class = "journal-unwritable"

// Apply carries out the plan on the platform, under the run's policy. One
// account's failure is recorded in its Result and never stops the others; the
// run as a whole stops early only when the platform rejects its credentials,
// the failure budget is exceeded, or ctx is cancelled. After cancellation no
// new request starts; reads in flight are cut off and writes in flight finish
// (within writeGrace). The Outcome's counters are the run's: the listing the
// plan came from is counted too.
func (run *Run) Apply(ctx context.Context, plan Plan) Outcome {
	stopCtx, stop := run.batch(ctx)
	defer stop()
	r := &runner{Run: run, plan: plan, out: make([]Result, len(plan.Changes)), lists: newListings(run, plan.Set)}
	r.lists.noteRead(plan)
	opts := r.opts
	if opts.Progress != nil {
		// A display started before Apply may read Total: its caller can set it first.
		opts.Progress.Total.CompareAndSwap(0, int64(len(plan.Changes)))
	}

	// The pacer is told what is left: each change unfinished makes one
	// request at least.
	var left atomic.Int64
	for _, c := range plan.Changes {
		if c.Sends() {
			left.Add(1)
		}
	}
	run.pol.begin(int(left.Load()))
	defer run.pol.remaining(-1)
	g := new(errgroup.Group)
	// Accounts in progress are bounded by held, taken before a slot, so that
	// this loop never holds a slot while it waits for an account to end:
	// accounts waiting (a backoff, a lagging list) take their slot back.
	held := make(chan struct{}, accountsInProgress(opts.Parallelism))
	active := make(chan struct{}, opts.Parallelism)
	for i := range plan.Changes {
		got := false
		if stopCtx.Err() == nil {
			select {
			case held <- struct{}{}:
				select {
				case active <- struct{}{}:
					got = true
				case <-stopCtx.Done():
					<-held
				}
			case <-stopCtx.Done():
			}
		}
		if stopCtx.Err() != nil {
			if got {
				<-active
				<-held
			}
			r.skip(ctx, i)
			continue
		}
		g.Go(func() error {
			defer func() { <-held }()
			slot := &accountSlot{sem: active, held: true}
			defer slot.release()
			if stopCtx.Err() != nil {
				r.skip(ctx, i)
				return nil
			}
			r.one(context.WithValue(stopCtx, accountSlotKey{}, slot), i)
			if plan.Changes[i].Sends() {
				run.pol.remaining(int(left.Add(-1)))
			}
			return nil
		})
	}
	_ = g.Wait()
	if stopCtx.Err() == nil {
		r.converge(stopCtx)
	}
	aborted, class := r.abortState()
	if aborted == "" && ctx.Err() != nil {
		aborted, class = "interrupted", Canceled
	}
	req, thr, ret := r.Counts()
	return Outcome{Results: r.out, Aborted: aborted, AbortClass: class, Requests: req, Throttled: thr, Retries: ret}
}

// runner is one Apply of a run: the plan and its results.
type runner struct {
	*Run
	plan  Plan
	out   []Result
	lists *listings // the set's listings after writes, shared by the accounts waiting on them

	mu     sync.Mutex
	failed int
}

// skip records change i as not started: interrupted when ctx, the run's own
// context, is done (and no abort came first), else cut off by an abort.
func (r *runner) skip(ctx context.Context, i int) {
	c := r.plan.Changes[i]
	res := Result{Name: c.Name, Action: c.Action, Fields: c.Fields, Status: Skipped}
	if r.interrupted(ctx) {
		res.Reason = ReasonInterrupted
	}
	if c.Desired != nil {
		res.Element = c.Desired.Account.Element
	}
	if c.Remote != nil {
		res.InstanceID = c.Remote.ID
		if res.Element == "" {
			res.Element = c.Remote.Element
		}
	}
	r.out[i] = res
	r.count(res)
}

// journalFailed stops the run after a journal write failed: without a
// durable intent no create may be sent. Requests in flight finish.
func (r *runner) journalFailed(err error) {
	r.abort("the journal cannot be written: "+err.Error(), ClassJournal)
}

// one carries out change i and records its result.
func (r *runner) one(ctx context.Context, i int) {
	c := r.plan.Changes[i]
	start := time.Now()
	res := Result{Name: c.Name, Action: c.Action, Fields: c.Fields}
	if c.Desired != nil {
		res.Element = c.Desired.Account.Element
	}
	if c.Remote != nil {
		res.InstanceID = c.Remote.ID
		res.Token = c.Remote.Token
		if res.Element == "" {
			res.Element = c.Remote.Element
		}
	}
	var inst *Instance
	var err error
	switch c.Action {
	case Unchanged:
		res.Status = Succeeded
	case AwaitConsent:
		res.Status, res.Reason = Skipped, ReasonAwaitingConsent
	case Create:
		if r.opts.Journal != nil {
			if jerr := r.opts.Journal.Intent(c.Name); jerr != nil {
				// Not durable: the create is not sent, and nothing new starts.
				r.journalFailed(jerr)
				res.Status = Skipped
				break
			}
		}
		inst, err = r.create(ctx, c, &res)
	case Update:
		inst, err = r.update(ctx, c, &res)
	case Delete:
		_, err = r.delete(ctx, c, &res)
	case Duplicate:
		inst, err = r.duplicate(ctx, c, &res)
	}
	if err != nil && errors.Is(err, errNotSent) && res.Attempts <= 1 {
		// Stopped while waiting for its first request's turn: nothing was
		// sent for this account.
		r.skip(ctx, i)
		return
	}
	if inst != nil {
		res.InstanceID = inst.ID
		if inst.Token.Resolved() {
			res.Token = inst.Token
		}
	}
	if err == nil && c.Action != AwaitConsent && res.Status != Skipped {
		res.Status = Succeeded
		if r.opts.Verify && (c.Action == Create || c.Action == Update || c.Action == Unchanged) && res.InstanceID != "" {
			r.verify(ctx, c, &res)
		}
	} else if errors.Is(err, errPending) {
		// Perhaps created, perhaps not: neither adopted nor sent again. Its
		// intent stays in the journal, for a rerun to resolve.
		res.Status, res.Reason = Skipped, ReasonPending
		res.Error = r.resultError(err)
		res.Error.Class = Ambiguous
		r.opts.Log.Warn().Str("account", c.Name).Str("error", res.Error.Message).Msg("account left pending: rerun to resolve it")
	} else if err != nil && Classify(err) == Canceled {
		// Cut off by an interrupt or an abort before it was sent: not a
		// failure of the account. A create's intent stays in the journal.
		res.Status = Skipped
		if r.interrupted(ctx) {
			res.Reason = ReasonInterrupted
		}
	} else if err != nil {
		res.Status = Failed
		res.Error = r.resultError(err)
		r.opts.Log.Warn().Str("account", c.Name).Str("action", string(c.Action)).
			Str("class", string(res.Error.Class)).Int("httpStatus", res.Error.HTTPStatus).
			Str("error", res.Error.Message).Msg("account failed")
	}
	res.Duration = time.Since(start)
	r.out[i] = res
	if r.opts.Journal != nil {
		if jerr := r.opts.Journal.Outcome(res); jerr != nil {
			r.journalFailed(jerr)
		}
	}
	r.count(res)
	if res.Status == Failed && res.Error != nil && res.Error.Class != Systemic && res.Error.Class != Canceled {
		r.mu.Lock()
		r.failed++
		n := r.failed
		r.mu.Unlock()
		if r.opts.MaxFailures.exceeded(n, len(r.plan.Changes)) {
			r.abort(fmt.Sprintf("failure budget exceeded: %d accounts failed", n), ClassBudget)
		}
	}
}

// interrupted reports whether the run was interrupted rather than aborted:
// ctx is done and no abort was recorded.
func (r *runner) interrupted(ctx context.Context) bool {
	aborted, _ := r.abortState()
	return ctx.Err() != nil && aborted == ""
}

func (r *runner) count(res Result) {
	p := r.opts.Progress
	if p == nil {
		return
	}
	if res.Status == Skipped && res.Action != AwaitConsent {
		p.Skipped.Add(1)
		return
	}
	p.Done.Add(1)
	switch {
	case res.Status == Failed || res.Status == Unhealthy:
		p.Bad.Add(1)
	case res.Status != Succeeded:
	case res.Action == Create:
		p.Created.Add(1)
	case res.Action == Update:
		p.Updated.Add(1)
	case res.Action == Delete:
		p.Deleted.Add(1)
	case res.Action == Unchanged:
		p.Unchanged.Add(1)
	}
}

func (r *Run) resultError(err error) *ResultError {
	re := &ResultError{Class: Classify(err), Message: r.opts.Scrub(err.Error())}
	var ae *APIError
	if errors.As(err, &ae) {
		re.HTTPStatus = ae.Status
		re.RequestID = ae.RequestID
	}
	if errors.Is(err, errBudget) {
		re.Message = r.opts.Scrub(errBudget.Error() + ": " + err.Error())
	}
	return re
}

// errNoInstanceID is the ambiguous failure of a create answered 2xx without
// an instance id (an empty body, or {}).
var errNoInstanceID = errors.New("the platform answered without an instance id")

// errPending is the outcome of a create that may have been made, which the
// list did not show within MaxLagWait: it is neither adopted nor sent again.
var errPending = errors.New("the create's outcome is unknown: the list did not show the instance in time, and sending it again could make a second one; rerun to resolve it")

// create creates the instance. After a failure that may have created it (an
// ambiguous one), or a refused authorization code (used by that failure, or
// by another run), it looks the instance up by its marker before anything
// else, and believes a "not found" only from a list that has caught up with
// the failed create (see listings): it never sends a create again on the word
// of a list that may lag. When the list does not catch up in time, the
// account is left pending (errPending).
func (r *runner) create(ctx context.Context, c Change, res *Result) (*Instance, error) {
	d := *c.Desired
	var failures, throttles int
	for {
		res.Attempts++
		var inst Instance
		var sent time.Time
		err := r.call(ctx, true, func(ctx context.Context) error {
			sent = time.Now()
			var err error
			inst, err = r.pf.Create(ctx, d)
			if err == nil && inst.ID == "" {
				// A 2xx without an id: created or not, the answer cannot say.
				err = &APIError{Platform: string(r.pf.Name()), Op: "create", Err: errNoInstanceID}
			}
			return err
		})
		if err == nil {
			r.lists.noteCreated(inst.ID, sent, time.Now())
			return &inst, nil
		}
		class := Classify(err)
		refused := codeRefused(err)
		switch {
		case class == Ambiguous || refused:
			// By now the create has committed, if it ever will; a timeout
			// may still be on its way to the platform: give it the slack.
			by := time.Now()
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
				by = by.Add(createSlack)
			}
			msg := "create outcome unknown: looking it up before any retry"
			if refused {
				msg = "authorization code refused as used: looking up the instance an earlier attempt or another run made with it"
			}
			r.opts.Log.Info().Str("account", c.Name).Str("error", r.opts.Scrub(err.Error())).Msg(msg)
			found, settled, lerr := r.resolve(ctx, d, by)
			switch {
			case found != nil:
				r.opts.Log.Info().Str("account", c.Name).Str("instanceId", found.ID).Msg("adopted the instance the unclear create made")
				return found, nil
			case lerr != nil && Classify(lerr) == Canceled:
				return nil, lerr
			case !settled:
				if lerr != nil {
					err = errors.Join(err, fmt.Errorf("look up after an unclear create: %w", lerr))
				}
				return nil, fmt.Errorf("%w: %w", errPending, err)
			case refused:
				return nil, err // no instance was made with the code: it is spent or wrong
			}
			// Surely not created: send it again.
		case class == Transient:
		default:
			return nil, err
		}
		if isThrottle(err) {
			throttles++
		} else {
			failures++
		}
		wait, rerr := r.pol.retry(failures, throttles, err)
		if rerr != nil {
			return nil, rerr
		}
		r.noteRetry(c.Name, failures, wait, err)
		if serr := waitOut(ctx, wait); serr != nil {
			return nil, fmt.Errorf("interrupted before retrying: %w", errors.Join(serr, err))
		}
	}
}

// resolve looks up the instance of d that a create, which committed by by if
// it ever did, may have made: at once by marker, then, when that finds none,
// in the set's listings until one covers by (lists may lag). settled says
// whether the answer is sure: found, or surely not made.
func (r *runner) resolve(ctx context.Context, d Desired, by time.Time) (*Instance, bool, error) {
	found, err := r.Lookup(ctx, d.Set, d.Account.Name)
	if err == nil && found != nil {
		return found, true, nil
	}
	if err != nil && Classify(err) == Canceled {
		return nil, false, err
	}
	return r.lists.await(ctx, d.Account.Name, by)
}

// codeRefused reports whether err is a create refused because its OAuth
// authorization code was already exchanged (HubSpot's BAD_AUTH_CODE,
// OAuth's invalid_grant): the code may have made an instance after all.
func codeRefused(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Op == "create" && ae.Status == 400 &&
		(strings.Contains(ae.Message, "BAD_AUTH_CODE") || strings.Contains(ae.Message, "invalid_grant"))
}

// update changes the instance. A stale version (412) is re-read and retried.
func (r *runner) update(ctx context.Context, c Change, res *Result) (*Instance, error) {
	cur := *c.Remote
	var inst Instance
	for refreshes := 0; ; refreshes++ {
		err := r.retrying(ctx, request{write: true, account: c.Name, attempts: &res.Attempts}, func(ctx context.Context) error {
			var err error
			inst, err = r.pf.Update(ctx, cur, *c.Desired)
			return err
		})
		var ae *APIError
		if err == nil || !errors.As(err, &ae) || ae.Status != 412 || refreshes >= 3 {
			if err != nil {
				return nil, err
			}
			return &inst, nil
		}
		if gerr := r.retrying(ctx, request{account: c.Name}, func(ctx context.Context) error {
			var err error
			cur, err = r.pf.Get(ctx, c.Remote.ID)
			return err
		}); gerr != nil {
			return nil, fmt.Errorf("re-read after a stale version: %w", gerr)
		}
	}
}

// delete removes the instance. One already gone (404) counts as deleted,
// and gone says so: another run deleted it first.
func (r *runner) delete(ctx context.Context, c Change, res *Result) (gone bool, err error) {
	err = r.retrying(ctx, request{write: true, account: c.Name, attempts: &res.Attempts}, func(ctx context.Context) error {
		return r.pf.Delete(ctx, *c.Remote)
	})
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == 404 {
		r.lists.noteDeleted(c.Remote.ID)
		return true, nil
	}
	if err == nil {
		r.lists.noteDeleted(c.Remote.ID)
	}
	return false, err
}

// duplicate deletes the account's extra instances, then updates the one kept
// when it differs from the manifest.
func (r *runner) duplicate(ctx context.Context, c Change, res *Result) (*Instance, error) {
	for _, x := range c.Extras {
		gone, err := r.delete(ctx, Change{Name: c.Name, Remote: x}, res)
		if err != nil {
			return nil, fmt.Errorf("delete duplicate instance %s: %w", x.ID, err)
		}
		if gone {
			continue // another run deleted it first: not this run's deletion
		}
		res.DuplicatesDeleted++
		r.opts.Log.Info().Str("account", c.Name).Str("deleted", x.ID).Str("kept", c.Remote.ID).Msg("deleted a duplicate instance, kept the oldest")
	}
	if len(c.Fields) == 0 {
		return c.Remote, nil
	}
	return r.update(ctx, c, res)
}

// converge ends a run that sent a create: it lists the set again and
// resolves the duplicates it finds among the plan's accounts, keeping the
// oldest of each (as every run does), so that runs started together on two
// machines converge, and maps each account's result to the survivor.
//
// A run that finishes first can only map an account right if the instance it
// keeps is the one every other run keeps too: the oldest. So it trusts a
// listing alone only when it shows no sign of another run at work nor of a
// lagging list (see listings.doubt), which is the one listing of a run alone
// in its set; else only once it is settled (see listings.settled): the list
// has caught up with this run's creates, so an older instance would show,
// and nothing left the list meanwhile but what this run deleted, so no
// delete of another run made a page skip one. An instance another run
// creates later is younger, and that run deletes it. It waits at most
// MaxLagWait for a trusted listing, then resolves with the last one, with a
// warning.
func (r *runner) converge(ctx context.Context) {
	sent := false
	for _, res := range r.out {
		sent = sent || (res.Action == Create && (res.Status == Succeeded || res.Status == Failed || res.Reason == ReasonPending))
	}
	if !sent {
		return
	}
	s, err := r.settledListing(ctx)
	if err != nil {
		r.opts.Log.Warn().Str("error", r.opts.Scrub(err.Error())).Msg("the end-of-run listing failed: duplicates made by other runs, if any, are resolved by the next run")
		return
	}
	budget := -1
	if r.opts.MaxDeletes != nil {
		budget = *r.opts.MaxDeletes - r.plan.Deletions()
	}
	for i := range r.out {
		res := &r.out[i]
		c := r.plan.Changes[i]
		same := s.byName[res.Name]
		if c.Desired == nil || len(same) == 0 {
			continue
		}
		keep := Oldest(same)
		switch {
		case res.Action == Create && res.Status == Failed && res.Error != nil && res.Error.Class == Item && keep.Fingerprint == c.Desired.Fingerprint:
			// Refused here (a code another run used first, say), but
			// another run created the account just as planned: done.
			r.opts.Log.Info().Str("account", res.Name).Str("instanceId", keep.ID).Msg("another run created this account as planned: adopted")
			res.Status, res.Error = Succeeded, nil
			res.InstanceID = ""
		case res.Reason == ReasonPending:
			r.opts.Log.Info().Str("account", res.Name).Str("instanceId", keep.ID).Msg("the end-of-run listing shows the instance the unclear create made: adopted")
			res.Status, res.Reason, res.Error = Succeeded, "", nil
			res.InstanceID = ""
		}
		if res.Status != Succeeded && res.Status != Unhealthy {
			continue
		}
		for _, x := range same {
			if x.ID == keep.ID {
				continue
			}
			if budget == 0 {
				r.opts.Log.Warn().Str("account", res.Name).Str("instanceId", x.ID).Msg("a duplicate instance is left: --max-deletes reached; the next apply deletes it")
				continue
			}
			gone, err := r.delete(ctx, Change{Name: res.Name, Remote: &x}, &Result{})
			if err != nil {
				r.opts.Log.Warn().Str("account", res.Name).Str("instanceId", x.ID).Str("error", r.opts.Scrub(err.Error())).Msg("could not delete a duplicate instance; the next apply retries")
				continue
			}
			if gone {
				continue // another run deleted it first: not this run's deletion
			}
			budget--
			res.DuplicatesDeleted++
			r.opts.Log.Info().Str("account", res.Name).Str("deleted", x.ID).Str("kept", keep.ID).Msg("another run created this account too: kept the oldest instance")
		}
		if res.InstanceID != keep.ID {
			res.InstanceID = keep.ID
			res.Token = keep.Token
			if r.opts.Journal != nil {
				if err := r.opts.Journal.Outcome(*res); err != nil {
					r.journalFailed(err)
				}
			}
		}
	}
}

// settledListing lists the set until a listing can be trusted alone (see
// listings.doubt) or is settled (see listings.settled), for at most
// MaxLagWait; then it returns the last one.
func (r *runner) settledListing(ctx context.Context) (*snapshot, error) {
	deadline := time.Now().Add(r.lagWait())
	var prev *snapshot
	after := time.Now()
	for wait := lagPoll; ; {
		s, err := r.lists.fresh(ctx, after)
		if err != nil {
			return nil, err
		}
		doubt := r.lists.doubt(s)
		switch {
		case doubt == "":
			return s, nil
		case prev != nil && r.lists.settled(prev, s):
			return s, nil
		case time.Now().After(deadline):
			r.opts.Log.Warn().Dur("waited", r.lagWait()).
				Msg("the list did not settle (it lags behind this run's creates, or another run is deleting): duplicates are resolved by what it shows; a report of a run started together with this one may name another instance until the next apply")
			return s, nil
		}
		if prev != nil {
			if err := sleep(ctx, wait); err != nil {
				return nil, err
			}
			wait = min(2*wait, 5*time.Second)
		} else {
			r.opts.Log.Debug().Str("why", doubt).Msg("the end-of-run listing is not trusted alone: listing again until two agree")
		}
		prev, after = s, s.start.Add(time.Nanosecond)
	}
}

// verify marks the account's instance Unhealthy unless valid and enabled: an
// unchanged one as the run's list showed it, when the list said; otherwise as
// a read by id answers.
func (r *runner) verify(ctx context.Context, c Change, res *Result) {
	var inst Instance
	var err error
	if c.Action == Unchanged && c.Remote != nil && c.Remote.Health {
		inst = *c.Remote // the list this run read says valid and disabled: no read needed
	} else {
		err = r.retrying(ctx, request{account: res.Name}, func(ctx context.Context) error {
			var err error
			inst, err = r.pf.Get(ctx, res.InstanceID)
			return err
		})
	}
	switch {
	case err != nil:
		res.Status = Unhealthy
		res.Error = r.resultError(fmt.Errorf("verify: %w", err))
	case !inst.Valid || !inst.Enabled:
		res.Status = Unhealthy
		what := "not valid"
		if inst.Valid {
			what = "disabled"
		}
		res.Error = &ResultError{Class: Item, Message: "verify: the platform reports the instance " + what}
	}
}
