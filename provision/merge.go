package provision

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// MergeReports merges the reports of the shards of one run (apply --shard i/n,
// one report per job) into one report, as if one job had run them all:
//
//   - accounts are concatenated and sorted by name (a report does not record
//     manifest positions, so manifest order cannot be rebuilt across shards);
//   - the summary is recomputed from the accounts;
//   - the run starts at the earliest start and finishes at the latest finish;
//     requests, throttled and retries are summed; manifest files are listed
//     once each (by path and digest), in order of first appearance; differing
//     hubprov versions and abort reasons are joined with ", " and "; ".
//
// It refuses, naming what differs (reports are numbered from 1 in the order
// given): a report whose version is not 1; reports whose command, set,
// platform or base URL differ; an account name that appears more than once
// (overlapping --select or --shard, or one report given twice), unless all
// but one of its entries are not-selected (ReasonNotSelected: every report
// maps the live accounts other shards manage): the managed entry is kept. Tokens are
// kept: the merged report is a report like the others.
func MergeReports(reps ...Report) (Report, error) {
	if len(reps) == 0 {
		return Report{}, errors.New("no report to merge")
	}
	for i, r := range reps {
		if r.Version != 1 {
			return Report{}, fmt.Errorf("report %d: version %d: want 1 (is it a hubprov report?)", i+1, r.Version)
		}
	}
	first := reps[0].Run
	for i, r := range reps[1:] {
		for _, f := range []struct{ name, a, b string }{
			{"command", first.Command, r.Run.Command},
			{"set", first.Set, r.Run.Set},
			{"platform", first.Platform, r.Run.Platform},
			{"base URL", first.BaseURL, r.Run.BaseURL},
		} {
			if f.a != f.b {
				return Report{}, fmt.Errorf("reports 1 and %d are of different runs: %s %q and %q", i+2, f.name, f.a, f.b)
			}
		}
	}

	run := RunInfo{Command: first.Command, Platform: first.Platform, BaseURL: first.BaseURL, Set: first.Set, Manifests: []ManifestFile{}}
	var versions, aborts []string
	seenFile := map[ManifestFile]bool{}
	total := 0
	for _, r := range reps {
		total += len(r.Accounts)
		if !r.Run.StartedAt.IsZero() && (run.StartedAt.IsZero() || r.Run.StartedAt.Before(run.StartedAt)) {
			run.StartedAt = r.Run.StartedAt
		}
		if r.Run.FinishedAt.After(run.FinishedAt) {
			run.FinishedAt = r.Run.FinishedAt
		}
		run.Requests += r.Run.Requests
		run.Throttled += r.Run.Throttled
		run.Retries += r.Run.Retries
		for _, f := range r.Run.Manifests {
			if !seenFile[f] {
				seenFile[f] = true
				run.Manifests = append(run.Manifests, f)
			}
		}
		if v := r.Run.HubprovVersion; v != "" && !slices.Contains(versions, v) {
			versions = append(versions, v)
		}
		if a := r.Run.Aborted; a != "" && !slices.Contains(aborts, a) {
			aborts = append(aborts, a)
		}
	}
	run.HubprovVersion = strings.Join(versions, ", ")
	run.Aborted = strings.Join(aborts, "; ")

	accts := make([]AccountReport, 0, total)
	from := make(map[string]int, total) // account name -> report number, from 1
	var dups []string
	at := make(map[string]int, total) // account name -> index in accts
	for i, r := range reps {
		for _, a := range r.Accounts {
			if _, ok := from[a.Name]; ok && (a.Reason == ReasonNotSelected || accts[at[a.Name]].Reason == ReasonNotSelected) {
				// Each shard's report maps the other shards' live accounts
				// too: the entry of the shard that managed it wins.
				if accts[at[a.Name]].Reason == ReasonNotSelected && a.Reason != ReasonNotSelected {
					accts[at[a.Name]], from[a.Name] = a, i+1
				}
				continue
			}
			if j, ok := from[a.Name]; ok {
				if j == i+1 {
					dups = append(dups, fmt.Sprintf("%s (twice in report %d)", a.Name, j))
				} else {
					dups = append(dups, fmt.Sprintf("%s (reports %d and %d)", a.Name, j, i+1))
				}
				continue
			}
			from[a.Name] = i + 1
			at[a.Name] = len(accts)
			accts = append(accts, a)
		}
	}
	if len(dups) > 0 {
		slices.Sort(dups)
		return Report{}, fmt.Errorf("%d %s more than once: %s", len(dups), pluralize(len(dups), "account appears", "accounts appear"), strings.Join(dups, ", "))
	}
	slices.SortFunc(accts, func(a, b AccountReport) int { return strings.Compare(a.Name, b.Name) })
	return Report{Version: 1, Run: run, Summary: summarize(accts), Accounts: accts}, nil
}

func pluralize(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
