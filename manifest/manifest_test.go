package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hubprov/hubprov/schema"
	"gopkg.in/yaml.v3"
)

// exampleRuns are the runs of examples/: each top-level file, and multi/.
func exampleRuns(t *testing.T) [][]string {
	files, _ := filepath.Glob("../examples/*.yaml")
	if len(files) < 4 {
		t.Fatalf("examples: %v", files)
	}
	var runs [][]string
	for _, f := range files {
		runs = append(runs, []string{f})
	}
	return append(runs, []string{"../examples/multi/"})
}

// TestExamples loads every example with no error, and checks each one a second,
// independent way: the typed manifest, written back as one plain manifest
// without defaults, validates against the whole schema in one call and loads
// again to equal typed values.
func TestExamples(t *testing.T) {
	for _, run := range exampleRuns(t) {
		t.Run(filepath.Base(run[0]), func(t *testing.T) {
			m, probs := Load(run)
			if HasErrors(probs) || m == nil {
				t.Fatalf("problems:\n%s", formatProblems(probs))
			}
			for _, f := range run {
				b, _ := os.ReadFile(f)
				if st, err := os.Stat(f); err == nil && !st.IsDir() && !bytes.HasPrefix(b, []byte("# yaml-language-server: $schema=")) {
					t.Errorf("%s does not start with the yaml-language-server comment", f)
				}
			}
			text := render(m)
			var v any
			if err := yaml.Unmarshal(text, &v); err != nil {
				t.Fatal(err)
			}
			if vs, err := schema.Validate(v); err != nil || len(vs) > 0 {
				t.Fatalf("rendered manifest fails the schema: %v %v\n%s", err, vs, text)
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "m.yaml")
			if err := os.WriteFile(path, text, 0o644); err != nil {
				t.Fatal(err)
			}
			m2, probs2 := Load([]string{path})
			if m2 == nil {
				t.Fatalf("rendered manifest: %s\n%s", formatProblems(probs2), text)
			}
			if a, b := normalize(m), normalize(m2); !reflect.DeepEqual(a, b) {
				t.Errorf("round trip differs:\n%#v\n%#v", a.Accounts, b.Accounts)
			}
		})
	}
}

// render writes m as one manifest file, every account complete.
func render(m *Manifest) []byte {
	sec := func(s Secret) any {
		switch s.Source {
		case SecretEnv:
			return map[string]string{"env": s.Ref}
		case SecretFile:
			return map[string]string{"file": s.Ref}
		}
		return s.Reveal()
	}
	target := map[string]any{"platform": string(m.Target.Platform)}
	if m.Target.BaseURL != "" {
		target["baseURL"] = m.Target.BaseURL
	}
	c := m.Target.Credentials
	if m.Target.Platform == AdobeFlow {
		target["credentials"] = map[string]any{"accessToken": sec(c.AccessToken), "apiKey": sec(c.APIKey), "imsOrg": c.IMSOrg, "sandbox": c.Sandbox}
	} else {
		target["credentials"] = map[string]any{"user": sec(c.User), "organization": sec(c.Organization)}
	}
	var accounts []any
	for _, a := range m.Accounts {
		x := map[string]any{"name": a.Name}
		if a.Element != "" {
			x["element"] = a.Element
		}
		if a.Description != "" {
			x["description"] = a.Description
		}
		if len(a.Tags) > 0 {
			x["tags"] = a.Tags
		}
		if len(a.Configuration) > 0 {
			x["configuration"] = a.Configuration
		}
		au := map[string]any{"type": string(a.Auth.Type)}
		put := func(k string, s Secret) {
			if !s.IsZero() {
				au[k] = sec(s)
			}
		}
		put("apiKey", a.Auth.APIKey)
		put("clientSecret", a.Auth.ClientSecret)
		put("code", a.Auth.Code)
		put("accessToken", a.Auth.AccessToken)
		put("refreshToken", a.Auth.RefreshToken)
		if a.Auth.ClientID != "" {
			au["clientId"] = a.Auth.ClientID
		}
		if a.Auth.CallbackURL != "" {
			au["callbackURL"] = a.Auth.CallbackURL
		}
		if len(a.Auth.Scopes) > 0 {
			au["scopes"] = a.Auth.Scopes
		}
		if a.Auth.ExpiresIn != 0 {
			au["expiresIn"] = a.Auth.ExpiresIn
		}
		x["auth"] = au
		accounts = append(accounts, x)
	}
	b, err := yaml.Marshal(map[string]any{"version": 1, "set": m.Set, "target": target, "accounts": accounts})
	if err != nil {
		panic(err)
	}
	return b
}

