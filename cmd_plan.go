package main

import (
	"context"
	"fmt"
)

func runPlan(ctx context.Context, env *cmdEnv, args []string) int {
	fs := newFlagSet("plan", "hubprov plan -f MANIFEST... [flags]",
		`Reads the platform's instances of the set (one list request per 200 instances) and
prints, per account, create, update (which fields), unchanged or, with --prune, delete.
Changes nothing.`, env)
	var c commonFlags
	c.register(fs)
	prune := fs.Bool("prune", false, "also plan deleting instances of this set that the manifest no longer lists")
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	verbose := fs.Bool("verbose", false, "also list unchanged accounts")
	detailed := fs.Bool("detailed-exitcode", false, "exit 2 when changes are pending, 0 when none")
	emulate := fs.Bool("emulate", false, "plan against the built-in emulator (state kept in "+emulatorState+")")
	if code, ok := parseFlags(fs, env, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.stderr, "hubprov plan: unexpected argument %q\nhint: manifests are given with -f\n", fs.Arg(0))
		return exitInvalid
	}
	s, code := openSession(env, &c, 8, *emulate)
	if s == nil {
		return code
	}
	defer s.close(env)
	plan, code := s.plan(ctx, env, *prune, "")
	if code != exitOK {
		return code
	}
	if *asJSON {
		_ = plan.WriteJSON(env.stdout)
	} else {
		fmt.Fprintf(env.stdout, "plan: set %q on %s (%s), %d accounts\n", s.m.Set, s.m.Target.Platform, s.baseURL, len(s.accounts))
		_ = plan.WriteText(env.stdout, *verbose)
	}
	if *detailed && plan.HasChanges() {
		return exitChanges
	}
	return exitOK
}
