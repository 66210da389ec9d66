package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hubprov/hubprov/internal/safefile"
	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
)

// engineFlags are the flags of the commands that write: apply and destroy.
type engineFlags struct {
	parallelism    int
	rate           float64
	maxAttempts    int
	requestTimeout time.Duration
	maxFailures    string
	report         string
	junit          string
	emulate        bool
	noProgress     bool
}

func (e *engineFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&e.parallelism, "parallelism", 8, "accounts processed at once")
	fs.Float64Var(&e.rate, "rate", 0, "requests per second for the whole run (0: unlimited, but slowing down on 429 and 503)")
	fs.IntVar(&e.maxAttempts, "max-attempts", 5, "attempts per request before an account fails")
	fs.DurationVar(&e.requestTimeout, "request-timeout", 60*time.Second, "time limit of one request")
	fs.StringVar(&e.maxFailures, "max-failures", "", "abort the rest of the run when more than `N` accounts (or P% of them) have failed")
	fs.StringVar(&e.report, "report", "hubprov-report.json", "where to write the report (mode 0600); its journal is PATH.journal")
	fs.StringVar(&e.junit, "junit", "", "also write a JUnit XML file with one test case per account")
	fs.BoolVar(&e.emulate, "emulate", false, "run against a built-in emulator on a random loopback port (state kept in "+emulatorState+")")
	fs.BoolVar(&e.noProgress, "no-progress", false, "no progress bar; a log line every few seconds instead")
}

// options turns the flags into engine options.
func (e *engineFlags) options() (provision.Options, error) {
	o := provision.Options{Parallelism: e.parallelism, Rate: e.rate, MaxAttempts: e.maxAttempts, RequestTimeout: e.requestTimeout}
	if e.parallelism < 1 {
		return o, fmt.Errorf("--parallelism %d: want at least 1", e.parallelism)
	}
	if e.rate < 0 {
		return o, fmt.Errorf("--rate %g: want 0 or more", e.rate)
	}
	if e.maxAttempts < 1 {
		return o, fmt.Errorf("--max-attempts %d: want at least 1", e.maxAttempts)
	}
	if v := e.maxFailures; v != "" {
		if p, ok := strings.CutSuffix(v, "%"); ok {
			f, err := strconv.ParseFloat(p, 64)
			if err != nil || f < 0 || f > 100 {
				return o, fmt.Errorf("--max-failures %q: want a count N or a percentage P%%", v)
			}
			o.MaxFailureRatio = f / 100
			if f == 0 {
				o.MaxFailures = 0
				o.MaxFailureRatio = 1e-12
			}
		} else {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return o, fmt.Errorf("--max-failures %q: want a count N or a percentage P%%", v)
			}
			o.MaxFailures = n
			if n == 0 {
				o.MaxFailureRatio = 1e-12
			}
		}
	}
	return o, nil
}

func runApply(ctx context.Context, env *cmdEnv, args []string) int {
	fs := newFlagSet("apply", "hubprov apply -f MANIFEST... [flags]\n  hubprov apply PLAN.json [flags]",
		`Makes the platform match the manifest: creates missing instances, updates changed
ones, and with --prune deletes the set's instances the manifest no longer lists.
Reruns are safe: what exists is adopted, never created twice.

Given a plan saved by 'hubprov plan --out', applies exactly that plan, and refuses
(exit 3, nothing changed) when a manifest file or an instance it saw has changed since.`, env)
	var c commonFlags
	var e engineFlags
	c.register(fs)
	e.register(fs)
	prune := fs.Bool("prune", false, "also delete instances of this set that the manifest no longer lists")
	maxDeletes := fs.Int("max-deletes", -1, "refuse the whole run, before any change, when more than `N` deletions are planned (-1: no limit)")
	verify := fs.Bool("verify", false, "read each created or updated instance back; one not valid and enabled is reported unhealthy")
	if code, ok := parseFlags(fs, env, args); !ok {
		return code
	}
	var saved *provision.SavedPlan
	switch {
	case fs.NArg() > 1:
		fmt.Fprintf(env.stderr, "hubprov apply: unexpected argument %q\nhint: manifests are given with -f; a saved plan alone\n", fs.Arg(1))
		return exitInvalid
	case fs.NArg() == 1:
		if len(c.files) > 0 || *prune || len(c.selectors) > 0 || c.shard != "" {
			fmt.Fprintln(env.stderr, "hubprov apply: a saved plan fixes the manifests, --prune, --select and --shard: give the plan alone\nhint: 'hubprov apply plan.json', or 'hubprov apply -f MANIFEST' to plan afresh")
			return exitInvalid
		}
		sp, code := loadSavedPlan(env, fs.Arg(0), e.emulate)
		if code != exitOK {
			return code
		}
		saved = &sp
		for _, m := range sp.Manifests {
			c.files = append(c.files, m.Path)
		}
		c.selectors, c.shard, *prune = sp.Select, sp.Shard, sp.Prune
	}
	opts, err := e.options()
	if err != nil {
		fmt.Fprintf(env.stderr, "hubprov apply: %v\n", err)
		return exitInvalid
	}
	opts.Verify = *verify
	return engineRun(ctx, env, "apply", &c, &e, opts, func(s *session, plan *provision.Plan) (int, bool) {
		if saved != nil {
			if moved := saved.Compare(*plan); len(moved) > 0 {
				fmt.Fprintf(env.stderr, "hubprov apply: %d accounts moved since the plan was saved; nothing was changed:\n", len(moved))
				for _, m := range moved {
					fmt.Fprintf(env.stderr, "  %s: %s\n", m.Name, m.Why)
				}
				fmt.Fprintln(env.stderr, "hint: plan again ('hubprov plan --out'), review, then apply the new plan")
				return exitInvalid, false
			}
		}
		if *maxDeletes >= 0 {
			if n := plan.Counts()[provision.Delete]; n > *maxDeletes {
				fmt.Fprintf(env.stderr, "hubprov apply: %d deletions planned, more than --max-deletes %d: nothing was changed\nhint: review the plan with 'hubprov plan --prune', then raise --max-deletes if it is right\n", n, *maxDeletes)
				return exitInvalid, false
			}
		}
		return 0, true
	}, *prune)
}

