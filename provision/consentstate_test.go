package provision

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestStateSigner(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	s, err := newStateSigner("acme", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	st := s.sign("portal-1", now)
	if name, err := s.verify(st, now.Add(59*time.Minute)); name != "portal-1" || err != nil {
		t.Fatalf("verify: %q %v", name, err)
	}
	if strings.ContainsAny(st, "+/=&?# ") {
		t.Errorf("state %q is not URL-safe", st)
	}
	if st2 := s.sign("portal-1", now); st2 != st {
		t.Errorf("same account and time signed differently")
	}
	otherSet := &stateSigner{key: s.key, set: "globex", ttl: time.Hour}
	otherKey, _ := newStateSigner("acme", time.Hour)
	body, mac, _ := strings.Cut(st[3:], ".")
	for name, c := range map[string]struct {
		state string
		at    time.Time
		want  error
	}{
		"expired":        {st, now.Add(time.Hour), errStateExpired},
		"other set":      {otherSet.sign("portal-1", now), now, errStateOtherSet},
		"other key":      {otherKey.sign("portal-1", now), now, errStateForged},
		"tampered mac":   {"v1." + body + "." + strings.Repeat("A", len(mac)), now, errStateForged},
		"tampered body":  {"v1." + body[:len(body)-2] + "x" + body[len(body)-1:] + "." + mac, now, errStateForged},
		"no mac":         {"v1." + body, now, errStateForged},
		"plain name":     {"portal-1", now, errStateMalformed},
		"other version":  {"v2." + body + "." + mac, now, errStateMalformed},
		"bad base64 mac": {"v1." + body + ".!!", now, errStateMalformed},
		"too long":       {"v1." + strings.Repeat("A", 2000) + "." + mac, now, errStateMalformed},
		"empty":          {"", now, errStateMalformed},
		"signed garbage": {signBody(s, "v1.bm90IGpzb24"), now, errStateMalformed},
		"signed no name": {signBody(s, "v1.eyJzIjoiYWNtZSIsIngiOjk5OTk5OTk5OTl9"), now, errStateMalformed},
	} {
		if _, err := s.verify(c.state, c.at); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

// signBody signs an arbitrary body with s's key, as only this process could.
func signBody(s *stateSigner, body string) string {
	return body + "." + b64(s.mac(body))
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
