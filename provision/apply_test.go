package provision_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/cloudelements"
	"github.com/hubprov/hubprov/provision/emulator"
)

// bench is one emulator behind a real loopback server and a client for it.
type bench struct {
	emu *emulator.Emulator
	srv *httptest.Server
	pf  provision.Platform
}

func newBench(t testing.TB, opts emulator.Options, user string) *bench {
	t.Helper()
	e := emulator.New(opts)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	t.Cleanup(hc.CloseIdleConnections)
	creds := manifest.Credentials{User: manifest.LiteralSecret(user), Organization: manifest.LiteralSecret("demo-org")}
	return &bench{emu: e, srv: srv, pf: cloudelements.New(srv.URL+"/elements/api-v2", hc, creds, manifest.CloudElements)}
}

// accounts returns n accounts cycling through both elements and all three auth types.
func accounts(n int) []manifest.Account {
	out := make([]manifest.Account, n)
	for i := range out {
		a := manifest.Account{
			Name:          fmt.Sprintf("portal-%05d", i),
			Element:       []string{manifest.ElementCRM, manifest.ElementMarketing}[i%2],
			Tags:          []string{"migration-2026"},
			Configuration: map[string]any{"event.notification.enabled": false},
		}
		switch i % 3 {
		case 0:
			a.Auth = manifest.Auth{Type: manifest.AuthAPIKey, APIKey: manifest.LiteralSecret(fmt.Sprintf("key-%d-0000", i))}
		case 1:
			a.Auth = manifest.Auth{Type: manifest.AuthOAuth2, ClientID: "client-1", ClientSecret: manifest.LiteralSecret("app-secret-1"),
				CallbackURL: "https://app.example.com/auth", Scopes: []string{"crm.objects.contacts.read"}, Code: manifest.LiteralSecret(fmt.Sprintf("code-%d-xyz", i))}
		default:
			a.Auth = manifest.Auth{Type: manifest.AuthOAuth2Tokens, ClientID: "client-1", ClientSecret: manifest.LiteralSecret("app-secret-1"),
				CallbackURL: "https://app.example.com/auth", AccessToken: manifest.LiteralSecret(fmt.Sprintf("access-%d-tok", i)),
				RefreshToken: manifest.LiteralSecret(fmt.Sprintf("refresh-%d-tok", i)), ExpiresIn: 1800}
		}
		out[i] = a
	}
	return out
}

func run(t testing.TB, b *bench, set string, accts []manifest.Account, prune bool, opts provision.Options) (provision.Plan, provision.Outcome) {
	t.Helper()
	opts.Log = zerolog.Nop()
	r := provision.NewRun(b.pf, opts)
	remote, _, err := r.ReadRemote(context.Background(), set, provision.Recovery{})
	if err != nil {
		t.Fatalf("read remote: %v", err)
	}
	plan := provision.MakePlan(set, manifest.CloudElements, accts, remote, provision.PlanOptions{Prune: prune})
	return plan, r.Apply(context.Background(), plan)
}

func count(out provision.Outcome, a provision.Action, s provision.Status) int {
	n := 0
	for _, r := range out.Results {
		if r.Action == a && r.Status == s {
			n++
		}
	}
	return n
}

func TestApplyIsIdempotent(t *testing.T) {
	b := newBench(t, emulator.Options{}, "demo-user")
	accts := accounts(60)
	_, out := run(t, b, "acme", accts, false, provision.Options{Parallelism: 8})
	if got := count(out, provision.Create, provision.Succeeded); got != 60 {
		t.Fatalf("first apply created %d, want 60: %+v", got, out.Results[0])
	}
	for _, r := range out.Results {
		if r.InstanceID == "" || !r.Token.Resolved() {
			t.Fatalf("%s: no instance id or token", r.Name)
		}
	}

	plan, out := run(t, b, "acme", accts, false, provision.Options{Parallelism: 8})
	if plan.HasChanges() || count(out, provision.Unchanged, provision.Succeeded) != 60 {
		t.Fatalf("second apply: plan %v, want 60 unchanged", plan.Counts())
	}
	if s := b.emu.Stats(); s.Creates != 60 || s.Duplicates != 0 {
		t.Fatalf("emulator: %d creates, %d duplicates; want 60, 0", s.Creates, s.Duplicates)
	}

	accts[3].Tags = []string{"migration-2026", "tier-1"}
	accts[7].Auth.Code = manifest.LiteralSecret("a-new-code")
	plan, out = run(t, b, "acme", accts, false, provision.Options{Parallelism: 8})
	if n := plan.Counts(); n[provision.Update] != 2 || n[provision.Create] != 0 {
		t.Fatalf("after two edits: plan %v, want exactly 2 updates", n)
	}
	want := map[string]string{accts[3].Name: "tags", accts[7].Name: "credentials"}
	for _, c := range plan.Changes {
		if c.Action == provision.Update && (len(c.Fields) == 0 || c.Fields[0] != want[c.Name]) {
			t.Errorf("%s: update fields %v, want %s first", c.Name, c.Fields, want[c.Name])
		}
	}
	if got := count(out, provision.Update, provision.Succeeded); got != 2 {
		t.Fatalf("updated %d, want 2", got)
	}
	if plan, _ := run(t, b, "acme", accts, false, provision.Options{}); plan.HasChanges() {
		t.Fatalf("after the updates the plan still has changes: %v", plan.Counts())
	}
}

