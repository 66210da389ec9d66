package manifest

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/hubprov/hubprov/schema"
)

// yaml12 is this test's oracle for what an editor or any other YAML 1.2 tool
// reads: the core schema's scalars, by the regular expressions of YAML 1.2.2
// section 10.3.2, written out here independently of the converter.
func yaml12(t *testing.T, n *yaml.Node) any {
	t.Helper()
	switch n.Kind {
	case yaml.DocumentNode:
		return yaml12(t, n.Content[0])
	case yaml.AliasNode:
		return math.Inf(1) // not expanded (alias bombs); the loader refuses aliases anyway
	case yaml.SequenceNode:
		out := []any{}
		for _, c := range n.Content {
			out = append(out, yaml12(t, c))
		}
		return out
	case yaml.MappingNode:
		out := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			out[n.Content[i].Value] = yaml12(t, n.Content[i+1])
		}
		return out
	}
	v := n.Value
	if n.Style != 0 && n.Style != yaml.FlowStyle || n.Tag == "!!str" && n.Style&yaml.TaggedStyle != 0 {
		return v // quoted, block scalars, explicit !!str
	}
	match := func(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
	switch {
	case match(`^(null|Null|NULL|~)?$`, v):
		return nil
	case match(`^(true|True|TRUE)$`, v):
		return true
	case match(`^(false|False|FALSE)$`, v):
		return false
	case match(`^[-+]?[0-9]+$`, v):
		f, _ := strconv.ParseFloat(v, 64)
		return f
	case match(`^0o[0-7]+$`, v):
		i, _ := strconv.ParseUint(v[2:], 8, 64)
		return float64(i)
	case match(`^0x[0-9a-fA-F]+$`, v):
		i, _ := strconv.ParseUint(v[2:], 16, 64)
		return float64(i)
	case match(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`, v):
		f, _ := strconv.ParseFloat(v, 64)
		return f
	case match(`^[-+]?\.(inf|Inf|INF)$`, v), match(`^\.(nan|NaN|NAN)$`, v):
		return math.Inf(1) // JSON has no such number: the schema check below refuses it
	}
	return v
}

// schemaAlone validates the file as an editor does: YAML 1.2 into JSON, then
// the published schema. It reports whether the file is valid, and false also
// when the text is no YAML (or holds a number JSON cannot).
func schemaAlone(t *testing.T, path string) bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(asYAML11(data), &n); err != nil || len(n.Content) == 0 {
		return false
	}
	v := yaml12(t, &n)
	if hasInf(v) {
		return false // a YAML alias, or a number JSON cannot hold
	}
	vs, err := schema.Validate(v)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return len(vs) == 0
}

func hasInf(v any) bool {
	switch x := v.(type) {
	case float64:
		return math.IsInf(x, 0)
	case []any:
		for _, e := range x {
			if hasInf(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if hasInf(e) {
				return true
			}
		}
	}
	return false
}

// TestSchemaAndLoaderAgree runs the examples and the golden invalid manifests
// through the published schema alone and through Load (what validate runs):
// every example passes both; no file passes Load that the schema refuses
// (validate adds domain rules, so it may refuse more).
func TestSchemaAndLoaderAgree(t *testing.T) {
	var files []string
	for _, g := range []string{"../examples/*.yaml", "../examples/multi/*.yaml", "../testdata/manifests/*.yaml"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	if len(files) < 50 {
		t.Fatalf("only %d manifests found", len(files))
	}
	stricter := 0
	for _, f := range files {
		schemaOK := schemaAlone(t, f)
		run := []string{f}
		if strings.Contains(f, "/multi/") {
			run, _ = filepath.Glob("../examples/multi/*.yaml")
		}
		m, probs := Load(run)
		loadOK := m != nil
		example := strings.HasPrefix(f, "../examples/")
		switch {
		case example && (!schemaOK || !loadOK):
			t.Errorf("%s: example: schema alone %v, validate %v; want both valid\n%v", f, schemaOK, loadOK, probs)
		case !schemaOK && loadOK:
			t.Errorf("%s: the schema refuses it, validate accepts it", f)
		case schemaOK && !loadOK:
			stricter++ // a domain rule, a duplicate name, an alias, ...
		}
	}
	t.Logf("%d files; %d refused by validate's domain rules only", len(files), stricter)
}

// TestNumberFormsAgree: for every YAML number form of expiresIn, the
// published schema alone (after YAML 1.2) and Load agree on valid or not, and
// a valid one is the integer the schema saw. (Reported: 1e3, 3600.0 and
// 9223372036854775808 passed both but the loader dropped them; 1_800 and 0b1
// were accepted where YAML 1.2 tools refuse them; %YAML 1.2 was refused.)
func TestNumberFormsAgree(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		form  string
		value int // 0: invalid
	}{
		{"1800", 1800}, {"3600", 3600}, {"+1800", 1800}, {"0o3410", 1800}, {"0x708", 1800}, {"012", 12},
		{"1800.0", 1800}, {"3600.0", 3600}, {"1e3", 1000}, {"1.8e3", 1800}, {"1.8E+3", 1800}, {"2147483647", 2147483647},
		{"1_800", 0}, {"0b1", 0}, {"-0x708", 0}, {"1_8.0e2", 0}, {"0", 0}, {"-5", 0}, {"1800.5", 0}, {"2147483648", 0},
		{"9223372036854775808", 0}, {"1e400", 0}, {".inf", 0}, {".nan", 0}, {`"1800"`, 0}, {"'1800'", 0},
		{"!!str 1800", 0}, {"null", 0}, {"true", 0}, {"1800s", 0},
	} {
		for _, header := range []string{"", "%YAML 1.2\n---\n"} {
			path := filepath.Join(dir, "m.yaml")
			text := header + `version: 1
set: acme
target:
  platform: cloud-elements
  credentials: {user: {env: U}, organization: {env: O}}
accounts:
  - name: a
    element: hubspotcrm
    auth:
      type: oauth2Tokens
      clientId: app
      clientSecret: {env: S}
      callbackURL: https://app.example.com/cb
      accessToken: {env: A}
      refreshToken: {env: R}
      expiresIn: ` + tc.form + "\n"
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("%q", header+tc.form)
			schemaOK := schemaAlone(t, path)
			m, probs := Load([]string{path})
			if schemaOK != (tc.value != 0) {
				t.Errorf("%s: schema alone says valid=%v, want %v", name, schemaOK, tc.value != 0)
			}
			if (m != nil) != schemaOK {
				t.Errorf("%s: schema alone valid=%v, validate valid=%v\n%v", name, schemaOK, m != nil, probs)
				continue
			}
			if m == nil {
				continue
			}
			if got := m.Accounts[0].Auth.ExpiresIn; got != tc.value {
				t.Errorf("%s: expiresIn %d, want %d", name, got, tc.value)
			}
			warned := false
			for _, p := range probs {
				warned = warned || strings.Contains(p.Message, "longer than HubSpot's 1800-second")
			}
			if warned != (tc.value > 1800) {
				t.Errorf("%s: >1800 warning %v, want %v", name, warned, tc.value > 1800)
			}
		}
	}
}

// TestYAML12Scalars: configuration values and other scalars read as YAML 1.2
// says: 012 is twelve, 1_000 and 0b1 are strings, yes is a string.
func TestYAML12Scalars(t *testing.T) {
	c := &converter{file: "m.yaml"}
	for form, want := range map[string]any{
		"012": int64(12), "0777": int64(777), "0o17": int64(15), "0x1F": int64(31), "+12": int64(12), "-7": int64(-7),
		"1_000": "1_000", "0b101": "0b101", "-0x1F": "-0x1F", "1_0.5": "1_0.5", "yes": "yes", "on": "on",
		"1.5": 1.5, "1.": 1.0, ".5": 0.5, "-1e-2": -0.01, "True": true, "~": nil, "9223372036854775808": 9223372036854775808.0,
	} {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte("v: "+form), &n); err != nil {
			t.Fatal(err)
		}
		got := c.value(n.Content[0].Content[1], 1)
		if fmt.Sprintf("%T %v", got, got) != fmt.Sprintf("%T %v", want, want) {
			t.Errorf("%s: %T %v, want %T %v", form, got, got, want, want)
		}
	}
	if len(c.probs) > 0 {
		t.Errorf("problems: %v", c.probs)
	}
}
