package provision

import (
	"context"
	"slices"
	"sync"
	"time"
)

// listings are the listings of one set that a run takes after it has written:
// they tell how far the list has caught up with the run's creates (lists may
// lag behind writes, and may skip an instance while another run deletes),
// and they are shared by the accounts that wait on them, so that many waiting
// accounts cost one listing at a time.
//
// The list's horizon is what the run can prove every listing shows: creates
// committed before it. Two things prove it, neither trusting the list's word
// that something is absent:
//   - a probe: an instance this run created, whose create was sent at p, is
//     listed; its create committed after p, so a list that shows it shows
//     every create committed before p (lists show creates in the order they
//     commit);
//   - the lag observed: a listing that ended at e shows an instance created
//     at c, so the list lags by at most e-c; a listing begun at s then shows
//     what was created before s-(e-c). The platform's clock and this one's
//     may differ: createSlack is the margin.
type listings struct {
	run *Run
	set string

	mu      sync.Mutex
	read    map[string]bool      // the instances the run's plan was made from, by id
	created map[string]createdAt // this run's instances, by id
	deleted map[string]bool      // the instances this run deleted, by id
	lag     time.Duration        // an upper bound of the list's lag; -1 until a listing showed a creation time
	last    *snapshot            // the latest listing
	flight  *listingFlight       // the listing in progress, if any
}

// createdAt is when this run sent the create of an instance and when the answer came.
type createdAt struct{ sent, answered time.Time }

// snapshot is one listing of the set.
type snapshot struct {
	start  time.Time             // when the listing began (this machine's clock)
	byName map[string][]Instance // the set's instances by account name
	ids    map[string]bool
	probe  time.Time     // the latest send time of this run's creates whose instance the listing shows
	lag    time.Duration // the lag bound known when the listing ended; -1 unknown
	total  listTotal     // whether the totals its pages reported held
}

type listingFlight struct {
	start time.Time
	done  chan struct{}
	err   error
}

func newListings(run *Run, set string) *listings {
	return &listings{run: run, set: set, read: map[string]bool{}, created: map[string]createdAt{}, deleted: map[string]bool{}, lag: -1}
}

// noteRead records the instances plan was made from: what the run read
// before it wrote anything (Plan.Read, and the instances its changes name).
func (l *listings) noteRead(plan Plan) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range plan.Read {
		l.read[plan.Read[i].ID] = true
	}
	for _, c := range plan.Changes {
		if c.Remote != nil {
			l.read[c.Remote.ID] = true
		}
		for _, x := range c.Extras {
			l.read[x.ID] = true
		}
	}
}

// noteCreated records an instance this run created: a probe for later listings.
func (l *listings) noteCreated(id string, sent, answered time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.created[id] = createdAt{sent, answered}
}

// noteDeleted records an instance this run deleted: its leaving the list is
// no sign of another run's deletes.
func (l *listings) noteDeleted(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.deleted[id] = true
}

// fresh returns a listing begun at or after t: the latest one when it did,
// the one in progress when it began late enough, else a new one.
func (l *listings) fresh(ctx context.Context, t time.Time) (*snapshot, error) {
	for {
		l.mu.Lock()
		if l.last != nil && !l.last.start.Before(t) {
			s := l.last
			l.mu.Unlock()
			return s, nil
		}
		if f := l.flight; f != nil {
			l.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if f.err != nil && !f.start.Before(t) && ctx.Err() == nil {
				return nil, f.err
			}
			continue
		}
		f := &listingFlight{start: time.Now(), done: make(chan struct{})}
		l.flight = f
		l.mu.Unlock()
		s, err := l.list(ctx, f.start)
		l.mu.Lock()
		l.flight, f.err = nil, err
		if err == nil && (l.last == nil || l.last.start.Before(s.start)) {
			l.last = s
		}
		l.mu.Unlock()
		close(f.done)
		return s, err
	}
}

// list takes one listing begun at start and learns from it.
func (l *listings) list(ctx context.Context, start time.Time) (*snapshot, error) {
	all, total, err := l.run.list(ctx, Query{Set: l.set}, request{})
	if err != nil {
		return nil, err
	}
	end := time.Now()
	s := &snapshot{start: start, byName: map[string][]Instance{}, ids: map[string]bool{}, total: total}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, in := range all {
		if in.Set != l.set {
			continue
		}
		s.byName[in.Name] = append(s.byName[in.Name], in)
		s.ids[in.ID] = true
		if c, ok := l.created[in.ID]; ok && c.sent.After(s.probe) {
			s.probe = c.sent
		}
		if !in.Created.IsZero() {
			if d := max(end.Sub(in.Created), 0); l.lag < 0 || d < l.lag {
				l.lag = d
			}
		}
	}
	s.lag = l.lag
	return s, nil
}

// covers reports whether listing s surely shows a create that committed
// before t (this machine's clock), were it there.
func (s *snapshot) covers(t time.Time) bool {
	if !s.probe.IsZero() && !s.probe.Before(t) {
		return true
	}
	return s.lag >= 0 && !s.start.Add(-s.lag).Before(t.Add(createSlack))
}

