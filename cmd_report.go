package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/hubprov/hubprov/internal/safefile"
	"github.com/hubprov/hubprov/provision"
)

const reportUsage = `Usage: hubprov report <subcommand> [flags]

Works with report files (hubprov-report.json) that apply and destroy write.

Subcommands:
  merge    merge the reports of the shards of one run (--shard i/n) into one

Run 'hubprov report merge --help' for its flags.
`

func runReport(ctx context.Context, env *cmdEnv, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(env.stderr, reportUsage)
		return exitStatus(exitInvalid)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(env.stdout, reportUsage)
		return nil
	case "merge":
		return runReportMerge(ctx, env, args[1:])
	}
	return invalidf("unknown subcommand %q", args[0]).withHint("run 'hubprov report --help' for its subcommands")
}

func runReportMerge(_ context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("report merge", "hubprov report merge [--out PATH] REPORT.json...",
		`Merges the reports of the shards of one run (apply or destroy --shard i/n, one report
per job) into one report, as one unsharded run would have written it: accounts sorted
by name, the summary recomputed, the earliest start and the latest finish, requests,
throttled and retries summed, each manifest file listed once.

It refuses (exit 3) reports of different runs (command, set, platform or base URL
differ) and an account that appears in more than one report, naming them.

The merged report holds the instance tokens, like its inputs: it goes to stdout,
or with --out to a file written atomically with mode 0600.`, env)
	outPath := fs.String("out", "", "write the merged report to `PATH` (mode 0600) instead of stdout")
	var lf logFlags
	lf.register(fs)
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return invalidf("no report given").withHint("hubprov report merge shard-0.json shard-1.json ... > all.json")
	}
	if *outPath != "" {
		if err := safefile.CheckOutput(*outPath); err != nil {
			return invalidf("--out %s: %v", *outPath, err).withHint("remove it, or pass another path")
		}
	}
	paths := fs.Args()
	reps := make([]provision.Report, len(paths))
	for i, p := range paths {
		r, err := loadReportFile(p)
		if err != nil {
			return invalidf("%v", err)
		}
		reps[i] = r
	}
	merged, err := provision.MergeReports(reps...)
	if err != nil {
		e := invalidf("%v; nothing was written", err)
		if len(paths) > 1 {
			names := make([]string, len(paths))
			for i, p := range paths {
				names[i] = fmt.Sprintf("%d %s", i+1, p)
			}
			e.withHint("the reports in the order given: %s", strings.Join(names, ", "))
		}
		return e
	}
	if *outPath != "" {
		err = safefile.WriteAtomic(*outPath, merged.WriteJSON)
	} else {
		err = merged.WriteJSON(env.stdout)
	}
	if err != nil {
		return failuresf("%v", err)
	}
	s := merged.Summary
	env.ui.note("merged %d %s: %d accounts: %d created, %d updated, %d deleted, %d unchanged, %d failed, %d skipped",
		len(reps), plural(len(reps), "report"), s.Total, s.Created, s.Updated, s.Deleted, s.Unchanged, s.Failed, s.Skipped)
	return nil
}

// maxReport bounds the size of a report file hubprov reads.
const maxReport = provision.MaxReportSize

// loadReportFile reads one report file, refusing anything that is not a
// version 1 report, and anything that is not a regular file (a FIFO, a
// device: refused unread) or is over maxReport.
func loadReportFile(path string) (provision.Report, error) {
	f, err := safefile.OpenReader(path, maxReport)
	if err != nil {
		return provision.Report{}, fmt.Errorf("read report: %w", err)
	}
	defer f.Close()
	r, err := provision.ReadReport(f)
	if err != nil {
		return r, fmt.Errorf("read report %s: %w", path, err)
	}
	return r, nil
}
