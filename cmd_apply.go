package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hubprov/hubprov/internal/safefile"
	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
)

// engineFlags are the flags of the commands that write: apply and destroy.
type engineFlags struct {
	policyFlags
	parallelism int
	maxFailures string
	report      string
	junit       string
	emulate     bool
	quiet       bool
	lockTimeout time.Duration
	maxLagWait  time.Duration
}

// policyFlags are the flags of the run's retry and rate policy, shared by
// every command that sends requests: plan, apply, destroy, authorize-urls.
type policyFlags struct {
	rate           float64
	maxAttempts    int
	requestTimeout time.Duration
}

func (p *policyFlags) register(fs *flag.FlagSet) {
	fs.Float64Var(&p.rate, "rate", 0, "`R` requests per second for the whole run (0: unlimited, but slowing down on 429 and 503)")
	fs.IntVar(&p.maxAttempts, "max-attempts", 5, "attempts per request (listing pages and lookups included) before the request fails")
	fs.DurationVar(&p.requestTimeout, "request-timeout", 60*time.Second, "time limit of one request, its answer included")
}

// options turns the flags into the policy's options.
func (p *policyFlags) options() (provision.Options, error) {
	o := provision.Options{Rate: p.rate, MaxAttempts: p.maxAttempts, RequestTimeout: p.requestTimeout}
	if p.rate < 0 {
		return o, invalidf("--rate %g: want 0 or more", p.rate)
	}
	if p.maxAttempts < 1 {
		return o, invalidf("--max-attempts %d: want at least 1", p.maxAttempts)
	}
	if p.requestTimeout <= 0 {
		return o, invalidf("--request-timeout %v: want more than 0", p.requestTimeout)
	}
	return o, nil
}

func (e *engineFlags) register(fs *flag.FlagSet) {
	e.policyFlags.register(fs)
	fs.IntVar(&e.parallelism, "parallelism", 8, "accounts processed at once")
	fs.StringVar(&e.maxFailures, "max-failures", "", "abort the rest of the run when more than N accounts (or P% of them) have failed (`N|P%`)")
	fs.StringVar(&e.report, "report", "hubprov-report.json", "write the report to `PATH` (mode 0600); its journal is PATH.journal")
	fs.StringVar(&e.junit, "junit", "", "also write a JUnit XML file at `PATH` with one test case per account")
	fs.BoolVar(&e.emulate, "emulate", false, "run against a built-in emulator on a random loopback port (state kept in "+emulatorState+")")
	fs.BoolVar(&e.quiet, "quiet", false, "print nothing on stdout (no plan, no summary); logs and errors still go to stderr, the report to --report")
	fs.DurationVar(&e.maxLagWait, "max-lag-wait", 2*time.Minute, "wait up to `D` for a list that lags behind writes to show a create whose answer was lost (or came without an id), and this run's creates before the end-of-run check for duplicates; an account still unclear then is left pending")
	fs.DurationVar(&e.lockTimeout, "lock-timeout", 0, "wait up to `D` for another run holding the same report (PATH.lock) to finish (0: refuse at once)")
}

// options turns the flags into engine options.
func (e *engineFlags) options() (provision.Options, error) {
	o, err := e.policyFlags.options()
	if err != nil {
		return o, err
	}
	o.Parallelism = e.parallelism
	if e.parallelism < 1 {
		return o, invalidf("--parallelism %d: want at least 1", e.parallelism)
	}
	budget, err := provision.ParseFailureBudget(e.maxFailures)
	if err != nil {
		return o, invalidf("%v", err)
	}
	o.MaxFailures = budget
	if e.maxLagWait <= 0 {
		return o, invalidf("--max-lag-wait %v: want more than 0", e.maxLagWait)
	}
	o.MaxLagWait = e.maxLagWait
	return o, nil
}

// errPlanMoved is the one wording of a saved plan that no longer holds.
func errPlanMoved(format string, args ...any) *cliError {
	return invalidf(format, args...).withHint("plan again ('hubprov plan --out'), review, then apply the new plan")
}

