package provision

import (
	"context"

	"github.com/hubprov/hubprov/manifest"
)

// Platform is one integration platform's API, as hubprov uses it. Each method
// makes one attempt: retries, rate control and classification live around the
// calls, in this package. Every error from a method wraps an [*APIError].
type Platform interface {
	// Name returns the platform's name, as in target.platform.
	Name() manifest.Platform

	// List returns every instance carrying the marker of set, following all pages.
	// An empty result is not an error. Safe to retry.
	List(ctx context.Context, set string) ([]Instance, error)

	// Lookup returns the instance of set named name, or nil when there is none.
	// It is the read-before-retry of an ambiguous create. Safe to retry.
	Lookup(ctx context.Context, set, name string) (*Instance, error)

	// Get reads one instance by id, with its health. Safe to retry.
	Get(ctx context.Context, id string) (Instance, error)

	// Create creates the desired instance. Not safe to retry blindly: after an
	// ambiguous failure the caller must Lookup first.
	Create(ctx context.Context, d Desired) (Instance, error)

	// Update changes cur to match d. Safe to retry: a stale version is refreshed
	// by the caller through Get.
	Update(ctx context.Context, cur Instance, d Desired) (Instance, error)

	// Delete removes the instance. A 404 is reported as an *APIError with
	// Status 404, which the caller treats as already deleted. Safe to retry.
	Delete(ctx context.Context, cur Instance) error
}

// Desired is what one account should look like on the platform.
type Desired struct {
	Account     manifest.Account // secrets resolved
	Set         string
	Fingerprint string // the spec marker value; see Fingerprint
	// Send says what an update sends; Create ignores it.
	Send UpdateFields
}

// UpdateFields says what an update sends besides what carries the markers,
// which is always sent: the whole tag set (Cloud Elements, Open Connectors;
// a PATCH replaces it) or the description (Flow Service). The zero value
// sends nothing else.
type UpdateFields struct {
	Name        bool
	Description bool
	// Configuration lists the user's configuration keys to send: those whose
	// value differs from what the platform shows, or that it does not show.
	Configuration []string
	// Auth sends the non-secret auth settings (auth type, client id, callback
	// URL, scopes): a field the platform does not show changed.
	Auth bool
	// Credentials sends the secrets, because the secret half changed: the
	// secret configuration keys and tokens (Cloud Elements, Open Connectors) or
	// /auth/params (Flow Service).
	Credentials bool
	// Code sends providerData.code: the manifest's authorization code changed
	// (a new consent). A code is single-use, so it is never sent otherwise.
	Code bool
}

// Instance is what the platform holds for one account: a Cloud Elements or Open
// Connectors element instance, or a Flow Service base connection.
type Instance struct {
	ID            string
	Name          string
	Element       string
	Tags          []string          // user tags, markers removed
	Configuration map[string]string // non-secret configuration as the platform shows it
	Description   string            // user description, marker removed (Flow Service)
	Token         manifest.Secret   // the instance token (Cloud Elements, Open Connectors), when the platform returns it
	ETag          string            // Flow Service version, echoed in If-Match
	Valid         bool              // the platform says the instance works
	Enabled       bool              // not disabled
	// Health says Valid and Enabled come from the platform's answer; false
	// when the answer did not say (verify then reads the instance by id).
	Health      bool
	Set         string // from the set marker; empty when unmarked
	Fingerprint string // from the spec marker
}
