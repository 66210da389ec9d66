package provision

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"

	"github.com/hubprov/hubprov/manifest"
)

// Fingerprint returns the spec marker of an account: 16 hex digits, the first 8
// hashing every non-secret desired field, the last 8 hashing the secret values.
// It changes when any desired field changes, and tells which half changed, so a
// plan can say "credentials" without knowing them. The secrets enter through
// SHA-256 with the set and the public half as context; 32 bits of a hash of
// high-entropy tokens reveal nothing usable about them.
func Fingerprint(set string, a manifest.Account) string {
	pub := publicSpec(set, a)
	pb, _ := json.Marshal(pub)
	ph := sha256.Sum256(pb)

	sec := sha256.New()
	sec.Write([]byte("hubprov-secret-v1\x00"))
	sec.Write(ph[:])
	for _, s := range secretValues(a.Auth) {
		sec.Write([]byte(s.Describe()))
		sec.Write([]byte{0})
		sec.Write([]byte(s.Reveal()))
		sec.Write([]byte{0})
	}
	return hex.EncodeToString(ph[:4]) + hex.EncodeToString(sec.Sum(nil)[:4])
}

// spec is the canonical form of an account's non-secret desired state.
type spec struct {
	Set           string         `json:"set"`
	Name          string         `json:"name"`
	Element       string         `json:"element,omitempty"`
	Description   string         `json:"description,omitempty"`
	Tags          []string       `json:"tags,omitempty"`
	Configuration map[string]any `json:"configuration,omitempty"`
	AuthType      string         `json:"authType"`
	ClientID      string         `json:"clientId,omitempty"`
	CallbackURL   string         `json:"callbackURL,omitempty"`
	Scopes        []string       `json:"scopes,omitempty"`
	ExpiresIn     int            `json:"expiresIn,omitempty"`
}

func publicSpec(set string, a manifest.Account) spec {
	tags := append([]string(nil), a.Tags...)
	sort.Strings(tags)
	return spec{
		Set: set, Name: a.Name, Element: a.Element, Description: a.Description,
		Tags: tags, Configuration: a.Configuration,
		AuthType: string(a.Auth.Type), ClientID: a.Auth.ClientID, CallbackURL: a.Auth.CallbackURL,
		Scopes: a.Auth.Scopes, ExpiresIn: a.Auth.ExpiresIn,
	}
}

func secretValues(a manifest.Auth) []manifest.Secret {
	return []manifest.Secret{a.APIKey, a.ClientSecret, a.Code, a.AccessToken, a.RefreshToken}
}

// secretsChanged reports whether two fingerprints differ in their secret half.
func secretsChanged(old, new string) bool {
	if len(old) != 16 || len(new) != 16 {
		return true
	}
	return old[8:] != new[8:]
}