func runApply(ctx context.Context, env *cmdEnv, args []string) error {
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
	verify := fs.Bool("verify", false, "check every instance of the run, unchanged ones included; one not valid and enabled is reported unhealthy (exit 1)")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	var saved *provision.SavedPlan
	switch {
	case fs.NArg() > 1:
		return unexpectedArg(fs.Arg(1), "manifests are given with -f; a saved plan alone")
	case fs.NArg() == 1:
		if len(c.files) > 0 || *prune || len(c.selectors) > 0 || c.shard != "" {
			return invalidf("a saved plan fixes the manifests, --prune, --select and --shard: give the plan alone").
				withHint("'hubprov apply plan.json', or 'hubprov apply -f MANIFEST' to plan afresh")
		}
		sp, err := loadSavedPlan(env, fs.Arg(0), e.emulate, c.secretsDir)
		if err != nil {
			return err
		}
		saved = &sp
		for _, m := range sp.Manifests {
			c.files = append(c.files, m.Path)
		}
		c.selectors, c.shard, *prune = sp.Select, sp.Shard, sp.Prune
	}
	opts, err := e.options()
	if err != nil {
		return err
	}
	opts.Verify = *verify
	if *maxDeletes >= 0 {
		opts.MaxDeletes = maxDeletes
	}
	return engineRun(ctx, env, "apply", &c, &e, opts, func(plan *provision.Plan) error {
		if saved != nil {
			if moved := saved.Compare(*plan); len(moved) > 0 {
				lines := make([]string, len(moved))
				for i, m := range moved {
					lines[i] = m.Name + ": " + m.Why
				}
				return errPlanMoved("%d accounts moved since the plan was saved; nothing was changed", len(moved)).withDetails(lines...)
			}
		}
		if *maxDeletes >= 0 {
			if n := plan.Deletions(); n > *maxDeletes {
				return invalidf("%d deletions planned, more than --max-deletes %d: nothing was changed", n, *maxDeletes).
					withHint("review the plan with 'hubprov plan --prune', then raise --max-deletes if it is right")
			}
		}
		return nil
	}, *prune)
}

// loadSavedPlan reads a plan saved by 'plan --out' and refuses it, before any
// request, when a manifest file it was made from has changed or gone, naming
// the accounts whose entries differ.
func loadSavedPlan(env *cmdEnv, path string, emulate bool, secretsDir string) (provision.SavedPlan, error) {
	f, err := safefile.OpenReader(path, provision.MaxSavedPlanSize)
	if err != nil {
		return provision.SavedPlan{}, invalidf("%v", err)
	}
	defer f.Close()
	sp, err := provision.ReadSaved(f)
	if err != nil {
		return sp, invalidf("%s: %v", path, err)
	}
	if sp.Emulated != emulate {
		return sp, invalidf("%s was planned %s --emulate; apply it the same way", path, map[bool]string{true: "with", false: "without"}[sp.Emulated])
	}
	changed := sp.ChangedManifests()
	if len(changed) == 0 {
		return sp, nil
	}
	var files []string
	for _, m := range sp.Manifests {
		if _, err := os.Stat(m.Path); err == nil {
			files = append(files, m.Path)
		}
	}
	if m, problems := manifest.Load(files); m != nil && !manifest.HasErrors(problems) && !manifest.HasErrors(m.Resolve(env.getenv, secretsDir)) {
		if sel, err := sp.Selection(); err == nil {
			for _, name := range sp.Respecified(m.Set, m.Accounts, sel.Owns) {
				changed = append(changed, "account "+name)
			}
		}
	}
	return sp, errPlanMoved("the manifests of %s changed since it was planned; nothing was sent", path).withDetails(changed...)
}

