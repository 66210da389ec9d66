package provision

import (
	"context"
	"time"

	"github.com/hubprov/hubprov/manifest"
)

// Platform is one integration platform's API, as hubprov uses it. Each method
// makes one attempt: retries, rate control and classification live around the
// calls, in this package. Every error from a method wraps an [*APIError].
type Platform interface {
	// Name returns the platform's name, as in target.platform.
	Name() manifest.Platform

	// ListPage returns one page of the instances that carry the marker of
	// q.Set (and are named exactly q.Name, when it is not empty: a lookup),
	// starting at token: empty for the first page, then each page's Next. A
	// query that matches nothing is an empty last page, not an error. Safe to
	// retry. The engine follows the pages, each one request under the run's
	// policy, and stops a listing that would not end (see [Run.List]).
	ListPage(ctx context.Context, q Query, token string) (Page, error)

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

// Query selects the instances a listing returns.
type Query struct {
	Set  string // the set whose marker the instances carry
	Name string // when not empty, only the instances named exactly Name: a lookup
}

// Page is one page of a listing.
type Page struct {
	Instances []Instance // the page's instances that match the query
	Next      string     // the token of the next page; empty on the last page
	Scanned   int        // the items the page held, before the client kept those matching the query
	Total     int        // the items the platform says the whole listing holds; -1 when it does not say
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
	Element     bool // move the instance to the account's element (Cloud Elements, Open Connectors)
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
	Created       time.Time         // when the platform created it; zero when it does not say
	Valid         bool              // the platform says the instance works
	Enabled       bool              // not disabled
	// Health says Valid and Enabled come from the platform's answer; false
	// when the answer did not say (verify then reads the instance by id).
	Health      bool
	Set         string // from the set marker; empty when unmarked
	Fingerprint string // from the spec marker
}
