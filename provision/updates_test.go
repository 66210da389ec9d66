package provision_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"testing"

	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/emulator"
	"github.com/hubprov/hubprov/provision/flowservice"
)

// newFlowBench is newBench for Flow Service, in sandbox sb.
func newFlowBench(t testing.TB, opts emulator.Options, sb string) *bench {
	t.Helper()
	e := emulator.New(opts)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	t.Cleanup(hc.CloseIdleConnections)
	creds := manifest.Credentials{AccessToken: manifest.LiteralSecret("demo-token"), APIKey: manifest.LiteralSecret("demo-key"),
		IMSOrg: "demo@AdobeOrg", Sandbox: sb}
	return &bench{emu: e, srv: srv, pf: flowservice.New(srv.URL+emulator.FlowServicePrefix, hc, creds)}
}

// flowAccounts returns n Flow Service accounts (oauth2Tokens, all four fields).
func flowAccounts(n int) []manifest.Account {
	out := make([]manifest.Account, n)
	for i := range out {
		out[i] = manifest.Account{
			Name: fmt.Sprintf("flow-%03d", i), Description: "portal " + fmt.Sprint(i),
			Auth: manifest.Auth{Type: manifest.AuthOAuth2Tokens, ClientID: "client-1", ClientSecret: manifest.LiteralSecret("app-secret-1"),
				AccessToken: manifest.LiteralSecret(fmt.Sprintf("access-%d-tok", i)), RefreshToken: manifest.LiteralSecret(fmt.Sprintf("refresh-%d-tok", i))},
		}
	}
	return out
}