// engineRun is the body shared by apply and destroy: open the session, plan,
// let check refuse, apply with a journal and progress, write the report.
func engineRun(ctx context.Context, env *cmdEnv, command string, c *commonFlags, e *engineFlags, opts provision.Options,
	check func(*provision.Plan) error, prune bool) error {
	started := time.Now().UTC()
	journalPath := e.report + ".journal"
	if err := e.checkOutputs(); err != nil {
		return err
	}
	s, err := openSession(env, c, opts, e.emulate)
	if err != nil {
		return err
	}
	defer s.close(env)
	release, err := e.lock(ctx, started)
	if err != nil {
		return err
	}
	defer release(s)
	plan, err := s.plan(ctx, prune, e.report, true)
	if err != nil {
		return err
	}
	if command == "destroy" {
		plan = provision.DestroyPlan(plan)
	}
	if err := check(&plan); err != nil {
		return err
	}
	stdout := env.stdout
	if e.quiet {
		stdout = io.Discard
	}
	fmt.Fprintf(stdout, "%s: set %q on %s (%s), %d accounts\n", command, s.m.Set, s.m.Target.Platform, s.baseURL, len(s.accounts))
	_ = plan.WriteText(stdout, false)

	journal, err := s.openJournal(journalPath)
	if err != nil {
		return err
	}
	// Total is set before the display reads it: Apply then leaves it alone.
	progress := new(provision.Progress)
	progress.Total.Store(int64(len(plan.Changes)))
	s.run.Attach(journal, progress)
	stopNotes := noteInterrupts(ctx, env)
	defer stopNotes()
	stop := make(chan struct{})
	counts := plan.Counts()
	work := int64(counts[provision.Create] + counts[provision.Update] + counts[provision.Delete])
	waitProgress := showProgress(ctx, env, s.log, progress, work, isTerminal(env.stderr) && !c.noProgress, stop)
	out := s.run.Apply(ctx, plan)
	// The report maps every live account of the manifest, the ones this run
	// did not manage included, so a partial run never erases a full one's.
	out.Results = append(out.Results, provision.Unmanaged(plan, s.m.Accounts, s.remote)...)
	close(stop)
	waitProgress()
	if err := journal.Close(); err != nil {
		s.log.Error().Err(err).Msg("journal")
	}
	return finishRun(ctx, env, s, command, started, e, journalPath, out)
}

// checkOutputs refuses, before anything is sent, the files the run will
// write (report, journal, JUnit) when a symbolic link (or anything but a
// regular file) stands at one.
func (e *engineFlags) checkOutputs() error {
	for _, p := range []string{e.report, e.report + ".journal", e.junit} {
		if p == "" {
			continue
		}
		if err := safefile.CheckOutput(p); err != nil {
			return invalidf("%s: %v; nothing was sent", p, err).withHint("remove it, or pass another path")
		}
	}
	return nil
}

// lock takes the run lock of the report (PATH.lock) for the whole run,
// waiting up to --lock-timeout, and returns its release.
func (e *engineFlags) lock(ctx context.Context, started time.Time) (release func(*session), err error) {
	if e.lockTimeout < 0 {
		return nil, invalidf("--lock-timeout %s: want 0 or more", e.lockTimeout)
	}
	lock, err := provision.AcquireRunLock(ctx, e.report+".lock", e.lockTimeout, lockHolder(started))
	if err != nil {
		ce := invalidf("%v; nothing was sent", err)
		var le *provision.LockedError
		if errors.As(err, &le) {
			ce.withHint("one run at a time per report: wait for it to finish (--lock-timeout D waits), or give this run its own --report PATH")
		}
		return nil, ce
	}
	return func(s *session) {
		if err := lock.Release(); err != nil {
			s.log.Warn().Err(err).Msg("release the run lock")
		}
	}, nil
}

// writeReport writes the report file; the tests make it fail.
var writeReport = safefile.WriteAtomic

