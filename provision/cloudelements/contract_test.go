package cloudelements

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"testing"

	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/emulator"
)

// TestContractEmulator runs every call of the client through the emulator:
// create, list, lookup, get, update, delete, and the oauth/url call.
func TestContractEmulator(t *testing.T) {
	srv := httptest.NewServer(emulator.New(emulator.Options{}))
	defer srv.Close()
	demo := manifest.Credentials{User: lit("demo-user"), Organization: lit("demo-org")}
	c := New(srv.URL+emulator.CloudElementsPrefix, srv.Client(), demo, manifest.OpenConnectors)
	ctx := context.Background()

	var created []provision.Instance
	for _, auth := range []manifest.AuthType{manifest.AuthAPIKey, manifest.AuthOAuth2, manifest.AuthOAuth2Tokens} {
		a := account(manifest.ElementCRM, auth)
		a.Name = "contract-" + string(auth)
		a.Configuration = map[string]any{"event.notification.enabled": false}
		in, err := c.Create(ctx, desired(a))
		if err != nil {
			t.Fatalf("create %s: %v", auth, err)
		}
		if in.ID == "" || in.Token.Reveal() == "" || in.Name != a.Name || in.Set != testSet || in.Fingerprint != testFP ||
			!reflect.DeepEqual(in.Tags, []string{"Docs"}) || in.Element != manifest.ElementCRM {
			t.Errorf("create %s = %+v", auth, in)
		}
		for k, v := range in.Configuration {
			if v == masked || secretKeys[k] {
				t.Errorf("create %s: configuration %s = %q shown", auth, k, v)
			}
		}
		created = append(created, in)
	}
	// Another set's instance, which List and Lookup must not return.
	other := desired(account(manifest.ElementMarketing, manifest.AuthAPIKey))
	other.Set = "other-set"
	other.Account.Name = "contract-apiKey"
	if _, err := c.Create(ctx, other); err != nil {
		t.Fatal(err)
	}

	list, err := listSet(c, ctx, testSet)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(created) {
		t.Errorf("list = %d instances, want %d: %+v", len(list), len(created), list)
	}

	in, err := lookupName(c, ctx, testSet, "contract-apiKey")
	if err != nil || in == nil || in.ID != created[0].ID {
		t.Fatalf("lookup = %+v, %v; want id %s", in, err, created[0].ID)
	}
	if in, err := lookupName(c, ctx, testSet, "contract-none"); err != nil || in != nil {
		t.Errorf("lookup of a missing name = %+v, %v", in, err)
	}

	got, err := c.Get(ctx, created[1].ID)
	if err != nil || got.Name != "contract-oauth2" || got.Fingerprint != testFP {
		t.Errorf("get = %+v, %v", got, err)
	}

	d := desired(account(manifest.ElementCRM, manifest.AuthOAuth2))
	d.Account.Name = "contract-oauth2"
	d.Account.Tags = []string{"tier-2"}
	d.Fingerprint = "fedcba98-76543210"
	d.Send.Credentials = true // a rotated client secret: the used code is not sent
	up, err := c.Update(ctx, got, d)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(up.Tags, []string{"tier-2"}) || up.Fingerprint != d.Fingerprint || up.Set != testSet {
		t.Errorf("update = %+v", up)
	}
	if again, err := c.Get(ctx, got.ID); err != nil || !reflect.DeepEqual(again.Tags, []string{"tier-2"}) || again.Fingerprint != d.Fingerprint {
		t.Errorf("get after update = %+v, %v", again, err)
	}

	for _, in := range created {
		if err := c.Delete(ctx, in); err != nil {
			t.Fatalf("delete %s: %v", in.ID, err)
		}
	}
	err = c.Delete(ctx, created[0])
	var ae *provision.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Errorf("second delete = %v, want an *APIError 404", err)
	}
	if list, err := listSet(c, ctx, testSet); err != nil || len(list) != 0 {
		t.Errorf("list after delete = %+v, %v", list, err)
	}

	u, err := c.OAuthURL(ctx, manifest.ElementCRM, clientID, lit(secClient), callback, []string{"crm.objects.contacts.read", "timeline"}, "contract")
	if err != nil || u == "" {
		t.Errorf("oauth url = %q, %v", u, err)
	}

	bad := New(srv.URL+emulator.CloudElementsPrefix, srv.Client(), creds(), manifest.OpenConnectors)
	_, err = listSet(bad, ctx, testSet)
	if provision.Classify(err) != provision.Systemic {
		t.Errorf("list with wrong credentials = %v, want systemic", err)
	}
}

// TestContractEmulatorPaging creates more instances than one page holds.
func TestContractEmulatorPaging(t *testing.T) {
	srv := httptest.NewServer(emulator.New(emulator.Options{}))
	defer srv.Close()
	c := New(srv.URL+emulator.CloudElementsPrefix, srv.Client(),
		manifest.Credentials{User: lit("demo-user"), Organization: lit("demo-org")}, manifest.CloudElements)
	ctx := context.Background()
	const n = 2*pageSize + 5
	for i := range n {
		a := account(manifest.ElementCRM, manifest.AuthAPIKey)
		a.Name = "page-" + strconv.Itoa(i)
		if _, err := c.Create(ctx, desired(a)); err != nil {
			t.Fatal(err)
		}
	}
	list, err := listSet(c, ctx, testSet)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, in := range list {
		seen[in.Name] = true
	}
	if len(list) != n || len(seen) != n {
		t.Errorf("list = %d instances (%d names), want %d", len(list), len(seen), n)
	}
}
