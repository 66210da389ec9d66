package provision

import (
	"testing"

	"github.com/hubprov/hubprov/manifest"
)

func TestFingerprintHalvesAreIndependent(t *testing.T) {
	a := manifest.Account{Name: "acme", Element: "hubspot", Tags: []string{"t"},
		Auth: manifest.Auth{Type: manifest.AuthOAuth2, ClientID: "c", ClientSecret: manifest.LiteralSecret("s"), Code: manifest.LiteralSecret("code-1")}}
	fp := func(a manifest.Account) specMarker {
		m, ok := parseMarker(Fingerprint("set", a))
		if !ok || m.legacy != "" || m.code == "" {
			t.Fatalf("marker %q does not parse as P-S-C", Fingerprint("set", a))
		}
		return m
	}
	base := fp(a)
	tagged := a
	tagged.Tags = []string{"t", "u"}
	if m := fp(tagged); m.pub == base.pub || m.sec != base.sec || m.code != base.code {
		t.Errorf("a tag change: %v -> %v, want only the public half to change", base, m)
	}
	rotated := a
	rotated.Auth.ClientSecret = manifest.LiteralSecret("s2")
	if m := fp(rotated); m.pub != base.pub || m.sec == base.sec || m.code != base.code {
		t.Errorf("a client secret rotation: %v -> %v, want only S to change", base, m)
	}
	reconsent := a
	reconsent.Auth.Code = manifest.LiteralSecret("code-2")
	if m := fp(reconsent); m.pub != base.pub || m.sec != base.sec || m.code == base.code {
		t.Errorf("a new code: %v -> %v, want only C to change", base, m)
	}
	other := a
	other.Name = "globex"
	if m := fp(other); m.sec == base.sec {
		t.Error("equal secrets of two accounts give equal secret halves: the name is no context")
	}
}

func TestCompareSpec(t *testing.T) {
	a := manifest.Account{Name: "acme", Element: "hubspot",
		Auth: manifest.Auth{Type: manifest.AuthOAuth2, ClientID: "c", ClientSecret: manifest.LiteralSecret("s"), Code: manifest.LiteralSecret("code-1")}}
	cur := Fingerprint("set", a)
	noCode := a
	noCode.Auth.Code = manifest.Secret{}
	tagged := a
	tagged.Tags = []string{"x"}
	tests := []struct {
		name   string
		a      manifest.Account
		remote string
		want   specDelta
		fp     string
	}{
		{"same", a, cur, specDelta{}, cur},
		{"legacy unchanged", a, legacyFingerprint("set", a), specDelta{}, cur},
		{"legacy, public changed: secrets unknown, kept", tagged, legacyFingerprint("set", a), specDelta{Public: true}, Fingerprint("set", tagged)},
		{"legacy, a secret changed", a, legacyFingerprint("set", noCode)[:8] + legacyFingerprint("set", tagged)[8:], specDelta{Secrets: true, Code: true}, cur},
		{"no marker: public, secrets unknown", a, "", specDelta{Public: true}, cur},
		{"garbage marker", a, "zz-top", specDelta{Public: true}, cur},
		{"code removed after create keeps the code part", noCode, cur, specDelta{}, cur},
		{"a code where the instance had none", a, cur[:17], specDelta{Code: true}, cur},
	}
	for _, tc := range tests {
		fp, d := compareSpec("set", tc.a, tc.remote)
		if d != tc.want || fp != tc.fp {
			t.Errorf("%s: %q, %+v; want %q, %+v", tc.name, fp, d, tc.fp, tc.want)
		}
	}
}
