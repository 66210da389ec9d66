package provision

import (
	"context"
	"fmt"
)

// ReadRemote lists the set's instances under the run's policy, then looks up
// every create a crashed run left pending (pending, from PendingCreates) that
// the list does not show, and adds what it finds: a lagging list cannot make
// the next run create an account twice.
func (r *Run) ReadRemote(ctx context.Context, set string, pending []string) ([]Instance, error) {
	remote, err := r.List(ctx, set)
	if err != nil {
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
		found, err := r.Lookup(ctx, set, name)
		if err != nil {
			return nil, fmt.Errorf("look up %q, left pending by an interrupted run: %w", name, err)
		}
		if found != nil {
			r.opts.Log.Info().Str("account", name).Str("instanceId", found.ID).Msg("adopted an instance created by an interrupted run")
			remote = append(remote, *found)
			seen[name] = true
		}
	}
	return remote, nil
}
