package main

import (
	"context"
	"fmt"

	"github.com/hubprov/hubprov/provision"
)

func runDestroy(ctx context.Context, env *cmdEnv, args []string) int {
	fs := newFlagSet("destroy", "hubprov destroy -f MANIFEST... [flags]",
		`Deletes the instances of this set that the manifest lists (narrow with --select or
--shard). Instances without the set's marker are never touched.`, env)
	var c commonFlags
	var e engineFlags
	c.register(fs)
	e.register(fs)
	maxDeletes := fs.Int("max-deletes", -1, "refuse, before any change, when more than `N` deletions are planned (-1: no limit)")
	if code, ok := parseFlags(fs, env, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.stderr, "hubprov destroy: unexpected argument %q\nhint: manifests are given with -f\n", fs.Arg(0))
		return exitInvalid
	}
	opts, err := e.options()
	if err != nil {
		fmt.Fprintf(env.stderr, "hubprov destroy: %v\n", err)
		return exitInvalid
	}
	return engineRun(ctx, env, "destroy", &c, &e, opts, func(_ *session, plan *provision.Plan) (int, bool) {
		if n := len(plan.Changes); *maxDeletes >= 0 && n > *maxDeletes {
			fmt.Fprintf(env.stderr, "hubprov destroy: %d deletions planned, more than --max-deletes %d: nothing was changed\n", n, *maxDeletes)
			return exitInvalid, false
		}
		return 0, true
	}, false)
}
