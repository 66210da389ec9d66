package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/hubprov/hubprov/internal/safefile"
	"github.com/hubprov/hubprov/provision"
)

func runPlan(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("plan", "hubprov plan -f MANIFEST... [flags]",
		`Reads the platform's instances of the set (one list request per 200 instances) and
prints, per account, create, update (which fields), unchanged or, with --prune, delete.
Changes nothing. With --out, saves the plan for review; 'hubprov apply FILE' then applies
exactly that plan, or refuses if the manifests or the platform moved in between.`, env)
	var c commonFlags
	var pol policyFlags
	c.register(fs)
	pol.register(fs)
	prune := fs.Bool("prune", false, "also plan deleting instances of this set that the manifest no longer lists")
	format := fs.String("format", "text", "output `FORMAT`: text, json (the saved-plan document; its JSON Schema: hubprov schema plan) or markdown (a summary table and per-account details for a pull-request comment)")
	asJSON := fs.Bool("json", false, "print the plan as JSON (the same as --format json): the document --out saves")
	out := fs.String("out", "", "also save the plan to `FILE` for 'hubprov apply FILE' (no secret values)")
	verbose := fs.Bool("verbose", false, "also list unchanged accounts (text format)")
	detailed := fs.Bool("detailed-exitcode", false, "exit 2 when changes are pending, 0 when none")
	emulate := fs.Bool("emulate", false, "plan against the built-in emulator (state kept in "+emulatorState+")")
	report := fs.String("report", "hubprov-report.json", "read the report at `PATH` and its journal (PATH.journal), as apply does, so an instance a lagging list does not show yet is read by id, not planned as a create; nothing is written there")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return unexpectedArg(fs.Arg(0), "manifests are given with -f")
	}
	if *asJSON {
		*format = "json"
	}
	if *format != "text" && *format != "json" && *format != "markdown" {
		return invalidf("--format %q: want text, json or markdown", *format)
	}
	if *out != "" {
		if err := safefile.CheckOutput(*out); err != nil {
			return invalidf("--out %s: %v; nothing was sent", *out, err).withHint("remove it, or pass another path")
		}
	}
	opts, err := pol.options()
	if err != nil {
		return err
	}
	s, err := openSession(env, &c, opts, *emulate)
	if err != nil {
		return err
	}
	defer s.close(env)
	plan, err := s.plan(ctx, *prune, *report, false)
	if err != nil {
		return err
	}
	// --json prints the document --out saves: one plan format (hubprov schema plan).
	sp := plan.Save(provision.SavedPlan{
		CreatedAt: time.Now().UTC(), HubprovVersion: hubprovVersion(), BaseURL: s.baseURL, Emulated: *emulate,
		Manifests: manifestFiles(s), Prune: *prune, Select: c.selectors, Shard: c.shard,
	})
	if *out != "" {
		if err := safefile.WriteAtomic(*out, func(w io.Writer) error { return provision.WriteSaved(w, sp) }); err != nil {
			return failuresf("%v", err)
		}
		s.log.Info().Str("path", *out).Msg("plan saved: apply it with 'hubprov apply " + *out + "'")
	}
	switch *format {
	case "json":
		_ = provision.WriteSaved(env.stdout, sp)
	case "markdown":
		_ = plan.WriteMarkdown(env.stdout, fmt.Sprintf("hubprov plan: set %s on %s", s.m.Set, s.m.Target.Platform))
	default:
		fmt.Fprintf(env.stdout, "plan: set %q on %s (%s), %d accounts\n", s.m.Set, s.m.Target.Platform, s.baseURL, len(s.accounts))
		_ = plan.WriteText(env.stdout, *verbose)
	}
	if *detailed && plan.HasChanges() {
		return exitStatus(exitChanges)
	}
	return nil
}

// manifestFiles lists the session's manifest files with their digests.
func manifestFiles(s *session) []provision.ManifestFile {
	var out []provision.ManifestFile
	for _, f := range s.m.Files {
		out = append(out, provision.ManifestFile{Path: f.Path, SHA256: f.SHA256})
	}
	return out
}
