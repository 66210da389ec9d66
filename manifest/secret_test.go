package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// TestSecretNeverPrintsItsValue: every way Go, encoding/json and zerolog
// print a value gives "[redacted]" or the secret's origin, never the value;
// only Reveal returns it.
func TestSecretNeverPrintsItsValue(t *testing.T) {
	const value = "PLANTED-secret-value-x9"
	env := Secret{Source: SecretEnv, Ref: "HUBSPOT_KEY"}
	env.setValue(value)
	file := Secret{Source: SecretFile, Ref: "secrets/key"}
	file.setValue(value)
	for _, c := range []struct {
		name     string
		s        Secret
		json     string
		describe string
	}{
		{"literal", LiteralSecret(value), `"[redacted]"`, "literal"},
		{"env", env, `{"env":"HUBSPOT_KEY"}`, "env:HUBSPOT_KEY"},
		{"file", file, `{"file":"secrets/key"}`, "file:secrets/key"},
	} {
		if c.s.Reveal() != value || !c.s.Resolved() {
			t.Fatalf("%s: Reveal %q", c.name, c.s.Reveal())
		}
		type holder struct {
			Key Secret
			Ptr *Secret
		}
		h := holder{c.s, &c.s}
		printed := []string{
			c.s.String(), c.s.GoString(),
			fmt.Sprint(c.s), fmt.Sprintf("%v %+v %#v %s %q %x %d", c.s, c.s, c.s, c.s, c.s, c.s, c.s),
			fmt.Sprintf("%v %+v %#v", h, h, h),
		}
		for _, p := range printed {
			if strings.Contains(p, value) || strings.Contains(p, fmt.Sprintf("%x", value)) {
				t.Errorf("%s: printed the value: %s", c.name, p)
			}
		}
		if c.s.String() != "[redacted]" {
			t.Errorf("%s: String %q", c.name, c.s.String())
		}
		j, err := json.Marshal(h)
		if err != nil || strings.Contains(string(j), value) || !strings.Contains(string(j), `"Key":`+c.json) {
			t.Errorf("%s: JSON %s %v, want Key %s", c.name, j, err, c.json)
		}
		if c.s.Describe() != c.describe {
			t.Errorf("%s: Describe %q, want %q", c.name, c.s.Describe(), c.describe)
		}
		var logged bytes.Buffer
		log := zerolog.New(&logged)
		log.Info().Object("key", c.s).Interface("any", c.s).Msg("x")
		if strings.Contains(logged.String(), value) || !strings.Contains(logged.String(), `"secret":"`+c.describe+`"`) {
			t.Errorf("%s: zerolog %s", c.name, logged.String())
		}
	}
}
