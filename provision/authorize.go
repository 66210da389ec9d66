package provision

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hubprov/hubprov/manifest"
)

// Authorizer is a platform that issues HubSpot consent URLs for oauth2
// accounts: Cloud Elements and Open Connectors (GET /elements/{key}/oauth/url).
// Flow Service has none. OAuthURL makes one attempt and its error wraps an
// [*APIError]; it is safe to retry, as it changes nothing on the platform.
type Authorizer interface {
	OAuthURL(ctx context.Context, element, clientID string, clientSecret manifest.Secret, callbackURL string, scopes []string, state string) (string, error)
}

// CanAuthorize reports whether pf issues consent URLs.
func CanAuthorize(pf Platform) bool {
	_, ok := pf.(Authorizer)
	return ok
}

// NeedsConsent reports whether a is an oauth2 account without an
// authorization code: its portal owner must open a consent URL first.
func NeedsConsent(a manifest.Account) bool {
	return a.Auth.Type == manifest.AuthOAuth2 && a.Auth.Code.IsZero()
}

// ConsentURL is one account's consent URL, or why there is none.
type ConsentURL struct {
	Name     string
	Element  string
	URL      string // empty unless Status is Succeeded
	Status   Status // Succeeded, Failed, or Skipped when the run stopped before asking
	Attempts int
	Duration time.Duration
	Error    *ResultError // for a failed account
}

// ConsentOutcome is what AuthorizeURLs did.
type ConsentOutcome struct {
	URLs []ConsentURL // one per account, in the order given
	// Aborted says why the run stopped early; empty when it did not.
	Aborted    string
	AbortClass Class // Systemic or Canceled
	// Requests counts requests sent; Throttled the 429 and 503 answers; Retries the retried attempts.
	Requests, Throttled, Retries int
}

// AuthorizeURLs asks the platform for the consent URL of every account, with
// the account's client id, client secret, callback URL and scopes, and the
// account's name as the OAuth state, so the callback can tell which portal
// granted the code. It runs under the same retry and rate policy as Apply
// (opts.Parallelism, Rate, MaxAttempts, RequestTimeout, Log, Scrub; the
// failure budget, Journal, Verify and Progress do not apply): one account's
// failure is recorded in its ConsentURL and never stops the others, and the
// run stops early only when the platform rejects its credentials or ctx is
// cancelled. The caller chooses the accounts, normally those NeedsConsent
// selects. The run's platform must be an Authorizer (see CanAuthorize).
func (r *Run) AuthorizeURLs(ctx context.Context, accounts []manifest.Account) ConsentOutcome {
	stopCtx, stop := r.batch(ctx)
	defer stop()
	opts := r.opts
	az, _ := r.pf.(Authorizer)
	out := make([]ConsentURL, len(accounts))

	g := new(errgroup.Group)
	g.SetLimit(accountsInProgress(opts.Parallelism))
	for i := range accounts {
		a := &accounts[i]
		out[i] = ConsentURL{Name: a.Name, Element: a.Element, Status: Skipped}
		if stopCtx.Err() != nil {
			continue
		}
		g.Go(func() error {
			if stopCtx.Err() != nil {
				return nil
			}
			out[i] = r.consentURL(stopCtx, az, a, a.Name)
			return nil
		})
	}
	_ = g.Wait()
	aborted, class := r.abortState()
	if aborted == "" && ctx.Err() != nil {
		aborted, class = "interrupted", Canceled
	}
	req, thr, ret := r.Counts()
	return ConsentOutcome{URLs: out, Aborted: aborted, AbortClass: class, Requests: req, Throttled: thr, Retries: ret}
}

// consentURL asks for one account's consent URL, carrying state, under the run's policy.
func (r *Run) consentURL(ctx context.Context, az Authorizer, a *manifest.Account, state string) ConsentURL {
	start := time.Now()
	attempts := 0
	var u string
	err := r.retrying(ctx, request{account: a.Name, attempts: &attempts}, func(ctx context.Context) error {
		if az == nil {
			return fmt.Errorf("%s has no consent URL", r.pf.Name())
		}
		var err error
		u, err = az.OAuthURL(ctx, a.Element, a.Auth.ClientID, a.Auth.ClientSecret, a.Auth.CallbackURL, a.Auth.Scopes, state)
		return err
	})
	c := ConsentURL{Name: a.Name, Element: a.Element, Attempts: attempts, Duration: time.Since(start)}
	if err != nil && Classify(err) == Canceled {
		c.Status = Skipped // interrupted before an answer; asking changes nothing, so nothing is lost
		return c
	}
	if err != nil {
		c.Status = Failed
		c.Error = r.resultError(err)
		r.opts.Log.Warn().Str("account", a.Name).Str("class", string(c.Error.Class)).
			Int("httpStatus", c.Error.HTTPStatus).Str("error", c.Error.Message).Msg("consent URL failed")
		return c
	}
	c.Status, c.URL = Succeeded, u
	return c
}
