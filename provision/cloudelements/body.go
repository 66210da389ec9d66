package cloudelements

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
)

// The marker tags hubprov puts on every instance it creates.
const (
	setPrefix  = "hubprov:set="
	specPrefix = "hubprov:spec="
)

func setMarker(set string) string { return setPrefix + set }

// Configuration keys with a fixed meaning.
const (
	keyAuthType      = "authentication.type"
	keyAPIKey        = "hubspot.authorization.apikey"
	keyClientID      = "oauth.api.key"
	keyClientSecret  = "oauth.api.secret"
	keyCallbackURL   = "oauth.callback.url"
	keyScope         = "oauth.scope"
	keyBulkProps     = "create.bulk.properties"
	keyFilterNulls   = "filter.response.nulls"
	defaultExpiresIn = 1800
)

// authKeys are the configuration keys that come from an account's auth block;
// a user configuration entry cannot override them.
var authKeys = map[string]bool{
	keyAuthType: true, keyAPIKey: true, keyClientID: true, keyClientSecret: true,
	keyCallbackURL: true, keyScope: true,
	"oauth.user.token": true, "oauth.user.refresh_token": true,
}

// secretKeys are configuration keys whose values are secrets even when the
// platform shows them unmasked (oauth.user.token in the documented GET).
var secretKeys = map[string]bool{
	keyAPIKey: true, keyClientSecret: true,
	"oauth.user.token": true, "oauth.user.refresh_token": true,
	"event.notification.signature.key": true,
}

type elementRef struct {
	Key string `json:"key"`
}

// instanceBody is the body of POST /instances.
type instanceBody struct {
	Element       elementRef     `json:"element"`
	ProviderData  map[string]any `json:"providerData,omitempty"`
	Configuration map[string]any `json:"configuration"`
	Tags          []string       `json:"tags"`
	Name          string         `json:"name"`
}

// patchBody is the body of PATCH /instances/{id}: what changed, and always
// the whole tag set, which a PATCH replaces.
type patchBody struct {
	Element       *elementRef    `json:"element,omitempty"`
	Name          string         `json:"name,omitempty"`
	Tags          []string       `json:"tags"`
	Configuration map[string]any `json:"configuration,omitempty"`
	ProviderData  map[string]any `json:"providerData,omitempty"`
}

// credentialKeys are the configuration keys of an auth block that hold secrets.
var credentialKeys = map[string]bool{keyAPIKey: true, keyClientSecret: true}

// createBody builds the body the platform documents for the account's auth
// type (seed documents 000, 002, 003).
func createBody(d provision.Desired) instanceBody {
	a := d.Account
	return instanceBody{
		Element:       elementRef{Key: a.Element},
		ProviderData:  providerData(a.Auth),
		Configuration: configuration(a, true),
		Tags:          tags(d),
		Name:          a.Name,
	}
}

// updateBody builds the PATCH body from d.Send: the whole tag set; the name
// and the user configuration keys that changed; the non-secret auth keys when
// a field the platform does not show changed; the secret keys and tokens only
// when the secret half changed; the authorization code only when it changed.
func updateBody(d provision.Desired) patchBody {
	s, a := d.Send, d.Account
	b := patchBody{Tags: tags(d)}
	if s.Name {
		b.Name = a.Name
	}
	if s.Element {
		b.Element = &elementRef{Key: a.Element}
	}
	full := configuration(a, true)
	cfg := map[string]any{}
	for _, k := range s.Configuration {
		if v, ok := full[k]; ok && !authKeys[k] {
			cfg[k] = v
		}
	}
	for k, v := range full {
		if !authKeys[k] {
			continue
		}
		if credentialKeys[k] && s.Credentials || !credentialKeys[k] && (s.Auth || s.Credentials) {
			cfg[k] = v
		}
	}
	if len(cfg) > 0 {
		b.Configuration = cfg
	}
	switch {
	case a.Auth.Type == manifest.AuthOAuth2 && s.Code:
		b.ProviderData = providerData(a.Auth)
	case a.Auth.Type == manifest.AuthOAuth2Tokens && s.Credentials:
		b.ProviderData = providerData(a.Auth)
	}
	return b
}