func TestPruneDeletesOnlyTheSetsOwnInstances(t *testing.T) {
	b := newBench(t, emulator.Options{}, "demo-user")
	accts := accounts(10)
	run(t, b, "acme", accts, false, provision.Options{})
	// Foreign instances: unmarked, another set's, and one of another set with a name of ours.
	b.emu.AddInstance(emulator.Seed{Name: "hand-made", Element: "hubspot", Tags: []string{"migration-2026"}})
	b.emu.AddInstance(emulator.Seed{Name: "other-portal", Element: "hubspot", Tags: []string{"hubprov:set=other"}})
	b.emu.AddInstance(emulator.Seed{Name: accts[9].Name, Element: "hubspot", Tags: []string{"hubprov:set=other"}})

	plan, out := run(t, b, "acme", accts[:7], true, provision.Options{})
	var deleted []string
	for _, c := range plan.Changes {
		if c.Action == provision.Delete {
			deleted = append(deleted, c.Name)
		}
	}
	if fmt.Sprint(deleted) != fmt.Sprint([]string{accts[7].Name, accts[8].Name, accts[9].Name}) {
		t.Fatalf("planned deletions %v, want the three dropped accounts of set acme", deleted)
	}
	if got := count(out, provision.Delete, provision.Succeeded); got != 3 {
		t.Fatalf("deleted %d, want 3", got)
	}
	if s := b.emu.Stats(); s.CEInstances != 7+3 {
		t.Fatalf("%d instances left, want 7 of ours and the 3 foreign ones", s.CEInstances)
	}
}

func TestApplyUnderFaultsCreatesEachAccountOnce(t *testing.T) {
	defer provision.FastRetries()()
	n := 2000
	if testing.Short() {
		n = 400
	}
	b := newBench(t, emulator.Options{Seed: 7, Faults: emulator.Faults{Rate503: 0.05, Rate429: 0.03, RetryAfter: time.Second, Reset: 0.01, LostResponse: 0.01}}, "demo-user")
	accts := accounts(n)
	_, out := run(t, b, "acme", accts, false, provision.Options{Parallelism: 32, MaxAttempts: 10})
	if out.Aborted != "" {
		t.Fatalf("aborted: %s", out.Aborted)
	}
	for _, r := range out.Results {
		if r.Status != provision.Succeeded || r.InstanceID == "" {
			t.Fatalf("%s: %s, instance %q, error %+v", r.Name, r.Status, r.InstanceID, r.Error)
		}
	}
	s := b.emu.Stats()
	if s.Duplicates != 0 || s.CEInstances != n {
		t.Fatalf("emulator: %d instances, %d duplicates; want %d, 0", s.CEInstances, s.Duplicates, n)
	}
	if s.Lost == 0 || s.Resets == 0 || s.ByStatus[503] == 0 || s.ByStatus[429] == 0 {
		t.Fatalf("faults did not happen: %+v", s)
	}
	rep := provision.NewReport(provision.RunInfo{}, out)
	if len(rep.Accounts) != n || rep.Summary.Created != n {
		t.Fatalf("report: %d accounts, summary %+v; want all %d created", len(rep.Accounts), rep.Summary, n)
	}
	for _, a := range rep.Accounts {
		if a.InstanceID == "" || a.Token == "" {
			t.Fatalf("report: %s has no instance id or token", a.Name)
		}
	}
}

func TestRejectedCredentialsStopTheRun(t *testing.T) {
	b := newBench(t, emulator.Options{}, "wrong-user")
	accts := accounts(200)
	plan := provision.MakePlan("acme", manifest.CloudElements, accts, nil, provision.PlanOptions{})
	out := provision.NewRun(b.pf, provision.Options{Parallelism: 8, Log: zerolog.Nop()}).Apply(context.Background(), plan)
	if out.AbortClass != provision.Systemic {
		t.Fatalf("abort class %q, want systemic", out.AbortClass)
	}
	if s := b.emu.Stats(); s.Requests > 8 {
		t.Fatalf("%d requests after the credentials were rejected, want at most the parallelism 8", s.Requests)
	}
	if got := count(out, provision.Create, provision.Skipped); got < 190 {
		t.Fatalf("%d accounts skipped, want the rest of the run", got)
	}
}

