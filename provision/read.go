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
		r.opts.Log.Warn().Int("pending", len(unresolved)).Int("unlisted", len(lagging)).
			Msg("the list lags behind writes: waiting for it to catch up before creating again what an interrupted run may have created")
		found, open, err := newListings(r, set).awaitAll(ctx, unresolved, rec.PendingSince)
		if err != nil {
			return nil, nil, fmt.Errorf("wait for the list of set %q to catch up: %w", set, err)
		}
		for _, name := range unresolved {
			if in, ok := found[name]; ok {
				adopt(in, "adopted an instance created by an interrupted run, once the lagging list showed it")
			}
		}
		if len(open) > 0 {
			r.opts.Log.Warn().Int("pending", len(open)).Msg("the list did not catch up: creating the rest; the next run resolves any duplicate")
		}
	}
	return remote, recovered, nil
}

// The bounds of a wait for a lagging list (listings): a create takes at most
// createSlack to commit after its intent; the wait gives up after MaxLagWait
// (default maxLagWait).
var (
	createSlack = 2 * time.Second
	maxLagWait  = 2 * time.Minute
	lagPoll     = 500 * time.Millisecond
)

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
