package manifest

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/manifests")

// formatProblems renders problems as validate's text format does.
func formatProblems(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.String() + "\n")
		if p.Hint != "" {
			b.WriteString("    hint: " + p.Hint + "\n")
		}
	}
	return b.String()
}

// testGetenv is the environment of the resolve-* cases: every variable is set
// except those named HUBPROV_TEST_UNSET_*.
func testGetenv(name string) string {
	if strings.HasPrefix(name, "HUBPROV_TEST_UNSET_") {
		return ""
	}
	return "planted-env-secret-" + name
}

// goldenCases lists the cases of testdata/manifests: each *.yaml file and each folder.
func goldenCases(t *testing.T) []string {
	ents, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		switch {
		case e.IsDir() && e.Name() != "secrets":
			out = append(out, e.Name())
		case strings.HasSuffix(e.Name(), ".yaml"):
			out = append(out, e.Name())
		}
	}
	return out
}

// TestGolden loads every invalid manifest of testdata/manifests and compares
// its problems with the golden file beside it (go test -update rewrites them).
func TestGolden(t *testing.T) {
	t.Chdir("../testdata/manifests")
	if err := os.Chmod("secrets/open.token", 0o644); err != nil {
		t.Fatal(err)
	}
	cases := goldenCases(t)
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c, func(t *testing.T) {
			m, probs := Load([]string{c})
			if m != nil && strings.HasPrefix(c, "resolve-") {
				probs = append(probs, m.Resolve(testGetenv, "")...)
			}
			if !HasErrors(probs) {
				t.Errorf("no error: %s", formatProblems(probs))
			}
			got := formatProblems(probs)
			if strings.Contains(got, "planted") {
				t.Errorf("a secret value leaked into the diagnostics:\n%s", got)
			}
			for _, p := range probs {
				if p.Pos.File == "" || p.Pos.Line < 1 || p.Pos.Col < 1 {
					if c != "empty-folder" {
						t.Errorf("problem without a full position: %#v", p)
					}
				}
			}
			golden := strings.TrimSuffix(c, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./manifest -run TestGolden -update)", err)
			}
			if got != string(want) {
				t.Errorf("diagnostics differ from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// TestGoldenFilesHaveCases catches a golden file left behind by a removed case.
func TestGoldenFilesHaveCases(t *testing.T) {
	goldens, _ := filepath.Glob("../testdata/manifests/*.golden")
	for _, g := range goldens {
		base := strings.TrimSuffix(g, ".golden")
		if _, err := os.Stat(base + ".yaml"); err == nil {
			continue
		}
		if st, err := os.Stat(base); err == nil && st.IsDir() {
			continue
		}
		t.Errorf("%s has no case", g)
	}
	if len(goldens) < 40 {
		t.Errorf("only %d golden files", len(goldens))
	}
	_ = fmt.Sprint
}