func updateOf(t *testing.T, plan provision.Plan, name string) provision.Change {
	t.Helper()
	for _, c := range plan.Changes {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no change for %s", name)
	return provision.Change{}
}

// Acceptance 1: a tags-only change on each auth type is planned as tags
// (old -> new), never credentials, and its PATCH carries no credentials: no
// code is replayed. A rotated secret is planned as credentials for exactly
// that account and sends the new secret.
func TestTagsOnlyChangeSendsNoCredentials(t *testing.T) {
	b := newBench(t, emulator.Options{}, "demo-user")
	accts := accounts(3) // apiKey, oauth2 with a code, oauth2Tokens
	if _, out := run(t, b, "acme", accts, false, provision.Options{}); count(out, provision.Create, provision.Succeeded) != 3 {
		t.Fatalf("create: %+v", out.Results)
	}
	for i := range accts {
		accts[i].Tags = []string{"migration-2026", "wave-2"}
	}
	plan, out := run(t, b, "acme", accts, false, provision.Options{})
	for _, a := range accts {
		c := updateOf(t, plan, a.Name)
		want := []provision.FieldChange{{Field: "tags", Old: []string{"migration-2026"}, New: []string{"migration-2026", "wave-2"}}}
		if c.Action != provision.Update || !reflect.DeepEqual(c.Diff, want) || !slices.Equal(c.Fields, []string{"tags"}) {
			t.Errorf("%s (%s): %s %v %+v; want update of tags only, old -> new", a.Name, a.Auth.Type, c.Action, c.Fields, c.Diff)
		}
	}
	if got := count(out, provision.Update, provision.Succeeded); got != 3 {
		t.Fatalf("updated %d, want 3: %+v", got, out.Results)
	}
	s := b.emu.Stats()
	if s.ReusedCodes != 0 || s.CredentialUpdates != 0 || s.Updates != 3 {
		t.Fatalf("emulator: %d reused codes, %d updates carrying credentials, %d updates; want 0, 0, 3", s.ReusedCodes, s.CredentialUpdates, s.Updates)
	}
	for _, r := range out.Results {
		v, _ := b.emu.Instance(r.InstanceID)
		if !v.Valid || !slices.Contains(v.Tags, "wave-2") {
			t.Errorf("%s after the tag change: valid %v, tags %v", r.Name, v.Valid, v.Tags)
		}
		for k := range v.LastConfiguration {
			t.Errorf("%s: the PATCH sent configuration key %s", r.Name, k)
		}
	}
	if plan, _ := run(t, b, "acme", accts, false, provision.Options{}); plan.HasChanges() {
		t.Fatalf("after the update: %v", plan.Counts())
	}

	// Rotate one secret per auth type: the API key, the tokens, and a new code.
	accts[0].Auth.APIKey = manifest.LiteralSecret("key-rotated")
	accts[2].Auth.AccessToken = manifest.LiteralSecret("access-rotated")
	plan, out = run(t, b, "acme", accts, false, provision.Options{})
	for i, want := range [][]string{{"credentials"}, nil, {"credentials"}} {
		c := updateOf(t, plan, accts[i].Name)
		if !slices.Equal(c.Fields, want) {
			t.Errorf("%s (%s): fields %v, want %v", c.Name, accts[i].Auth.Type, c.Fields, want)
		}
	}
	if s := b.emu.Stats(); s.CredentialUpdates != 2 || s.ReusedCodes != 0 {
		t.Fatalf("after rotating two secrets: %d updates carrying credentials, %d reused codes; want 2, 0", s.CredentialUpdates, s.ReusedCodes)
	}
	if v, _ := b.emu.Instance(out.Results[0].InstanceID); v.Configuration["hubspot.authorization.apikey"] != "key-rotated" {
		t.Errorf("the rotated API key was not sent: %v", v.Configuration)
	}
	if v, _ := b.emu.Instance(out.Results[2].InstanceID); v.ProviderData["access_token"] != "access-rotated" {
		t.Errorf("the rotated token was not sent: %v", v.ProviderData)
	}
	// A new consent: the new code is sent, once.
	accts[1].Auth.Code = manifest.LiteralSecret("code-after-reconsent")
	plan, _ = run(t, b, "acme", accts, false, provision.Options{})
	if c := updateOf(t, plan, accts[1].Name); !slices.Equal(c.Fields, []string{"credentials"}) {
		t.Errorf("new code: fields %v, want credentials", c.Fields)
	}
	id := plan.Changes[1].Remote.ID
	if v, _ := b.emu.Instance(id); v.ProviderData["code"] != "code-after-reconsent" || !v.Valid {
		t.Errorf("new code not exchanged: %+v", v.ProviderData)
	}
	// A rotated client secret on the oauth2 account sends the secret, not the used code.
	accts[1].Auth.ClientSecret = manifest.LiteralSecret("app-secret-2")
	run(t, b, "acme", accts, false, provision.Options{})
	if v, _ := b.emu.Instance(id); v.Configuration["oauth.api.secret"] != "app-secret-2" || !v.Valid {
		t.Errorf("client secret rotation: stored %q, valid %v", v.Configuration["oauth.api.secret"], v.Valid)
	}
	if s := b.emu.Stats(); s.ReusedCodes != 0 {
		t.Fatalf("%d reused codes, want 0", s.ReusedCodes)
	}
}

// Acceptance 2: a change of the shared tags over 40 mixed accounts updates
// all 40 without one credential, on Cloud Elements and on Flow Service.
func TestDefaultTagsChangeOver40Accounts(t *testing.T) {
	b := newBench(t, emulator.Options{}, "demo-user")
	accts := accounts(40)
	run(t, b, "acme", accts, false, provision.Options{Parallelism: 8})
	for i := range accts {
		accts[i].Tags = []string{"migration-2027"}
	}
	plan, out := run(t, b, "acme", accts, false, provision.Options{Parallelism: 8})
	if n := plan.Counts(); n[provision.Update] != 40 {
		t.Fatalf("plan %v, want 40 updates", n)
	}
	for _, c := range plan.Changes {
		if slices.Contains(c.Fields, "credentials") {
			t.Errorf("%s: %v names credentials", c.Name, c.Fields)
		}
	}
	if got := count(out, provision.Update, provision.Succeeded); got != 40 {
		t.Fatalf("%d updated, want 40", got)
	}
	if s := b.emu.Stats(); s.Updates != 40 || s.ReusedCodes != 0 || s.CredentialUpdates != 0 {
		t.Fatalf("emulator: %d updates, %d reused codes, %d carrying credentials; want 40, 0, 0", s.Updates, s.ReusedCodes, s.CredentialUpdates)
	}

	fb := newFlowBench(t, emulator.Options{}, "prod")
	faccts := flowAccounts(40)
	run(t, fb, "acme", faccts, false, provision.Options{Parallelism: 8})
	for i := range faccts {
		faccts[i].Description = "wave 2"
	}
	plan, out = run(t, fb, "acme", faccts, false, provision.Options{Parallelism: 8})
	for _, c := range plan.Changes {
		want := []provision.FieldChange{{Field: "description", Old: c.Remote.Description, New: "wave 2"}}
		if !reflect.DeepEqual(c.Diff, want) {
			t.Errorf("%s: %+v, want %+v", c.Name, c.Diff, want)
		}
	}
	if got := count(out, provision.Update, provision.Succeeded); got != 40 {
		t.Fatalf("Flow Service: %d updated, want 40", got)
	}
	if s := fb.emu.Stats(); s.Updates != 40 || s.CredentialUpdates != 0 {
		t.Fatalf("Flow Service: %d updates, %d carrying /auth/params; want 40, 0", s.Updates, s.CredentialUpdates)
	}
	// A rotated token on Flow Service replaces /auth/params of that connection only.
	faccts[5].Auth.RefreshToken = manifest.LiteralSecret("refresh-rotated")
	plan, out = run(t, fb, "acme", faccts, false, provision.Options{})
	if n := plan.Counts(); n[provision.Update] != 1 || !slices.Equal(updateOf(t, plan, faccts[5].Name).Fields, []string{"credentials"}) {
		t.Fatalf("after one rotation: %v", n)
	}
	if v, _ := fb.emu.Instance(out.Results[5].InstanceID); v.AuthParams["refreshToken"] != "refresh-rotated" || fb.emu.Stats().CredentialUpdates != 1 {
		t.Errorf("rotated refresh token: %v", v.AuthParams)
	}
}

// Acceptance 3: instances created by the release before independent halves
// (legacy markers) plan as unchanged; their marker is rewritten by the next
// real update, which still sends no credentials.
func TestLegacyMarkersPlanUnchanged(t *testing.T) {
	for _, platform := range []string{"cloud-elements", "adobe-flow"} {
		t.Run(platform, func(t *testing.T) {
			b, accts := newBench(t, emulator.Options{}, "demo-user"), accounts(30)
			if platform == "adobe-flow" {
				b, accts = newFlowBench(t, emulator.Options{}, "prod"), flowAccounts(10)
			}
			// Today's release: the same create bodies, with its marker.
			legacy := provision.MakePlan("acme", manifest.CloudElements, accts, nil, provision.PlanOptions{})
			for i := range legacy.Changes {
				d := legacy.Changes[i].Desired
				d.Fingerprint = provision.LegacyFingerprint("acme", d.Account)
				if len(d.Fingerprint) != 16 {
					t.Fatalf("legacy marker %q", d.Fingerprint)
				}
			}
			if out := provision.NewRun(b.pf, provision.Options{}).Apply(t.Context(), legacy); count(out, provision.Create, provision.Succeeded) != len(accts) {
				t.Fatalf("legacy create: %+v", out.Results[0])
			}
			plan, _ := run(t, b, "acme", accts, false, provision.Options{})
			if n := plan.Counts(); n[provision.Unchanged] != len(accts) {
				for _, c := range plan.Changes {
					if c.Action != provision.Unchanged {
						t.Errorf("%s: %s %v", c.Name, c.Action, c.Fields)
						break
					}
				}
				t.Fatalf("after the upgrade: %v, want all %d unchanged", n, len(accts))
			}
			if s := b.emu.Stats(); s.Updates != 0 {
				t.Fatalf("%d updates: an unchanged plan rewrote markers", s.Updates)
			}

			// A rotated secret under a legacy marker is still seen.
			accts[0].Auth.RefreshToken = manifest.LiteralSecret("refresh-rotated")
			accts[0].Auth.APIKey = manifest.LiteralSecret("key-rotated")
			plan, _ = run(t, b, "acme", accts, false, provision.Options{})
			if c := plan.Changes[0]; !slices.Equal(c.Fields, []string{"credentials"}) {
				t.Fatalf("a rotated secret under a legacy marker: %s %v", c.Action, c.Fields)
			}
			// A real update rewrites the markers, without credentials.
			before := b.emu.Stats().CredentialUpdates
			for i := range accts {
				accts[i].Description = "wave 2"
				accts[i].Tags = []string{"wave-2"}
			}
			_, out := run(t, b, "acme", accts, false, provision.Options{})
			if got := count(out, provision.Update, provision.Succeeded); got != len(accts) {
				t.Fatalf("updated %d of %d", got, len(accts))
			}
			if s := b.emu.Stats(); s.CredentialUpdates != before || s.ReusedCodes != 0 {
				t.Fatalf("the migrating update sent credentials: %d (was %d), %d reused codes", s.CredentialUpdates, before, s.ReusedCodes)
			}
			plan, _ = run(t, b, "acme", accts, false, provision.Options{})
			if plan.HasChanges() {
				t.Fatalf("after the migrating update: %v", plan.Counts())
			}
			for _, c := range plan.Changes {
				if len(c.Remote.Fingerprint) == 16 || c.Remote.Fingerprint != c.Desired.Fingerprint {
					t.Fatalf("%s: marker %q after the update, want %q", c.Name, c.Remote.Fingerprint, c.Desired.Fingerprint)
				}
			}
		})
	}
}

// Acceptance 6, end to end: a platform answering tags as objects.
func TestApplyWithTagObjects(t *testing.T) {
	b := newBench(t, emulator.Options{TagObjects: true}, "demo-user")
	accts := accounts(6)
	_, out := run(t, b, "acme", accts, false, provision.Options{})
	for _, r := range out.Results {
		if r.Status != provision.Succeeded || r.InstanceID == "" {
			t.Fatalf("%s: %s %q %+v", r.Name, r.Status, r.InstanceID, r.Error)
		}
	}
	if plan, _ := run(t, b, "acme", accts, false, provision.Options{}); plan.HasChanges() {
		t.Fatalf("rerun over tag objects: %v", plan.Counts())
	}
}

// --verify judges an unchanged instance by the list when the list said valid
// and disabled, and reads it by id only when it did not.
func TestVerifyReadsByIDOnlyWhereTheListDoesNotSay(t *testing.T) {
	b := newBench(t, emulator.Options{}, "demo-user")
	accts := accounts(4)
	_, out := run(t, b, "acme", accts, false, provision.Options{})
	for _, r := range out.Results[:2] {
		b.emu.SetValid(r.InstanceID, false)
	}
	remote, _, err := provision.NewRun(b.pf, provision.Options{}).ReadRemote(t.Context(), "acme", provision.Recovery{})
	if err != nil {
		t.Fatal(err)
	}
	plan := provision.MakePlan("acme", manifest.CloudElements, accts, remote, provision.PlanOptions{})
	for i := range plan.Changes {
		if plan.Changes[i].Action != provision.Unchanged || !plan.Changes[i].Remote.Health {
			t.Fatalf("%s: %s, health known %v", plan.Changes[i].Name, plan.Changes[i].Action, plan.Changes[i].Remote.Health)
		}
	}
	// Say the list left out valid/disabled for accounts 1 and 2.
	for _, i := range []int{1, 2} {
		r := *plan.Changes[i].Remote
		r.Health, r.Valid, r.Enabled = false, true, true
		plan.Changes[i].Remote = &r
	}
	gets := b.emu.Stats().ByOp[emulator.OpGet]
	res := provision.NewRun(b.pf, provision.Options{Verify: true}).Apply(t.Context(), plan)
	want := []provision.Status{provision.Unhealthy, provision.Unhealthy, provision.Succeeded, provision.Succeeded}
	for i, r := range res.Results {
		if r.Status != want[i] || r.Action != provision.Unchanged {
			t.Errorf("%s: %s %s, want unchanged %s (%+v)", r.Name, r.Action, r.Status, want[i], r.Error)
		}
	}
	if n := b.emu.Stats().ByOp[emulator.OpGet] - gets; n != 2 {
		t.Errorf("%d reads by id, want 2 (the two the list did not say)", n)
	}
}

// An element changed in the manifest is sent, so the plan converges.
func TestElementChangeIsSent(t *testing.T) {
	b := newBench(t, emulator.Options{}, "demo-user")
	accts := accounts(2)
	run(t, b, "acme", accts, false, provision.Options{})
	accts[0].Element = manifest.ElementMarketing
	plan, out := run(t, b, "acme", accts, false, provision.Options{})
	if c := plan.Changes[0]; !slices.Equal(c.Fields, []string{"element"}) || count(out, provision.Update, provision.Succeeded) != 1 {
		t.Fatalf("element change: %v, %+v", c.Fields, out.Results[0])
	}
	if plan, _ := run(t, b, "acme", accts, false, provision.Options{}); plan.HasChanges() {
		t.Fatalf("after the element change: %v", plan.Counts())
	}
}