func TestMaxFailuresAbortsTheRest(t *testing.T) {
	b := newBench(t, emulator.Options{}, "demo-user")
	accts := accounts(100)
	for i := range accts {
		accts[i].Element = "no-such-element" // 404: an item error each
	}
	plan := provision.MakePlan("acme", manifest.CloudElements, accts, nil, provision.PlanOptions{})
	out := provision.NewRun(b.pf, provision.Options{Parallelism: 2, MaxFailures: provision.FailureBudgetOf(5), Log: zerolog.Nop()}).Apply(context.Background(), plan)
	if out.AbortClass != provision.ClassBudget {
		t.Fatalf("abort class %q, want the failure budget", out.AbortClass)
	}
	if failed := count(out, provision.Create, provision.Failed); failed < 6 || failed > 8 {
		t.Fatalf("%d failed, want 6 (the budget plus one) up to the parallelism more", failed)
	}
}

func TestInterruptFinishesInFlightAndSkipsTheRest(t *testing.T) {
	b := newBench(t, emulator.Options{Latency: 20 * time.Millisecond}, "demo-user")
	accts := accounts(200)
	plan := provision.MakePlan("acme", manifest.CloudElements, accts, nil, provision.PlanOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	out := provision.NewRun(b.pf, provision.Options{Parallelism: 4, Log: zerolog.Nop()}).Apply(ctx, plan)
	if out.AbortClass != provision.Canceled {
		t.Fatalf("abort class %q, want canceled", out.AbortClass)
	}
	created, skipped := count(out, provision.Create, provision.Succeeded), count(out, provision.Create, provision.Skipped)
	if created == 0 || skipped == 0 || created+skipped != 200 {
		t.Fatalf("created %d, skipped %d: want some of each and nothing failed", created, skipped)
	}
	if s := b.emu.Stats(); s.Creates != created {
		t.Fatalf("emulator committed %d creates, the results say %d", s.Creates, created)
	}
}

func TestOAuth2WithoutCodeAwaitsConsent(t *testing.T) {
	b := newBench(t, emulator.Options{}, "demo-user")
	accts := accounts(3) // portal-00001 is oauth2
	accts[1].Auth.Code = manifest.Secret{}
	plan, out := run(t, b, "acme", accts, false, provision.Options{})
	if c := plan.Changes[1]; c.Action != provision.AwaitConsent {
		t.Fatalf("oauth2 without a code: action %s, want await-consent", c.Action)
	}
	if r := out.Results[1]; r.Status != provision.Skipped || r.Reason != provision.ReasonAwaitingConsent {
		t.Fatalf("result %s %q, want skipped awaiting-consent", r.Status, r.Reason)
	}
	if s := b.emu.Stats(); s.Creates != 2 {
		t.Fatalf("%d creates, want 2: nothing is sent for the account awaiting consent", s.Creates)
	}
	rep := provision.NewReport(provision.RunInfo{}, out)
	if a := rep.Accounts[1]; a.Action != provision.Create || rep.Summary.Skipped != 1 || rep.Summary.AwaitingConsent != 1 {
		t.Fatalf("report: action %s, summary %+v; want create, 1 skipped awaiting consent", a.Action, rep.Summary)
	}

	accts[1].Auth.Code = manifest.LiteralSecret("granted-code")
	if _, out := run(t, b, "acme", accts, false, provision.Options{}); count(out, provision.Create, provision.Succeeded) != 1 {
		t.Fatalf("with its code the account is created: %+v", out.Results[1])
	}
	// Codes are used once: dropping it from the manifest keeps the instance as it is.
	accts[1].Auth.Code = manifest.Secret{}
	if plan, _ := run(t, b, "acme", accts, false, provision.Options{}); plan.HasChanges() {
		t.Fatalf("after the code is removed the plan changes %v", plan.Counts())
	}
}

// A run under a plain rate limit fails no account for being throttled, even
// with one attempt per request: throttle retries are not attempts.
func TestThrottledRunFailsNoAccount(t *testing.T) {
	defer provision.FastRetries()()
	b := newBench(t, emulator.Options{RateLimit: 400, RatePer: time.Second, Burst: 1}, "demo-user")
	accts := accounts(300)
	_, out := run(t, b, "acme", accts, false, provision.Options{Parallelism: 16, MaxAttempts: 1})
	if got := count(out, provision.Create, provision.Succeeded); got != len(accts) || out.Aborted != "" {
		t.Fatalf("created %d of %d (aborted %q)", got, len(accts), out.Aborted)
	}
	if s := b.emu.Stats(); s.ByStatus[429] == 0 || s.Duplicates != 0 {
		t.Fatalf("emulator: %d 429s, %d duplicates; want some throttles and no duplicate", s.ByStatus[429], s.Duplicates)
	}
}

// A platform that announces its limit is paced from it: no probing, no 429.
func TestAnnouncedLimitPacesTheRun(t *testing.T) {
	b := newBench(t, emulator.Options{RateLimit: 40, RatePer: time.Second, Burst: 4, Announce: true}, "demo-user")
	_, out := run(t, b, "acme", accounts(60), false, provision.Options{Parallelism: 16})
	if got := count(out, provision.Create, provision.Succeeded); got != 60 {
		t.Fatalf("created %d of 60", got)
	}
	if s := b.emu.Stats(); s.ByStatus[429] > 1 {
		t.Fatalf("%d 429s from a platform that announced its limit, want at most the one the first request can meet", s.ByStatus[429])
	}
}

// TestLostResponsesUnderListLag: creates whose answers are lost after they
// committed, while lists lag writes by a second: the lookup right after finds
// nothing, and the run waits for the list to catch up instead of sending the
// create again (and spending an oauth2 code twice). Every account ends with
// exactly one instance, in the report.
func TestLostResponsesUnderListLag(t *testing.T) {
	defer provision.FastRetries()()
	const n = 30
	b := newBench(t, emulator.Options{Seed: 5, ListLag: time.Second, OpFaults: map[emulator.Op]emulator.Faults{emulator.OpCreate: {LostResponse: 0.4}}}, "demo-user")
	_, out := run(t, b, "acme", accounts(n), false, provision.Options{Parallelism: 8})
	for _, r := range out.Results {
		if v, ok := b.emu.Instance(r.InstanceID); r.Status != provision.Succeeded || !ok || v.Name != r.Name || v.Token != r.Token.Reveal() {
			t.Fatalf("%s: %s, instance %q (%v), error %+v", r.Name, r.Status, r.InstanceID, ok, r.Error)
		}
	}
	if s := b.emu.Stats(); s.Lost == 0 || s.Duplicates != 0 || s.ReusedCodes != 0 || s.CEInstances != n || s.Creates != n {
		t.Fatalf("emulator: %d lost, %d creates, %d duplicates, %d reused codes, %d instances", s.Lost, s.Creates, s.Duplicates, s.ReusedCodes, s.CEInstances)
	}
}

// A run that reads a large set before it creates still begins its creates
// slowly: the reads, one page after the other for a second, test no rate.
// Before, the pace was unlimited by then, and the creates opened with a wave
// of 64 requests into the platform's hidden limit (a token bucket of 50/s
// with a burst of 10 refused 50 of them).
func TestCreatesAfterALongReadBeginSlowly(t *testing.T) {
	b := newBench(t, emulator.Options{Latency: 100 * time.Millisecond, RateLimit: 50, RatePer: time.Second, Burst: 10}, "demo-user")
	accts := accounts(2100)
	for _, a := range accts[:2000] { // ten pages of instances already made
		b.emu.AddInstance(emulator.Seed{Name: a.Name, Element: a.Element,
			Tags: append(append([]string{}, a.Tags...), "hubprov:set=acme", "hubprov:spec="+provision.Fingerprint("acme", a))})
	}
	r := provision.NewRun(b.pf, provision.Options{Parallelism: 64, Log: zerolog.Nop()})
	remote, _, err := r.ReadRemote(context.Background(), "acme", provision.Recovery{})
	if err != nil {
		t.Fatal(err)
	}
	plan := provision.MakePlan("acme", manifest.CloudElements, accts, remote, provision.PlanOptions{})
	if n := plan.Counts()[provision.Create]; n != 100 {
		t.Fatalf("plan creates %d, want 100", n)
	}
	out := r.Apply(context.Background(), plan)
	if got := count(out, provision.Create, provision.Succeeded); got != 100 || out.Aborted != "" {
		t.Fatalf("created %d of 100 (aborted %q)", got, out.Aborted)
	}
	if s := b.emu.Stats(); s.ByStatus[429] > 20 {
		t.Errorf("%d requests throttled in a run of %d; want at most 20, the cost of finding the limit", s.ByStatus[429], s.Requests)
	}
}