// normalize drops positions and files, which a round trip changes.
func normalize(m *Manifest) *Manifest {
	c := *m
	c.Files = nil
	c.Target.Pos = Pos{}
	c.Accounts = append([]Account(nil), m.Accounts...)
	cc := &c.Target.Credentials
	for _, s := range []*Secret{&cc.User, &cc.Organization, &cc.AccessToken, &cc.APIKey} {
		s.Pos = Pos{}
	}
	for i := range c.Accounts {
		a := &c.Accounts[i]
		a.Pos = Pos{}
		for _, s := range []*Secret{&a.Auth.APIKey, &a.Auth.ClientSecret, &a.Auth.Code, &a.Auth.AccessToken, &a.Auth.RefreshToken} {
			s.Pos = Pos{}
		}
		if a.Configuration != nil {
			// yaml.Marshal of int64 and back gives int64 again; bools and strings are stable.
			b, _ := json.Marshal(a.Configuration)
			var cfg map[string]any
			_ = json.Unmarshal(b, &cfg)
			a.Configuration = cfg
		}
	}
	return &c
}

// TestQuickstart checks what the demo needs from examples/quickstart.yaml.
func TestQuickstart(t *testing.T) {
	m, _ := Load([]string{"../examples/quickstart.yaml"})
	if m == nil {
		t.Fatal("invalid")
	}
	if m.Target.Platform != CloudElements || m.Target.BaseURL != "" {
		t.Errorf("target %v %q", m.Target.Platform, m.Target.BaseURL)
	}
	if m.Target.Credentials.User.Reveal() != "demo-user" || m.Target.Credentials.Organization.Reveal() != "demo-org" {
		t.Error("credentials are not the emulator's demo-user / demo-org")
	}
	types := map[AuthType]int{}
	elements := map[string]int{}
	noCode := 0
	for _, a := range m.Accounts {
		types[a.Auth.Type]++
		elements[a.Element]++
		if a.Auth.Type == AuthOAuth2 && a.Auth.Code.IsZero() {
			noCode++
		}
	}
	if len(types) != 3 || len(elements) != 2 || noCode < 2 || len(m.Accounts) < 10 {
		t.Errorf("types %v elements %v oauth2 without code %d accounts %d", types, elements, noCode, len(m.Accounts))
	}
}

// TestNoSecretInDiagnostics plants secret values in every secret field, valid
// and invalid, and checks no diagnostic shows one.
func TestNoSecretInDiagnostics(t *testing.T) {
	dir := t.TempDir()
	text := `version: 1
set: leak
target:
  platform: open-connectors
  baseURL: http://planted-host-secret.example.com/x
  credentials:
    user: planted-user-secret
    organization: [planted-org-secret]
accounts:
  - name: a
    element: hubspotcrm
    auth:
      type: oauth2Tokens
      clientId: x
      clientSecret: {env: planted-env-name-secret}
      callbackURL: https://a.example.com
      accessToken: {file: 123}
      refreshToken: planted-refresh-secret
      expiresIn: planted-expires-secret
  - name: b
    element: hubspot
    auth:
      type: apiKey
      apiKey: {env: OK, planted: planted-key-secret}
  - name: c
    element: hubspot
    auth:
      type: planted-type-secret
      apiKey: planted-apikey-secret
  - name: d
    element: hubspot
    auth:
      type: oauth2
      clientId: x
      clientSecret: planted-literal-secret
      callbackURL: https://a.example.com
      scopes: [content]
      code: planted-code-secret
`
	path := filepath.Join(dir, "m.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	_, probs := Load([]string{path})
	if len(probs) < 6 {
		t.Fatalf("too few problems:\n%s", formatProblems(probs))
	}
	out := formatProblems(probs)
	b, _ := json.Marshal(probs)
	for _, s := range []string{out, string(b), fmt.Sprintf("%v %+v %#v", probs, probs, probs)} {
		for _, w := range []string{"planted-user", "planted-org", "planted-refresh", "planted-literal", "planted-code", "planted-apikey", "planted-key-secret"} {
			if strings.Contains(s, w) {
				t.Errorf("%s leaked:\n%s", w, s)
			}
		}
	}

	// A valid manifest: the resolved values must not print either.
	good := strings.Join([]string{"version: 1", "set: leak", "target:", "  platform: cloud-elements", "  credentials:",
		"    user: {env: U}", "    organization: {file: org.txt}", "accounts: []", ""}, "\n")
	if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "org.txt"), []byte("planted-org-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m, probs := Load([]string{path})
	if m == nil {
		t.Fatal(formatProblems(probs))
	}
	if ps := m.Resolve(func(string) string { return "planted-env-value" }, ""); len(ps) > 0 {
		t.Fatal(formatProblems(ps))
	}
	if got := m.Target.Credentials.Organization.Reveal(); got != "planted-org-file" {
		t.Errorf("file secret %q: one trailing newline should be trimmed", got)
	}
	if got := m.Target.Credentials.User.Reveal(); got != "planted-env-value" {
		t.Errorf("env secret %q", got)
	}
	j, _ := json.Marshal(m)
	for _, s := range []string{fmt.Sprintf("%v %+v %#v %s", m, m, m, m.Target.Credentials.User), string(j)} {
		if strings.Contains(s, "planted") {
			t.Errorf("a resolved secret printed: %s", s)
		}
	}
}

// TestResolveEveryProblemAtOnce checks Resolve reports all references, in order.
func TestResolveEveryProblemAtOnce(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "s"), 0o700)
	os.WriteFile(filepath.Join(dir, "s", "open"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "s", "empty"), nil, 0o600)
	os.WriteFile(filepath.Join(dir, "s", "ok"), []byte("v\r\n"), 0o600)
	text := `version: 1
set: r
target:
  platform: cloud-elements
  credentials:
    user: {env: MISSING_A}
    organization: {file: s/open}
accounts:
  - name: a
    element: hubspot
    auth:
      type: apiKey
      apiKey: {file: s/empty}
  - name: b
    element: hubspot
    auth:
      type: apiKey
      apiKey: {file: s/ok}
  - name: c
    element: hubspot
    auth:
      type: apiKey
      apiKey: {file: s/nope}
`
	path := filepath.Join(dir, "m.yaml")
	os.WriteFile(path, []byte(text), 0o644)
	m, probs := Load([]string{path})
	if m == nil {
		t.Fatal(formatProblems(probs))
	}
	ps := m.Resolve(func(string) string { return "" }, "")
	var lines []int
	for _, p := range ps {
		lines = append(lines, p.Pos.Line)
	}
	if !reflect.DeepEqual(lines, []int{6, 7, 13, 23}) {
		t.Errorf("lines %v\n%s", lines, formatProblems(ps))
	}
	if m.Accounts[1].Auth.APIKey.Reveal() != "v" {
		t.Errorf("CRLF not trimmed: %q", m.Accounts[1].Auth.APIKey.Reveal())
	}
}