// finishRun writes the report (and JUnit) of a run that sent changes, prints
// the summary, and returns the error the run exits with: apply, destroy and
// consent end the same way.
func finishRun(ctx context.Context, env *cmdEnv, s *session, command string, started time.Time, e *engineFlags, journalPath string, out provision.Outcome) error {
	stdout := env.stdout
	if e.quiet {
		stdout = io.Discard
	}
	var tokens []string
	for _, r := range out.Results {
		if r.Token.Resolved() {
			tokens = append(tokens, r.Token.Reveal())
		}
	}
	s.redactor.add(tokens...)

	run := provision.RunInfo{
		Command: command, StartedAt: started, FinishedAt: time.Now().UTC(), HubprovVersion: hubprovVersion(),
		Platform: string(s.m.Target.Platform), BaseURL: s.journalTarget().BaseURL, Set: s.m.Set,
	}
	run.Manifests = manifestFiles(s)
	rep := provision.NewReport(run, out)
	if err := writeReport(e.report, rep.WriteJSON); err != nil {
		printSummary(stdout, rep, "(not written)")
		ce := abortedf("the report could not be written: %v", err)
		if out.AbortClass == provision.ClassJournal {
			ce = abortedf("aborted: %s; and the report could not be written: %v", s.scrub(out.Aborted), err).withHint("%s", journalHint(journalPath))
		}
		return ce.withHint("a rerun of the same command rebuilds the report from the platform: every instance is listed with its id and token, and nothing is created twice")
	}
	if e.junit != "" {
		if err := safefile.WriteAtomic(e.junit, rep.WriteJUnit); err != nil {
			return failuresf("%v", err)
		}
	}
	printSummary(stdout, rep, e.report)
	switch {
	case out.Aborted != "":
		if out.AbortClass == provision.Canceled {
			return errInterrupted(ctx).withHint("rerun the same command to finish; it adopts what this run created")
		}
		err := abortedf("aborted: %s", s.scrub(out.Aborted))
		if out.AbortClass == provision.Systemic {
			err.withHint("%s", credentialHint(s.m))
		}
		if out.AbortClass == provision.ClassJournal {
			err.withHint("%s", journalHint(journalPath))
		}
		return err
	case rep.Summary.Pending > 0 && rep.Summary.Failed == 0 && rep.Summary.Unhealthy == 0:
		return newCLIError(exitFailures, fmt.Errorf("%d %s pending: a create's outcome is unknown (its answer was lost or had no id) and the list did not show the instance within --max-lag-wait; nothing was sent again", rep.Summary.Pending, plural(rep.Summary.Pending, "account"))).
			withHint("rerun the same command: it looks the pending accounts up (the journal keeps their intents) and adopts or creates each once; --max-lag-wait D waits longer for a slow list")
	case rep.Summary.Failed > 0 || rep.Summary.Unhealthy > 0:
		return newCLIError(exitFailures, fmt.Errorf("%d %s failed, %d unhealthy", rep.Summary.Failed, plural(rep.Summary.Failed, "account"), rep.Summary.Unhealthy)).
			withHint("rerun the same command to retry the failed accounts; the report lists each error")
	}
	return nil
}

// openJournal starts the run's journal at path, carrying forward the
// instances the plan recovered (read by id or looked up) so the next run
// knows them too.
func (s *session) openJournal(path string) (*provision.Journal, error) {
	journal, err := provision.CreateJournal(path, s.journalTarget())
	if err != nil {
		return nil, abortedf("%v; nothing was sent", err).withHint("hubprov needs a writable journal beside the report (%s)", path)
	}
	for _, in := range s.recovered {
		if err := journal.Known(in.Name, in.ID); err != nil {
			journal.Close()
			return nil, abortedf("%v; nothing was sent", err).withHint("%s", journalHint(path))
		}
	}
	return journal, nil
}

// journalHint says what to do when the journal cannot be written.
func journalHint(path string) string {
	return fmt.Sprintf("no create was sent without its intent on disk: free space (or fix the file system) where %s lives, then rerun the same command; what was created is looked up, not created again", path)
}

// lockHolder describes this process for the run lock's holder record.
func lockHolder(started time.Time) provision.LockHolder {
	host, _ := os.Hostname()
	return provision.LockHolder{PID: os.Getpid(), Host: host, StartedAt: started, Command: strings.Join(os.Args, " ")}
}

func printSummary(w io.Writer, rep provision.Report, path string) {
	s := rep.Summary
	fmt.Fprintf(w, "Done: %d created, %d updated, %d deleted, %d unchanged, %d failed, %d skipped", s.Created, s.Updated, s.Deleted, s.Unchanged, s.Failed, s.Skipped-s.AwaitingConsent-s.NotSelected-s.Pending)
	if s.Pending > 0 {
		fmt.Fprintf(w, ", %d pending", s.Pending)
	}
	if s.AwaitingConsent > 0 {
		fmt.Fprintf(w, ", %d awaiting-consent", s.AwaitingConsent)
	}
	if s.Unhealthy > 0 {
		fmt.Fprintf(w, ", %d unhealthy", s.Unhealthy)
	}
	if s.NotSelected > 0 {
		fmt.Fprintf(w, ", %d not selected (mapped from the platform)", s.NotSelected)
	}
	if s.DuplicatesDeleted > 0 {
		fmt.Fprintf(w, ", %d duplicate instances deleted", s.DuplicatesDeleted)
	}
	retries := "retries"
	if rep.Run.Retries == 1 {
		retries = "retry"
	}
	// The request counts go on a line of their own: with them, the line
	// of a run of thousands passes 80 columns.
	fmt.Fprintf(w, ".\n%d %s, %d throttled, %d %s.\nReport: %s\n", rep.Run.Requests, plural(rep.Run.Requests, "request"), rep.Run.Throttled, rep.Run.Retries, retries, path)
}
