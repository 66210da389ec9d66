package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/cloudelements"
	"github.com/hubprov/hubprov/provision/emulator"
)

// shardManifest writes a manifest of set "sharded" whose accounts are
// shard-NNNNN for every i in idx, cycling through both elements and the
// apiKey, oauth2 (with a code) and oauth2Tokens auth types, with a few oauth2
// accounts awaiting consent (awaitsConsent), targeting the
// Cloud Elements API at baseURL (empty: the platform's default) with the
// emulator's demo credentials.
func shardManifest(t *testing.T, path, baseURL string, idx []int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("version: 1\nset: sharded\ntarget:\n  platform: cloud-elements\n")
	if baseURL != "" {
		fmt.Fprintf(&b, "  baseURL: %s\n", baseURL)
	}
	b.WriteString(`  credentials: {user: demo-user, organization: demo-org}
defaults:
  tags: [shard-test]
  auth: {clientId: app-1, clientSecret: app-secret-1, callbackURL: https://app.example.com/cb}
accounts:
`)
	for _, i := range idx {
		fmt.Fprintf(&b, "  - name: %s\n    element: %s\n", shardAccount(i), []string{"hubspotcrm", "hubspot"}[i%2])
		switch {
		case awaitsConsent(i):
			b.WriteString("    auth: {type: oauth2, scopes: [oauth]}\n")
		case i%3 == 0:
			fmt.Fprintf(&b, "    auth: {type: apiKey, apiKey: hapikey-%05d}\n", i)
		case i%3 == 1:
			fmt.Fprintf(&b, "    auth: {type: oauth2, scopes: [oauth], code: code-%05d}\n", i)
		default:
			fmt.Fprintf(&b, "    auth: {type: oauth2Tokens, accessToken: access-%05d, refreshToken: refresh-%05d, expiresIn: 1800}\n", i, i)
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// awaitsConsent says whether account i is an oauth2 account without a code,
// which apply skips (awaiting consent) and creates nothing for.
func awaitsConsent(i int) bool { return i%25 == 7 }

func shardAccount(i int) string { return fmt.Sprintf("shard-%05d", i) }

func upTo(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// TestShardsPartitionTheAccounts: for n from 1 to 8, the n shards of a
// 5,000-account manifest, as --shard i/n selects them, are disjoint and
// cover every account, and none is far from n-th of the accounts.
func TestShardsPartitionTheAccounts(t *testing.T) {
	const total = 5000
	path := shardManifest(t, filepath.Join(t.TempDir(), "big.yaml"), "", upTo(total))
	m, problems := manifest.Load([]string{path})
	if m == nil || manifest.HasErrors(problems) || len(m.Accounts) != total {
		t.Fatalf("load: %v", problems)
	}
	for n := 1; n <= 8; n++ {
		owner := map[string]int{}
		sizes := make([]int, n)
		for i := range n {
			c := commonFlags{shard: fmt.Sprintf("%d/%d", i, n)}
			sel, err := c.selection()
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range m.Accounts {
				if !sel.Owns(a.Name) {
					continue
				}
				if j, dup := owner[a.Name]; dup {
					t.Fatalf("n=%d: %s is in shards %d and %d", n, a.Name, j, i)
				}
				owner[a.Name] = i
				sizes[i]++
				if got := provision.ShardOf(a.Name, uint64(n)); got != uint64(i) {
					t.Fatalf("n=%d: shard %d selects %s, whose shardOf is %d", n, i, a.Name, got)
				}
			}
		}
		if len(owner) != total {
			t.Fatalf("n=%d: the shards cover %d of %d accounts", n, len(owner), total)
		}
		for i, s := range sizes {
			if even := total / n; s < even*8/10 || s > even*12/10 {
				t.Errorf("n=%d: shard %d holds %d accounts, more than 20%% away from %d", n, i, s, even)
			}
		}
	}
}

// shardRun is one in-process hubprov run's outcome.
type shardRun struct {
	code           int
	stdout, stderr string
}

// outcomes maps each account of a report to "action status".
func outcomes(rep provision.Report) map[string]string {
	m := make(map[string]string, len(rep.Accounts))
	for _, a := range rep.Accounts {
		m[a.Name] = string(a.Action) + " " + string(a.Status)
	}
	return m
}

// TestShardedApplyAgainstOneEmulator: four shards of one manifest applied at
// once against one emulator create every account exactly once; their merged
// report equals an unsharded run's; and prune in one shard deletes only that
// shard's dropped instances.
func TestShardedApplyAgainstOneEmulator(t *testing.T) {
	const total, shards = 240, 4
	dir := t.TempDir()
	emu, ceURL := startEmulatorServer(t, emulator.Options{})
	path := shardManifest(t, filepath.Join(dir, "sharded.yaml"), ceURL, upTo(total))

	// (b) n=4 shards at once, one emulator: each account created exactly once.
	runs := make([]shardRun, shards)
	reports := make([]string, shards)
	var wg sync.WaitGroup
	for i := range shards {
		reports[i] = filepath.Join(dir, fmt.Sprintf("shard-%d.json", i))
		wg.Go(func() {
			code, out, errs := runCLI(t, "apply", "-f", path, "--shard", fmt.Sprintf("%d/%d", i, shards),
				"--report", reports[i], "--no-progress", "--log-level", "warn")
			runs[i] = shardRun{code, out, errs}
		})
	}
	wg.Wait()
	creatable := 0
	for i := range total {
		if !awaitsConsent(i) {
			creatable++
		}
	}
	for i, r := range runs {
		if r.code != exitOK {
			t.Fatalf("shard %d: exit %d\n%s%s", i, r.code, r.stdout, r.stderr)
		}
	}
	st := emu.Stats()
	if st.Creates != creatable || st.Duplicates != 0 || st.CEInstances != creatable {
		t.Fatalf("emulator: %d creates, %d duplicates, %d instances; want %d, 0, %d", st.Creates, st.Duplicates, st.CEInstances, creatable, creatable)
	}
	seen := map[string]int{}
	for i, p := range reports {
		rep := readReport(t, p)
		for _, a := range rep.Accounts {
			if a.Reason == provision.ReasonNotSelected {
				// Another shard's account, live when this shard listed: mapped, not managed.
				if provision.ShardOf(a.Name, shards) == uint64(i) || a.InstanceID == "" || a.Token == "" {
					t.Errorf("shard %d report maps %+v", i, a)
				}
				continue
			}
			var idx int
			fmt.Sscanf(a.Name, "shard-%d", &idx)
			ok := a.Action == provision.Create && a.Status == provision.Succeeded && a.InstanceID != ""
			if awaitsConsent(idx) {
				ok = a.Action == provision.Create && a.Status == provision.Skipped && a.Reason == provision.ReasonAwaitingConsent
			}
			if provision.ShardOf(a.Name, shards) != uint64(i) || !ok {
				t.Errorf("shard %d report: %+v", i, a)
			}
			seen[a.Name]++
		}
	}
	if len(seen) != total || slices.Max(slices.Collect(maps.Values(seen))) != 1 {
		t.Fatalf("the shard reports hold %d accounts (want %d, each once)", len(seen), total)
	}

	// (d) the merged shard reports equal an unsharded run's, against a second emulator.
	code, mergedJSON, errs := runCLI(t, append([]string{"report", "merge"}, reports...)...)
	if code != exitOK {
		t.Fatalf("report merge: exit %d\n%s", code, errs)
	}
	var merged provision.Report
	if err := json.Unmarshal([]byte(mergedJSON), &merged); err != nil {
		t.Fatal(err)
	}
	emu2, ceURL2 := startEmulatorServer(t, emulator.Options{})
	path2 := shardManifest(t, filepath.Join(dir, "unsharded.yaml"), ceURL2, upTo(total))
	whole := filepath.Join(dir, "unsharded.json")
	if code, out, errs := runCLI(t, "apply", "-f", path2, "--report", whole, "--no-progress", "--log-level", "warn"); code != exitOK {
		t.Fatalf("unsharded apply: exit %d\n%s%s", code, out, errs)
	}
	single := readReport(t, whole)
	if emu2.Stats().Creates != creatable {
		t.Fatalf("unsharded run created %d", emu2.Stats().Creates)
	}
	if got, want := outcomes(merged), outcomes(single); !maps.Equal(got, want) {
		t.Errorf("merged report's accounts differ from the unsharded run's:\nmerged %v\nsingle %v", got, want)
	}
	if merged.Summary != single.Summary || merged.Run.Set != single.Run.Set || merged.Run.Platform != single.Run.Platform {
		t.Errorf("merged summary %+v, run %s/%s; unsharded %+v, %s/%s", merged.Summary, merged.Run.Set, merged.Run.Platform,
			single.Summary, single.Run.Set, single.Run.Platform)
	}

	// (c) prune in shard 0 of a manifest that drops accounts of every shard:
	// only shard 0's dropped instances are deleted.
	var kept []int
	dropped := map[uint64][]string{}
	for i := range total {
		if i%10 == 0 && !awaitsConsent(i) {
			name := shardAccount(i)
			dropped[provision.ShardOf(name, shards)] = append(dropped[provision.ShardOf(name, shards)], name)
			continue
		}
		kept = append(kept, i)
	}
	for s := range uint64(shards) {
		if len(dropped[s]) == 0 {
			t.Fatalf("shard %d loses no account: the test would prove nothing", s)
		}
	}
	pruned := shardManifest(t, filepath.Join(dir, "pruned.yaml"), ceURL, kept)
	prunedReport := filepath.Join(dir, "prune-0.json")
	if code, out, errs := runCLI(t, "apply", "-f", pruned, "--prune", "--shard", "0/4", "--report", prunedReport,
		"--no-progress", "--log-level", "warn"); code != exitOK {
		t.Fatalf("apply --prune --shard 0/4: exit %d\n%s%s", code, out, errs)
	}
	if st := emu.Stats(); st.Deletes != len(dropped[0]) || st.Creates != creatable {
		t.Errorf("after prune: %d deletes, %d creates; want %d (shard 0's dropped accounts) and no new create", st.Deletes, st.Creates, len(dropped[0]))
	}
	var deleted []string
	for _, a := range readReport(t, prunedReport).Accounts {
		switch {
		case a.Action == provision.Delete && a.Status == provision.Succeeded:
			deleted = append(deleted, a.Name)
		case a.Reason == provision.ReasonNotSelected:
			if provision.ShardOf(a.Name, shards) == 0 || a.InstanceID == "" {
				t.Errorf("prune report maps %+v", a)
			}
		case provision.ShardOf(a.Name, shards) != 0 || (a.Action != provision.Unchanged && a.Reason != provision.ReasonAwaitingConsent):
			t.Errorf("prune report: %+v", a)
		}
	}
	slices.Sort(deleted)
	if want := slices.Sorted(slices.Values(dropped[0])); !slices.Equal(deleted, want) {
		t.Errorf("deleted %v, want shard 0's dropped accounts %v", deleted, want)
	}
	creds := manifest.Credentials{User: manifest.LiteralSecret("demo-user"), Organization: manifest.LiteralSecret("demo-org")}
	live, err := provision.NewRun(cloudelements.New(ceURL, nil, creds, manifest.CloudElements), provision.Options{}).List(context.Background(), "sharded")
	if err != nil {
		t.Fatal(err)
	}
	left := map[string]bool{}
	for _, in := range live {
		left[in.Name] = true
	}
	for i := range total {
		name := shardAccount(i)
		if awaitsConsent(i) {
			if left[name] {
				t.Errorf("%s awaits consent, yet has an instance", name)
			}
			continue
		}
		gone := i%10 == 0 && provision.ShardOf(name, shards) == 0
		if left[name] == gone {
			t.Errorf("%s (shard %d, dropped %v): live %v", name, provision.ShardOf(name, shards), i%10 == 0, left[name])
		}
	}
}
