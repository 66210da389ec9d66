package flowservice

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/emulator"
)

func demoCreds() manifest.Credentials {
	return manifest.Credentials{AccessToken: lit("demo-token"), APIKey: lit("demo-key"), IMSOrg: "demo@AdobeOrg", Sandbox: "prod"}
}

// TestContractEmulator runs every call of the client through the emulator:
// create, list, lookup, get, update (and a stale If-Match), delete.
func TestContractEmulator(t *testing.T) {
	srv := httptest.NewServer(emulator.New(emulator.Options{}))
	defer srv.Close()
	c := New(srv.URL+emulator.FlowServicePrefix, srv.Client(), demoCreds())
	ctx := context.Background()

	a := account("first connection")
	in, err := c.Create(ctx, desired(a))
	if err != nil {
		t.Fatal(err)
	}
	if in.ID == "" || in.ETag == "" || in.Set != testSet || in.Description != "first connection" {
		t.Errorf("create = %+v", in)
	}
	b := account("")
	b.Name = "second"
	if _, err := c.Create(ctx, desired(b)); err != nil {
		t.Fatal(err)
	}
	other := desired(account("x"))
	other.Account.Name = "foreign"
	other.Set = "other-set"
	if _, err := c.Create(ctx, other); err != nil {
		t.Fatal(err)
	}

	list, err := listSet(c, ctx, testSet)
	if err != nil || len(list) != 2 {
		t.Errorf("list = %+v, %v; want 2 connections", list, err)
	}
	found, err := lookupName(c, ctx, testSet, a.Name)
	if err != nil || found == nil || found.ID != in.ID {
		t.Fatalf("lookup = %+v, %v; want id %s", found, err, in.ID)
	}
	if none, err := lookupName(c, ctx, testSet, "foreign"); err != nil || none != nil {
		t.Errorf("lookup of another set's connection = %+v, %v", none, err)
	}

	got, err := c.Get(ctx, in.ID)
	if err != nil || got.Name != a.Name || got.Description != "first connection" || got.Fingerprint != testFP || !got.Enabled || got.ETag != in.ETag {
		t.Fatalf("get = %+v, %v", got, err)
	}

	d := desired(account("changed"))
	d.Fingerprint = "fedcba98-76543210"
	d.Send.Credentials = true
	up, err := c.Update(ctx, got, d)
	if err != nil {
		t.Fatal(err)
	}
	if up.ETag == got.ETag || up.Description != "changed" || up.Fingerprint != d.Fingerprint {
		t.Errorf("update = %+v", up)
	}
	again, err := c.Get(ctx, in.ID)
	if err != nil || again.Description != "changed" || again.Fingerprint != d.Fingerprint || again.ETag != up.ETag {
		t.Errorf("get after update = %+v, %v", again, err)
	}

	// The old ETag is stale now: 412, an item error the engine resolves with Get.
	_, err = c.Update(ctx, got, d)
	var ae *provision.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusPreconditionFailed {
		t.Errorf("update with a stale etag = %v, want an *APIError 412", err)
	}

	if err := c.Delete(ctx, up); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, up); !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Errorf("second delete = %v, want an *APIError 404", err)
	}
	if _, err := c.Get(ctx, in.ID); !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Errorf("get after delete = %v, want an *APIError 404", err)
	}

	bad := New(srv.URL+emulator.FlowServicePrefix, srv.Client(), creds())
	if _, err := listSet(bad, ctx, testSet); provision.Classify(err) != provision.Systemic {
		t.Errorf("list with wrong credentials = %v, want systemic", err)
	}
}

// TestContractEmulatorPaging creates more connections than one page holds.
func TestContractEmulatorPaging(t *testing.T) {
	srv := httptest.NewServer(emulator.New(emulator.Options{}))
	defer srv.Close()
	c := New(srv.URL+emulator.FlowServicePrefix, srv.Client(), demoCreds())
	ctx := context.Background()
	const n = listLimit + 7
	for i := range n {
		a := account("")
		a.Name = "page-" + strconv.Itoa(i)
		if _, err := c.Create(ctx, desired(a)); err != nil {
			t.Fatal(err)
		}
	}
	list, err := listSet(c, ctx, testSet)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != n {
		t.Errorf("list = %d connections, want %d", len(list), n)
	}
}