// loadSavedPlan reads a plan saved by 'plan --out' and refuses it, before any
// request, when a manifest file it was made from has changed or gone, naming
// the accounts whose entries differ.
func loadSavedPlan(env *cmdEnv, path string, emulate bool) (provision.SavedPlan, int) {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(env.stderr, "hubprov apply: %v\n", err)
		return provision.SavedPlan{}, exitInvalid
	}
	defer f.Close()
	sp, err := provision.ReadSaved(f)
	if err != nil {
		fmt.Fprintf(env.stderr, "hubprov apply: %s: %v\n", path, err)
		return sp, exitInvalid
	}
	if sp.Emulated != emulate {
		fmt.Fprintf(env.stderr, "hubprov apply: %s was planned %s --emulate; apply it the same way\n", path, map[bool]string{true: "with", false: "without"}[sp.Emulated])
		return sp, exitInvalid
	}
	var changed []string
	for _, m := range sp.Manifests {
		data, err := os.ReadFile(m.Path)
		switch {
		case err != nil:
			changed = append(changed, fmt.Sprintf("%s: %v", m.Path, err))
		case fmt.Sprintf("%x", sha256.Sum256(data)) != m.SHA256:
			changed = append(changed, m.Path+": changed since the plan (sha256 differs)")
		}
	}
	if len(changed) == 0 {
		return sp, exitOK
	}
	fmt.Fprintf(env.stderr, "hubprov apply: the manifests of %s changed since it was planned; nothing was sent:\n", path)
	for _, c := range changed {
		fmt.Fprintf(env.stderr, "  %s\n", c)
	}
	var files []string
	for _, m := range sp.Manifests {
		if _, err := os.Stat(m.Path); err == nil {
			files = append(files, m.Path)
		}
	}
	if m, problems := manifest.Load(files); m != nil && !manifest.HasErrors(problems) && !manifest.HasErrors(m.Resolve(env.getenv)) {
		sel, _ := (&commonFlags{selectors: sp.Select, shard: sp.Shard}).selection()
		for _, name := range sp.Respecified(m.Set, m.Accounts, sel.owns) {
			fmt.Fprintf(env.stderr, "  account %s\n", name)
		}
	}
	fmt.Fprintln(env.stderr, "hint: plan again ('hubprov plan --out'), review, then apply the new plan")
	return sp, exitInvalid
}

