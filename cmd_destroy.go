package main

import (
	"context"

	"github.com/hubprov/hubprov/provision"
)

func runDestroy(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("destroy", "hubprov destroy -f MANIFEST... [flags]",
		`Deletes the instances of this set that the manifest lists (narrow with --select or
--shard). Instances without the set's marker are never touched.`, env)
	var c commonFlags
	var e engineFlags
	c.register(fs)
	e.register(fs)
	maxDeletes := fs.Int("max-deletes", -1, "refuse, before any change, when more than `N` deletions are planned (-1: no limit)")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return unexpectedArg(fs.Arg(0), "manifests are given with -f")
	}
	opts, err := e.options()
	if err != nil {
		return err
	}
	return engineRun(ctx, env, "destroy", &c, &e, opts, func(plan *provision.Plan) error {
		if n := plan.Deletions(); *maxDeletes >= 0 && n > *maxDeletes {
			return invalidf("%d deletions planned, more than --max-deletes %d: nothing was changed", n, *maxDeletes)
		}
		return nil
	}, false)
}
