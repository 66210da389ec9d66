package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubprov/hubprov/schema"
)

// runCLI runs hubprov with args and returns its exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	before := snapshotOutputs(args)
	code := run(context.Background(), args, strings.NewReader(""), &out, &errb)
	checkOutputs(t, args, before, code, out.String())
	return code, out.String(), errb.String()
}

// TestValidateExamples: README's "hubprov validate -f examples/" and "-f examples/multi/" exit 0.
func TestValidateExamples(t *testing.T) {
	for _, dir := range []string{"examples/", "examples/multi/"} {
		code, out, errs := runCLI(t, "validate", "-f", dir)
		if code != exitOK {
			t.Errorf("validate -f %s: exit %d\n%s%s", dir, code, out, errs)
		}
		if !strings.HasPrefix(errs, "valid: ") {
			t.Errorf("validate -f %s: summary %q", dir, errs)
		}
	}
	// --strict turns the quickstart's warnings into errors.
	if code, _, _ := runCLI(t, "validate", "--strict", "-f", "examples/quickstart.yaml"); code != exitInvalid {
		t.Errorf("--strict: exit %d", code)
	}
}

// TestValidateGolden runs every case of testdata/manifests through the command:
// exit 3 and exactly the golden text on stdout.
func TestValidateGolden(t *testing.T) {
	t.Chdir("testdata/manifests")
	if err := os.Chmod("secrets/open.token", 0o644); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"CE_USER", "CE_ORG", "APP_SECRET", "ACCESS", "REFRESH"} {
		t.Setenv(v, "planted-env-secret-"+v)
	}
	ents, _ := os.ReadDir(".")
	n := 0
	for _, e := range ents {
		name := e.Name()
		if !(e.IsDir() && name != "secrets") && !strings.HasSuffix(name, ".yaml") {
			continue
		}
		n++
		args := []string{"validate", "-f", name}
		if strings.HasPrefix(name, "resolve-") {
			args = append(args, "--resolve-secrets")
		}
		code, out, errs := runCLI(t, args...)
		want, err := os.ReadFile(strings.TrimSuffix(name, ".yaml") + ".golden")
		if err != nil {
			t.Fatal(err)
		}
		if code != exitInvalid {
			t.Errorf("%s: exit %d, want 3", name, code)
		}
		if out != string(want) {
			t.Errorf("%s: stdout\n%s\nwant\n%s", name, out, want)
		}
		if !strings.HasPrefix(errs, "invalid: ") || strings.Contains(out+errs, "planted") {
			t.Errorf("%s: stderr %q", name, errs)
		}
	}
	if n < 40 {
		t.Errorf("only %d cases", n)
	}
}

// TestValidateHelp: --help explains every flag and exits 0.
func TestValidateHelp(t *testing.T) {
	code, out, _ := runCLI(t, "validate", "--help")
	for _, f := range []string{"-f", "-format", "-resolve-secrets", "-strict"} {
		if !strings.Contains(out, f) {
			t.Errorf("--help lacks %s:\n%s", f, out)
		}
	}
	if code != exitOK {
		t.Errorf("exit %d", code)
	}
}

// TestSchemaCommand prints the embedded schema.
func TestSchemaCommand(t *testing.T) {
	code, out, _ := runCLI(t, "schema")
	if code != exitOK || out != string(schema.JSON()) {
		t.Fatalf("exit %d", code)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil || v["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("not the 2020-12 schema: %v", err)
	}
}

// TestValidateOutputSorted: the problems of loading and of resolving secrets
// come out as one list sorted by file, line and column.
func TestValidateOutputSorted(t *testing.T) {
	dir := t.TempDir()
	m := filepath.Join(dir, "m.yaml")
	// A warning at line 11 (API key), an unset variable at line 6.
	if err := os.WriteFile(m, []byte(`version: 1
set: demo
target:
  platform: cloud-elements
  credentials:
    user: {env: HUBPROV_TEST_UNSET_USER}
    organization: demo-org
accounts:
  - name: acme
    element: hubspotcrm
    auth: {type: apiKey, apiKey: {env: HUBPROV_TEST_UNSET_KEY}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, "validate", "--resolve-secrets", "--format", "json", "-f", m)
	if code != exitInvalid {
		t.Fatalf("exit %d\n%s", code, out)
	}
	var probs []jsonProblem
	if err := json.Unmarshal([]byte(out), &probs); err != nil {
		t.Fatal(err)
	}
	if len(probs) != 4 || probs[0].Line != 6 || probs[3].Line != 11 {
		t.Fatalf("%d problems, want 4 from line 6 to 11: %+v", len(probs), probs)
	}
	for i := 1; i < len(probs); i++ {
		a, b := probs[i-1], probs[i]
		if a.Line > b.Line || (a.Line == b.Line && a.Column > b.Column) {
			t.Errorf("not sorted: %d:%d before %d:%d", a.Line, a.Column, b.Line, b.Column)
		}
	}
}