// TestBounds checks the file-size and account-count bounds with generated input.
func TestBounds(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("version: 1\nset: big\n# ")
	f.Truncate(MaxFileSize + 1)
	f.Close()
	_, probs := Load([]string{big})
	if len(probs) != 1 || !strings.Contains(probs[0].String(), "big.yaml:1:1: error: file is larger than 64 MiB") {
		t.Errorf("huge file: %s", formatProblems(probs))
	}

	if testing.Short() {
		return
	}
	var b strings.Builder
	b.WriteString("version: 1\nset: many\ntarget:\n  platform: cloud-elements\n  credentials: {user: a, organization: b}\naccounts:\n")
	for i := range MaxAccounts + 1 {
		fmt.Fprintf(&b, "  - {name: a%d}\n", i)
	}
	many := filepath.Join(dir, "many.yaml")
	os.WriteFile(many, []byte(b.String()), 0o644)
	_, probs = Load([]string{many})
	if !HasErrors(probs) || !strings.Contains(formatProblems(probs), "many.yaml:6:1: error: the run has more than 200000 accounts") {
		t.Errorf("too many accounts: %s", formatProblems(probs))
	}
}

// TestFastPathMatchesWholeParse checks that the parallel per-item parse gives
// the same result as parsing the whole file, on every example and test case.
func TestFastPathMatchesWholeParse(t *testing.T) {
	files, _ := filepath.Glob("../testdata/manifests/*.yaml")
	ex, _ := filepath.Glob("../examples/*.yaml")
	files = append(files, ex...)
	for _, f := range files {
		data, _ := os.ReadFile(f)
		// Hide the split: a flow-style comment line at column 0 after accounts
		// changes nothing for YAML but makes splitAccounts give up? No: prefix a
		// BOM, which YAML ignores and splitAccounts refuses.
		whole := append([]byte("\xef\xbb\xbf"), data...)
		if splitAccounts(whole) != nil {
			t.Fatalf("%s: BOM should disable the fast path", f)
		}
		dir := t.TempDir()
		p := filepath.Join(dir, filepath.Base(f))
		os.WriteFile(p, data, 0o644)
		m1, p1 := Load([]string{p})
		os.WriteFile(p, whole, 0o644)
		m2, p2 := Load([]string{p})
		if formatProblems(p1) != formatProblems(p2) {
			t.Errorf("%s: problems differ\nfast:\n%s\nwhole:\n%s", f, formatProblems(p1), formatProblems(p2))
		}
		if (m1 == nil) != (m2 == nil) {
			t.Errorf("%s: one load failed", f)
			continue
		}
		if m1 != nil && !reflect.DeepEqual(normalize(m1).Accounts, normalize(m2).Accounts) {
			t.Errorf("%s: accounts differ", f)
		}
	}
}