// engineRun is the body shared by apply and destroy: open the session, plan,
// let check refuse, apply with a journal and progress, write the report.
func engineRun(ctx context.Context, env *cmdEnv, command string, c *commonFlags, e *engineFlags, opts provision.Options,
	check func(*session, *provision.Plan) (int, bool), prune bool) int {
	started := time.Now().UTC()
	journalPath := e.report + ".journal"
	// The files the run will write, refused before anything is sent when a
	// symbolic link (or anything but a regular file) stands at one.
	for _, p := range []string{e.report, journalPath, e.junit} {
		if p == "" {
			continue
		}
		if err := safefile.CheckOutput(p); err != nil {
			fmt.Fprintf(env.stderr, "hubprov %s: %s: %v; nothing was sent\nhint: remove it, or pass another path\n", command, p, err)
			return exitInvalid
		}
	}
	s, code := openSession(env, c, e.parallelism, e.emulate)
	if s == nil {
		return code
	}
	defer s.close(env)
	plan, code := s.plan(ctx, env, prune, journalPath)
	if code != exitOK {
		return code
	}
	if command == "destroy" {
		plan = destroyPlan(plan)
	}
	if code, ok := check(s, &plan); !ok {
		return code
	}
	fmt.Fprintf(env.stdout, "%s: set %q on %s (%s), %d accounts\n", command, s.m.Set, s.m.Target.Platform, s.baseURL, len(s.accounts))
	_ = plan.WriteText(env.stdout, false)

	journal, err := provision.CreateJournal(journalPath)
	if err != nil {
		fmt.Fprintf(env.stderr, "hubprov %s: %v\n", command, err)
		return exitInvalid
	}
	opts.Journal = journal
	opts.Log = s.log
	opts.Scrub = s.scrub
	opts.Progress = &provision.Progress{}
	stop := make(chan struct{})
	waitProgress := showProgress(env, s.log, opts.Progress, isTerminal(env.stderr) && !e.noProgress, stop)
	out := provision.Apply(ctx, s.pf, plan, opts)
	close(stop)
	waitProgress()
	if err := journal.Close(); err != nil {
		s.log.Error().Err(err).Msg("journal")
	}
	var tokens []string
	for _, r := range out.Results {
		if r.Token.Resolved() {
			tokens = append(tokens, r.Token.Reveal())
		}
	}
	s.redactor.add(tokens...)

	run := provision.RunInfo{
		Command: command, StartedAt: started, FinishedAt: time.Now().UTC(), HubprovVersion: version,
		Platform: string(s.m.Target.Platform), BaseURL: s.baseURL, Set: s.m.Set,
	}
	run.Manifests = manifestFiles(s)
	rep := provision.NewReport(run, out)
	if err := safefile.WriteAtomic(e.report, rep.WriteJSON); err != nil {
		fmt.Fprintf(env.stderr, "hubprov %s: %v\n", command, err)
		return exitFailures
	}
	if e.junit != "" {
		if err := safefile.WriteAtomic(e.junit, rep.WriteJUnit); err != nil {
			fmt.Fprintf(env.stderr, "hubprov %s: %v\n", command, err)
			return exitFailures
		}
	}
	printSummary(env.stdout, rep, e.report)
	switch {
	case out.Aborted != "":
		fmt.Fprintf(env.stderr, "hubprov %s: aborted: %s\n", command, s.scrub(out.Aborted))
		if out.AbortClass == provision.Systemic {
			fmt.Fprintln(env.stderr, credentialHint(s.m))
		}
		if out.AbortClass == provision.Canceled {
			fmt.Fprintln(env.stderr, "hint: rerun the same command to finish; what was created is adopted, not created again")
		}
		return exitAborted
	case rep.Summary.Failed > 0 || rep.Summary.Unhealthy > 0:
		fmt.Fprintln(env.stderr, "hint: rerun the same command to retry the failed accounts; the report lists each error")
		return exitFailures
	}
	return exitOK
}

func printSummary(w io.Writer, rep provision.Report, path string) {
	s := rep.Summary
	fmt.Fprintf(w, "Done: %d created, %d updated, %d deleted, %d unchanged, %d failed, %d skipped", s.Created, s.Updated, s.Deleted, s.Unchanged, s.Failed, s.Skipped-s.AwaitingConsent)
	if s.AwaitingConsent > 0 {
		fmt.Fprintf(w, ", %d awaiting consent", s.AwaitingConsent)
	}
	if s.Unhealthy > 0 {
		fmt.Fprintf(w, ", %d unhealthy", s.Unhealthy)
	}
	fmt.Fprintf(w, "; %d requests, %d throttled, %d retries.\nReport: %s\n", rep.Run.Requests, rep.Run.Throttled, rep.Run.Retries, path)
}

// destroyPlan turns a plan into the deletion of every listed account's instance.
func destroyPlan(p provision.Plan) provision.Plan {
	out := provision.Plan{Set: p.Set, Platform: p.Platform}
	for _, c := range p.Changes {
		if c.Remote == nil || c.Desired == nil {
			continue
		}
		out.Changes = append(out.Changes, provision.Change{Name: c.Name, Action: provision.Delete, Remote: c.Remote})
	}
	return out
}
