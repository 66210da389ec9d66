package provision

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// ReadRemote lists the set's instances under the run's policy, then settles
// what earlier runs left behind (rec, from the journal and the previous
// report) for the accounts the list does not show: an instance known by id is
// read by id, since lists may lag behind writes while reads by id are current
// (a 404 means it is gone); a create left pending is looked up by its marker.
// What it finds is added to the instances, and also returned as recovered, for
// the new journal to carry forward. Only then may a plan create anything.
func (r *Run) ReadRemote(ctx context.Context, set string, rec Recovery) (remote, recovered []Instance, err error) {
	remote, err = r.List(ctx, set)
	if err != nil {
		return nil, nil, fmt.Errorf("list the instances of set %q: %w", set, err)
	}
	seen := make(map[string]bool, len(remote))
	for _, in := range remote {
		seen[in.Name] = true
	}
	adopt := func(in Instance, why string) {
		r.opts.Log.Info().Str("account", in.Name).Str("instanceId", in.ID).Msg(why)
		remote = append(remote, in)
		recovered = append(recovered, in)
		seen[in.Name] = true
	}
	var lagging []Instance // read by id, missing from the list
	for _, name := range sortedKeys(rec.Known) {
		if seen[name] {
			continue
		}
		id := rec.Known[name]
		in, err := r.Get(ctx, name, id)
		var ae *APIError
		switch {
		case errors.As(err, &ae) && ae.Status == 404:
			r.opts.Log.Info().Str("account", name).Str("instanceId", id).Msg("an instance recorded earlier is gone")
		case err != nil:
			return nil, nil, fmt.Errorf("read instance %s of %q, which the list does not show: %w", id, name, err)
		case in.Set == set && in.Name == name:
			adopt(in, "the list does not show this instance yet (lists lag): read by id")
			lagging = append(lagging, in)
		}
	}
	var unresolved []string
	for _, name := range rec.Pending {
		if seen[name] {
			continue
		}
		found, err := r.Lookup(ctx, set, name)
		if err != nil {
			return nil, nil, fmt.Errorf("look up %q, left pending by an interrupted run: %w", name, err)
		}
		if found != nil {
			adopt(*found, "adopted an instance created by an interrupted run")
		} else {
			unresolved = append(unresolved, name)
		}
	}
	if len(unresolved) > 0 && len(lagging) > 0 {
		// The list lags (it missed instances that exist), so "not found" may
		// only mean "not listed yet": wait until the list has caught up with
		// the moment those creates were sent before believing it.
		found, err := r.awaitListing(ctx, set, unresolved, lagging, rec.PendingSince)
		if err != nil {
			return nil, nil, err
		}
		for _, in := range found {
			adopt(in, "adopted an instance created by an interrupted run, once the lagging list showed it")
		}
	}
	return remote, recovered, nil
}

// The bounds of awaitListing: a create takes at most createSlack to commit
// after its intent; the wait gives up after MaxLagWait (default maxLagWait).
var (
	createSlack = 2 * time.Second
	maxLagWait  = 2 * time.Minute
	lagPoll     = 500 * time.Millisecond
)

// awaitListing lists the set again and again until the list shows every
// instance of lagging (read by id, missing from the list), and then until
// its horizon (now minus the lag observed) has passed since plus
// createSlack, collecting the instances of names that appear meanwhile.
func (r *Run) awaitListing(ctx context.Context, set string, names []string, lagging []Instance, since time.Time) ([]Instance, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	newest := time.Time{}
	for _, in := range lagging {
		newest = laterOf(newest, in.Created)
	}
	r.opts.Log.Warn().Int("pending", len(names)).Int("unlisted", len(lagging)).
		Msg("the list lags behind writes: waiting for it to catch up before creating again what an interrupted run may have created")
	start := time.Now()
	var found []Instance
	var lag time.Duration = -1
	for wait := lagPoll; ; wait = min(2*wait, 5*time.Second) {
		if err := sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("wait for the list to catch up: %w", err)
		}
		listed, err := r.List(ctx, set)
		if err != nil {
			return nil, fmt.Errorf("list the instances of set %q again: %w", set, err)
		}
		shown := map[string]bool{}
		for _, in := range listed {
			shown[in.ID] = true
			if want[in.Name] && in.Set == set {
				delete(want, in.Name)
				found = append(found, in)
			}
		}
		now := time.Now()
		if lag < 0 {
			caught := true
			for _, in := range lagging {
				caught = caught && shown[in.ID]
			}
			if caught && !newest.IsZero() {
				lag = now.Sub(newest)
			}
		}
		switch {
		case len(want) == 0:
			return found, nil
		case lag >= 0 && !now.Add(-lag).Before(since.Add(createSlack)):
			return found, nil
		case now.Sub(start) > r.lagWait():
			r.opts.Log.Warn().Int("pending", len(want)).Msg("the list did not catch up: creating the rest; the next run resolves any duplicate")
			return found, nil
		}
	}
}

// Get reads the instance with id (of account name, for logs) under the run's policy.
func (r *Run) Get(ctx context.Context, name, id string) (Instance, error) {
	var in Instance
	err := r.retrying(ctx, request{account: name}, func(ctx context.Context) error {
		var err error
		in, err = r.pf.Get(ctx, id)
		return err
	})
	return in, err
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