// tags returns the user's tags followed by the set and spec markers.
func tags(d provision.Desired) []string {
	out := make([]string, 0, len(d.Account.Tags)+2)
	for _, t := range d.Account.Tags {
		if !strings.HasPrefix(t, setPrefix) && !strings.HasPrefix(t, specPrefix) {
			out = append(out, t)
		}
	}
	return append(out, setMarker(d.Set), specPrefix+d.Fingerprint)
}

// providerData returns the providerData object of the auth type, or nil when
// it has none.
func providerData(a manifest.Auth) map[string]any {
	switch a.Type {
	case manifest.AuthOAuth2:
		return map[string]any{"code": a.Code.Reveal()}
	case manifest.AuthOAuth2Tokens:
		exp := a.ExpiresIn
		if exp <= 0 {
			exp = defaultExpiresIn
		}
		return map[string]any{
			"apikey":        a.ClientID,
			"access_token":  a.AccessToken.Reveal(),
			"refresh_token": a.RefreshToken.Reveal(),
			"expires_in":    strconv.Itoa(exp), // a string in the seed
		}
	}
	return nil
}

// configuration returns the configuration object: the user's entries (with
// the seed's value types for known keys), the seed's defaults of apiKey and
// oauth2, and, when withAuth, the credential keys of the auth type.
func configuration(a manifest.Account, withAuth bool) map[string]any {
	cfg := map[string]any{}
	if a.Auth.Type == manifest.AuthAPIKey || a.Auth.Type == manifest.AuthOAuth2 {
		cfg[keyBulkProps] = "false"
		cfg[keyFilterNulls] = true
	}
	for k, v := range a.Configuration {
		if authKeys[k] {
			continue
		}
		switch k {
		case keyBulkProps:
			cfg[k] = bulkString(v)
		case keyFilterNulls:
			cfg[k] = nullsBool(v)
		default:
			cfg[k] = v
		}
	}
	if !withAuth {
		return cfg
	}
	au := a.Auth
	switch au.Type {
	case manifest.AuthAPIKey:
		cfg[keyAPIKey] = au.APIKey.Reveal()
		cfg[keyAuthType] = string(manifest.AuthAPIKey)
	case manifest.AuthOAuth2:
		cfg[keyAuthType] = string(manifest.AuthOAuth2)
		cfg[keyCallbackURL] = au.CallbackURL
		cfg[keyClientID] = au.ClientID
		cfg[keyClientSecret] = au.ClientSecret.Reveal()
	case manifest.AuthOAuth2Tokens:
		cfg[keyClientID] = au.ClientID
		cfg[keyClientSecret] = au.ClientSecret.Reveal()
		cfg[keyCallbackURL] = au.CallbackURL
		if len(au.Scopes) > 0 {
			cfg[keyScope] = strings.Join(au.Scopes, "+") // "contacts-rw+offline" in the seed
		}
	}
	return cfg
}

// bulkString gives create.bulk.properties the seed's type: the string "true" or "false".
func bulkString(v any) any {
	switch x := v.(type) {
	case bool:
		return strconv.FormatBool(x)
	case string:
		if b, err := strconv.ParseBool(x); err == nil {
			return strconv.FormatBool(b)
		}
		return x
	case nil:
		return "false"
	default:
		return fmt.Sprint(x)
	}
}

// nullsBool gives filter.response.nulls the seed's type: a JSON bool.
func nullsBool(v any) any {
	if s, ok := v.(string); ok {
		if b, err := strconv.ParseBool(s); err == nil {
			return b
		}
	}
	if v == nil {
		return true
	}
	return v
}

// accountSecrets lists the secret values of an account, for scrubbing.
func accountSecrets(a manifest.Account) []string {
	au := a.Auth
	return []string{au.APIKey.Reveal(), au.ClientSecret.Reveal(), au.Code.Reveal(), au.AccessToken.Reveal(), au.RefreshToken.Reveal()}
}
