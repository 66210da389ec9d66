package provision

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// stateSigner makes and checks the OAuth state of consent URLs: the set, the
// account and an expiry, signed with HMAC-SHA256 under a key that only this
// process holds. A callback's state is the only thing that says which account
// a code belongs to, so a state that was not made here, was changed, has
// expired or names another set is refused.
type stateSigner struct {
	key []byte
	set string
	ttl time.Duration
}

// The reasons a state is refused.
var (
	errStateMalformed = errors.New("the state is not one this server issued")
	errStateForged    = errors.New("the state's signature does not match: it was changed, or issued by another server or run")
	errStateExpired   = errors.New("the state has expired")
	errStateOtherSet  = errors.New("the state was issued for another set")
)

const stateVersion = "v1"

// newStateSigner returns a signer for set with a fresh random key.
func newStateSigner(set string, ttl time.Duration) (*stateSigner, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return &stateSigner{key: key, set: set, ttl: ttl}, nil
}

type statePayload struct {
	Set     string `json:"s"`
	Account string `json:"a"`
	Expires int64  `json:"x"` // Unix seconds
}

// sign returns the state for account, valid until now+ttl. It is URL-safe:
// "v1.<payload>.<mac>", both base64url without padding.
func (s *stateSigner) sign(account string, now time.Time) string {
	p, _ := json.Marshal(statePayload{Set: s.set, Account: account, Expires: now.Add(s.ttl).Unix()})
	body := stateVersion + "." + base64.RawURLEncoding.EncodeToString(p)
	return body + "." + base64.RawURLEncoding.EncodeToString(s.mac(body))
}

func (s *stateSigner) mac(body string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(body))
	return m.Sum(nil)
}

// verify returns the account a state names, or why it is refused. The
// signature is compared in constant time before anything in the payload is
// trusted.
func (s *stateSigner) verify(state string, now time.Time) (string, error) {
	if len(state) > 1024 {
		return "", errStateMalformed
	}
	i := strings.LastIndexByte(state, '.')
	if i < 0 || !strings.HasPrefix(state, stateVersion+".") {
		return "", errStateMalformed
	}
	body, sig := state[:i], state[i+1:]
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return "", errStateMalformed
	}
	if !hmac.Equal(got, s.mac(body)) {
		return "", errStateForged
	}
	raw, err := base64.RawURLEncoding.DecodeString(body[len(stateVersion)+1:])
	if err != nil {
		return "", errStateMalformed
	}
	var p statePayload
	if err := json.Unmarshal(raw, &p); err != nil || p.Account == "" {
		return "", errStateMalformed
	}
	if p.Set != s.set {
		return "", errStateOtherSet
	}
	if !now.Before(time.Unix(p.Expires, 0)) {
		return "", errStateExpired
	}
	return p.Account, nil
}
