package flowservice

import (
	"net/url"
	"strings"
	"time"

	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
)

// The marker line hubprov appends to every description it writes.
const (
	setPrefix  = "hubprov:set="
	specPrefix = "hubprov:spec="
)

// createBody is the body of POST /connections (seed 004).
type createBody struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Auth        authBody `json:"auth"`
	Spec        specRef  `json:"connectionSpec"`
}

type authBody struct {
	SpecName string     `json:"specName"`
	Params   authParams `json:"params"`
}

// authParams are the four params of the HubSpot auth spec, all required.
type authParams struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
}

type specRef struct {
	ID      string `json:"id"`
	Version string `json:"version"`
}

// patchOp is one JSON Patch operation of PATCH /connections/{id}.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// versioned is the answer of POST and PATCH: the id and the new etag.
type versioned struct {
	ID   string `json:"id"`
	ETag string `json:"etag"`
}

// listResponse is the answer of GET /connections and GET /connections/{id}.
type listResponse struct {
	Items             []connection `json:"items"`
	ContinuationToken string       `json:"continuationToken"`
	Links             struct {
		Next struct {
			Href string `json:"href"`
		} `json:"next"`
	} `json:"_links"`
}

// next returns the continuation token of the next page, from the top-level
// field or from _links.next.href; empty on the last page.
func (l listResponse) next() string {
	if l.ContinuationToken != "" {
		return l.ContinuationToken
	}
	if h := l.Links.Next.Href; h != "" {
		if u, err := url.Parse(h); err == nil {
			return u.Query().Get("continuationToken")
		}
	}
	return ""
}

// connection is the part of a connection item hubprov reads.
type connection struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	State       string `json:"state"`
	ETag        string `json:"etag"`
	Version     string `json:"version"`
	CreatedAt   any    `json:"createdAt"` // epoch milliseconds
	Spec        struct {
		ID string `json:"id"`
	} `json:"connectionSpec"`
}

// instance converts a connection item; the marker line is split off the description.
func (c connection) instance() provision.Instance {
	in := provision.Instance{
		ID:      c.ID,
		Name:    c.Name,
		ETag:    c.ETag,
		Valid:   c.State == "enabled",
		Enabled: c.State == "enabled",
		Health:  c.State != "",
	}
	if ms, ok := c.CreatedAt.(float64); ok {
		in.Created = time.UnixMilli(int64(ms)).UTC()
	}
	if in.ETag == "" {
		in.ETag = c.Version // the same value, per the API reference
	}
	if c.Spec.ID != "" && c.Spec.ID != SpecID {
		return in // not a HubSpot connection: never hubprov's
	}
	in.Description, in.Set, in.Fingerprint = parseDescription(c.Description)
	return in
}

// describe returns the description to send: the user's, then the marker line.
func describe(user, set, fingerprint string) string {
	marker := setPrefix + set + " " + specPrefix + fingerprint
	if user == "" {
		return marker
	}
	return user + "\n" + marker
}

// parseDescription splits the last marker line off desc.
func parseDescription(desc string) (user, set, fingerprint string) {
	lines := strings.Split(desc, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if !strings.HasPrefix(lines[i], setPrefix) {
			continue
		}
		for _, f := range strings.Fields(lines[i]) {
			switch {
			case strings.HasPrefix(f, setPrefix):
				set = strings.TrimPrefix(f, setPrefix)
			case strings.HasPrefix(f, specPrefix):
				fingerprint = strings.TrimPrefix(f, specPrefix)
			}
		}
		return strings.Join(append(lines[:i:i], lines[i+1:]...), "\n"), set, fingerprint
	}
	return desc, "", ""
}

// params returns the auth params of an oauth2Tokens account.
func params(a manifest.Auth) authParams {
	return authParams{
		ClientID:     a.ClientID,
		ClientSecret: a.ClientSecret.Reveal(),
		AccessToken:  a.AccessToken.Reveal(),
		RefreshToken: a.RefreshToken.Reveal(),
	}
}

// accountSecrets lists the secret values of an account, for scrubbing.
func accountSecrets(a manifest.Account) []string {
	au := a.Auth
	return []string{au.APIKey.Reveal(), au.ClientSecret.Reveal(), au.Code.Reveal(), au.AccessToken.Reveal(), au.RefreshToken.Reveal()}
}