// await lists the set until a listing shows an instance of account name, or
// surely would (it covers t, by when the create in question had committed if
// it ever did), or lagWait has passed. It returns the instance found (the
// oldest, if several), and whether the question is settled: found, or surely
// absent. Waiting lets the account's slot go.
func (l *listings) await(ctx context.Context, name string, t time.Time) (*Instance, bool, error) {
	found, open, err := l.awaitAll(ctx, []string{name}, t)
	if err != nil {
		return nil, false, err
	}
	if in, ok := found[name]; ok {
		return &in, true, nil
	}
	return nil, len(open) == 0, nil
}

// awaitAll is await for several accounts at once, within one lagWait: it
// returns the oldest instance of each account a listing shows, and the
// accounts still open (neither shown nor surely absent) when the wait ended.
func (l *listings) awaitAll(ctx context.Context, names []string, t time.Time) (map[string]Instance, []string, error) {
	deadline := time.Now().Add(l.run.lagWait())
	found := map[string]Instance{}
	open := slices.Clone(names)
	after := t
	for wait := lagPoll; ; wait = min(2*wait, 5*time.Second) {
		s, err := l.fresh(ctx, after)
		if err != nil {
			return nil, nil, err
		}
		rest := open[:0]
		for _, name := range open {
			if same := s.byName[name]; len(same) > 0 {
				found[name] = *Oldest(same)
			} else {
				rest = append(rest, name)
			}
		}
		open = rest
		if len(open) == 0 || s.covers(t) {
			return found, nil, nil
		}
		if time.Now().After(deadline) {
			return found, open, nil
		}
		if err := waitOut(ctx, wait); err != nil {
			return nil, nil, err
		}
		after = s.start.Add(time.Nanosecond)
	}
}

// settled reports whether listing prev, and so s, taken after it, can be
// trusted to show every instance of the set that a concurrent run may keep:
// nothing of prev left the list by s but what this run deleted (another run
// deleting while a listing pages through makes it skip an instance, and the
// instance it deleted, which the listing had shown, is gone from the next
// one), and every instance this run created is in prev or surely would be
// (the list had caught up with its create). s holds all of prev.
func (l *listings) settled(prev, s *snapshot) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id := range prev.ids {
		if !s.ids[id] && !l.deleted[id] {
			return false
		}
	}
	for id, c := range l.created {
		if !prev.ids[id] && !l.deleted[id] && !prev.covers(c.answered) {
			return false
		}
	}
	return true
}

// doubt returns why listing s cannot be trusted alone to show every instance
// of the set that a concurrent run may keep, or "" when it can: when it
// shows no sign of another run at work in the set nor of a lagging list, so
// that the end of a run lists once, not until two listings settle. It can
// when s began after this run's last create was answered and
//   - it shows every instance this run created and did not delete: the list
//     has caught up with this run's creates, and so shows every create that
//     committed before them (lists show creates in the order they commit),
//     an older instance of one of this run's accounts made by another run
//     included;
//   - it shows every instance the run's plan was made from (what its start
//     read showed: extras, and the accounts outside --select or --shard,
//     included) and this run did not delete;
//   - it shows no instance of the set that this run neither read nor
//     created: such an instance is another run creating in the set;
//   - where the platform reports a total, every page reported the same one
//     and the pages held that many items (listTotal).
//
// A listing misses an instance for two reasons only: lag, and a delete by
// another run while it pages through (with offset page tokens, the pages
// after the deleted instance start one too far, and skip one). Lag no
// longer hides an instance that may be kept: one that committed after this
// run's last create is younger than every instance this run made or read,
// so no run keeps it over them, and the run that made it deletes it. A
// delete while the listing pages changes the total between two pages, or
// leaves the listing short of it. A create that kept the count committed
// during the listing, so it is younger than every instance this run holds;
// ahead of the listing it shows as an unknown instance, behind it it moves
// the pages back by one, undoing the skip. A delete before the listing
// began skips nothing, nor does one ahead of it (if the instance was one
// this run knows, the listing misses it, and that shows). So a listing that
// passes can be trusted as a settled pair of listings is, and a run alone
// in its set lists once.
//
// When the platform gives no total (Flow Service), one narrow case is left,
// which only the settled pair catches: another run whose only surviving
// instance in the set sits exactly at the page boundary of this listing
// deletes, just as the listing turns that page, an instance the listing
// already paged over (one this run made or read: an instance of its own
// would show as unknown). The next page skips its instance, and nothing
// else in the listing shows that run at work. A one-page listing has no
// boundary.
func (l *listings) doubt(s *snapshot) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.total == totalMoved {
		return "the totals its pages reported changed, or the pages held another number of items: the set changed while it was listed"
	}
	for id, c := range l.created {
		switch {
		case s.start.Before(c.answered):
			return "it began before this run's last create was answered"
		case !s.ids[id] && !l.deleted[id]:
			return "it does not show instance " + id + ", which this run created: the list lags, or another run deleted it"
		}
	}
	for id := range l.read {
		if !s.ids[id] && !l.deleted[id] {
			return "it does not show instance " + id + ", which this run read at its start: the list lags, or another run deleted it"
		}
	}
	for id := range s.ids {
		if _, made := l.created[id]; !made && !l.read[id] {
			return "it shows instance " + id + ", which this run neither read nor created: another run is creating in the set"
		}
	}
	return ""
}

// lagWait is how long a run waits for a lagging list to catch up.
func (r *Run) lagWait() time.Duration {
	if r.opts.MaxLagWait > 0 {
		return r.opts.MaxLagWait
	}
	return maxLagWait
}
