package provision

import (
	"context"
	"fmt"
)

// ReadRemote lists the set's instances under the run's retry policy, then looks
// up every create a crashed run left pending (pending, from PendingCreates)
// that the list does not show, and adds what it finds: a lagging list cannot
// make the next run create an account twice.
func ReadRemote(ctx context.Context, pf Platform, set string, pending []string, opts Options) ([]Instance, error) {
	r := newRunner(pf, opts, func() {})
	opts = r.opts
	var remote []Instance
	res := &Result{Name: "(list)"}
	if err := r.retrying(ctx, res, func(ctx context.Context) error {
		var err error
		remote, err = pf.List(ctx, set)
		return err
	}); err != nil {
		return nil, fmt.Errorf("list the instances of set %q: %w", set, err)
	}
	seen := make(map[string]bool, len(remote))
	for _, in := range remote {
		seen[in.Name] = true
	}
	for _, name := range pending {
		if seen[name] {
			continue
		}
		var found *Instance
		if err := r.retrying(ctx, res, func(ctx context.Context) error {
			var err error
			found, err = pf.Lookup(ctx, set, name)
			return err
		}); err != nil {
			return nil, fmt.Errorf("look up %q, left pending by an interrupted run: %w", name, err)
		}
		if found != nil {
			opts.Log.Info().Str("account", name).Str("instanceId", found.ID).Msg("adopted an instance created by an interrupted run")
			remote = append(remote, *found)
			seen[name] = true
		}
	}
	return remote, nil
}
