package manifest

import (
	"encoding/json"
	"fmt"

	"github.com/rs/zerolog"
)

// SecretSource says where a secret value comes from.
type SecretSource int

const (
	// SecretLiteral is a value written in the manifest itself.
	SecretLiteral SecretSource = iota
	// SecretEnv is a value read from an environment variable.
	SecretEnv
	// SecretFile is a value read from a file, relative to the manifest's folder.
	SecretFile
)

const redacted = "[redacted]"

// Secret holds a secret value or a reference to one. It cannot print itself:
// String, GoString, Format, MarshalJSON and zerolog marshalling never show the
// value. Only [Secret.Reveal] returns it, for the request that needs it.
type Secret struct {
	// Source says whether the value is literal or a reference.
	Source SecretSource
	// Ref is the environment variable name or the file path as written; empty for a literal.
	Ref string
	// Pos is where the value or reference stands in the manifest.
	Pos Pos

	value    string
	resolved bool
}

// LiteralSecret returns a resolved secret holding v.
func LiteralSecret(v string) Secret { return Secret{Source: SecretLiteral, value: v, resolved: true} }

// IsZero reports whether the secret was not given at all.
func (s Secret) IsZero() bool { return s.Source == SecretLiteral && !s.resolved && s.Ref == "" }

// Resolved reports whether the value is known (a literal, or a reference already resolved).
func (s Secret) Resolved() bool { return s.resolved }

// Reveal returns the secret value. It is empty until the secret is resolved.
// Call it only to put the value on the wire.
func (s Secret) Reveal() string { return s.value }

// Describe names the secret's origin without its value: "literal", "env:NAME" or "file:PATH".
func (s Secret) Describe() string {
	switch s.Source {
	case SecretEnv:
		return "env:" + s.Ref
	case SecretFile:
		return "file:" + s.Ref
	default:
		return "literal"
	}
}

// String returns "[redacted]".
func (s Secret) String() string { return redacted }

// GoString returns "[redacted]".
func (s Secret) GoString() string { return redacted }

// Format prints "[redacted]" for every verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON writes the reference ({"env": NAME} or {"file": PATH}), or "[redacted]" for a literal.
func (s Secret) MarshalJSON() ([]byte, error) {
	switch s.Source {
	case SecretEnv:
		return json.Marshal(map[string]string{"env": s.Ref})
	case SecretFile:
		return json.Marshal(map[string]string{"file": s.Ref})
	default:
		return json.Marshal(redacted)
	}
}

// MarshalZerologObject logs the secret's origin only.
func (s Secret) MarshalZerologObject(e *zerolog.Event) { e.Str("secret", s.Describe()) }

// setValue records a resolved value.
func (s *Secret) setValue(v string) {
	s.value = v
	s.resolved = true
}
