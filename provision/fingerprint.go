package provision

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strings"

	"github.com/hubprov/hubprov/manifest"
)

// Fingerprint returns the spec marker of an account: "P-S", or "P-S-C" for an
// account with an authorization code, each part 8 hex digits. P (the public
// half) hashes every non-secret desired field; the secret half hashes the
// secret values alone, S the app and token secrets and C the authorization
// code. The halves are independent, so a plan can tell a tag edit from a
// secret rotation, and C tells a new consent (a new code, which must be
// exchanged) from a rotated client secret (which must not re-send the used
// code). The secrets enter through SHA-256 with the set, the account name and
// a domain label as context; 32 bits of a hash of high-entropy tokens reveal
// nothing usable about them.
func Fingerprint(set string, a manifest.Account) string {
	return specParts(set, a).String()
}

// specMarker is a parsed spec marker.
type specMarker struct {
	pub, sec, code string // 8 hex digits each; code empty when there is none
	// legacy is the whole marker of a release before the halves were
	// independent: 16 hex digits whose second half hashes the first.
	legacy string
}

func (m specMarker) String() string {
	if m.legacy != "" {
		return m.legacy
	}
	s := m.pub + "-" + m.sec
	if m.code != "" {
		s += "-" + m.code
	}
	return s
}

// parseMarker reads a spec marker: the current form or the legacy one.
func parseMarker(s string) (specMarker, bool) {
	if len(s) == 16 && isHex(s) {
		return specMarker{pub: s[:8], legacy: s}, true
	}
	parts := strings.Split(s, "-")
	if len(parts) < 2 || len(parts) > 3 {
		return specMarker{}, false
	}
	for _, p := range parts {
		if len(p) != 8 || !isHex(p) {
			return specMarker{}, false
		}
	}
	m := specMarker{pub: parts[0], sec: parts[1]}
	if len(parts) == 3 {
		m.code = parts[2]
	}
	return m, true
}

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func specParts(set string, a manifest.Account) specMarker {
	ph := publicHash(set, a)
	m := specMarker{pub: hex.EncodeToString(ph[:4])}
	m.sec = secretPart("hubprov-secret-v2", set, a.Name, secretValues(a.Auth))
	if a.Auth.Code.Resolved() && a.Auth.Code.Reveal() != "" {
		m.code = secretPart("hubprov-code-v2", set, a.Name, []manifest.Secret{a.Auth.Code})
	}
	return m
}

func publicHash(set string, a manifest.Account) [32]byte {
	pb, _ := json.Marshal(publicSpec(set, a))
	return sha256.Sum256(pb)
}

func secretPart(label, set, name string, secrets []manifest.Secret) string {
	h := sha256.New()
	for _, s := range []string{label, set, name} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	for _, s := range secrets {
		h.Write([]byte(s.Describe()))
		h.Write([]byte{0})
		h.Write([]byte(s.Reveal()))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:4])
}

// legacyFingerprint is the spec marker the releases before independent halves
// wrote. It is computed only to recognise their markers: an instance they
// made is unchanged when its marker equals this.
func legacyFingerprint(set string, a manifest.Account) string {
	ph := publicHash(set, a)
	sec := sha256.New()
	sec.Write([]byte("hubprov-secret-v1\x00"))
	sec.Write(ph[:])
	for _, s := range []manifest.Secret{a.Auth.APIKey, a.Auth.ClientSecret, a.Auth.Code, a.Auth.AccessToken, a.Auth.RefreshToken} {
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

// secretValues are the secrets of the S part: all but the authorization code.
func secretValues(a manifest.Auth) []manifest.Secret {
	return []manifest.Secret{a.APIKey, a.ClientSecret, a.AccessToken, a.RefreshToken}
}

// specDelta is what a remote spec marker says about the desired account.
type specDelta struct {
	Public  bool // a non-secret desired field changed, or the marker cannot be read
	Secrets bool // a secret other than the authorization code changed
	Code    bool // the authorization code changed: a new consent to exchange
}

// credentials reports whether the secret half changed.
func (d specDelta) credentials() bool { return d.Secrets || d.Code }

// compareSpec compares an instance's spec marker with the desired account and
// returns the fingerprint an update writes. An account whose code was removed
// after its instance exists keeps the instance's code part: the grant stays.
//
// Markers of earlier releases are recognised: equal to legacyFingerprint,
// the instance is unchanged and keeps its marker until a real update. When
// their public half differs, the secret half cannot be checked (it hashed the
// old public half), so the secrets count as unchanged: never re-sending a
// code that was consumed is the safe side. A missing or unreadable marker
// counts as a public change whose secrets are unknown, for the same reason.
func compareSpec(set string, a manifest.Account, remote string) (string, specDelta) {
	want := specParts(set, a)
	noCode := NeedsConsent(a)
	rm, ok := parseMarker(remote)
	var d specDelta
	switch {
	case !ok:
		d.Public = true
	case rm.legacy != "":
		d.Public = rm.pub != want.pub
		if !d.Public && !noCode && remote != legacyFingerprint(set, a) {
			// Which secret changed cannot be told: a code in the manifest is
			// sent, in case it is a new consent.
			d.Secrets = true
			d.Code = want.code != ""
		}
	default:
		d.Public = rm.pub != want.pub
		d.Secrets = rm.sec != want.sec
		switch {
		case noCode:
			want.code = rm.code
		default:
			d.Code = rm.code != want.code
		}
	}
	return want.String(), d
}

// sameSpec reports whether two fingerprints of one account are the same spec;
// for an account without a code (whose instance keeps its code part) the code
// parts are not compared.
func sameSpec(a, b string, noCode bool) bool {
	if !noCode {
		return a == b
	}
	ma, oka := parseMarker(a)
	mb, okb := parseMarker(b)
	if !oka || !okb || ma.legacy != "" || mb.legacy != "" {
		return a == b
	}
	return ma.pub == mb.pub && ma.sec == mb.sec
}
