package manifest

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to Load: it must never panic, every problem
// must have a position, and the parallel per-item parse must agree with the
// whole-file parse (a leading BOM turns the fast path off).
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("../testdata/manifests/*.yaml")
	ex, _ := filepath.Glob("../examples/*.yaml")
	for _, s := range append(seeds, ex...) {
		if b, err := os.ReadFile(s); err == nil && len(b) < 4096 {
			f.Add(b)
		}
	}
	f.Add([]byte("version: 1\naccounts:\n- name: a\n- name: b\nset: x\n"))
	f.Add([]byte("accounts:\n  - \"a\n  - b\"\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "m.yaml")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		m1, p1 := Load([]string{p})
		for _, pr := range p1 {
			if pr.Pos.File != p || pr.Pos.Line < 1 || pr.Pos.Col < 1 {
				t.Fatalf("problem without a position: %#v", pr)
			}
		}
		if (m1 == nil) != HasErrors(p1) {
			t.Fatalf("manifest %v with problems %v", m1 != nil, p1)
		}
		if splitAccounts(data) == nil {
			return
		}
		if err := os.WriteFile(p, append([]byte("\xef\xbb\xbf"), data...), 0o600); err != nil {
			t.Fatal(err)
		}
		m2, p2 := Load([]string{p})
		if !reflect.DeepEqual(p1, p2) {
			t.Fatalf("fast path and whole parse disagree:\n%s---\n%s", formatProblems(p1), formatProblems(p2))
		}
		if m1 != nil && !reflect.DeepEqual(normalize(m1).Accounts, normalize(m2).Accounts) {
			t.Fatal("accounts differ")
		}
	})
}
