package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubprov/hubprov/provision/emulator"
)

// TestPlantedSymlinksAreRefused reproduces a journal path that followed a
// planted symbolic link, overwriting its target and changing its mode: at the
// report, journal, lock, JUnit and saved-plan paths a link is refused (exit 3,
// nothing sent) and its target is unchanged.
func TestPlantedSymlinksAreRefused(t *testing.T) {
	demoCredentials(t)
	ee := newEngineEnv(t, emulator.Options{})
	m := ee.writeManifest(3, nil)
	target := filepath.Join(ee.dir, "precious")
	if err := os.WriteFile(target, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(ee.dir, "report.json")
	cases := []struct {
		name, link string
		args       []string
	}{
		{"report", report, []string{"apply", "-f", m, "--report", report}},
		{"journal", report + ".journal", []string{"apply", "-f", m, "--report", report}},
		{"lock", report + ".lock", []string{"apply", "-f", m, "--report", report}},
		{"junit", filepath.Join(ee.dir, "junit.xml"), []string{"apply", "-f", m, "--report", report, "--junit", filepath.Join(ee.dir, "junit.xml")}},
		{"destroy report", report, []string{"destroy", "-f", m, "--report", report}},
		{"saved plan", filepath.Join(ee.dir, "plan.json"), []string{"plan", "-f", m, "--out", filepath.Join(ee.dir, "plan.json")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.Symlink(target, tc.link); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(tc.link)
			before := ee.emu.Stats().Creates
			code, _, errs := ee.hubprov(tc.args...)
			if code != exitInvalid || !strings.Contains(errs, "symbolic link") {
				t.Errorf("exit %d, want 3 naming the symbolic link\n%s", code, errs)
			}
			if n := ee.emu.Stats().Creates; n != before {
				t.Errorf("%d instances created despite the refused path", n-before)
			}
			b, _ := os.ReadFile(target)
			st, _ := os.Stat(target)
			if string(b) != "precious" || st.Mode().Perm() != 0o644 {
				t.Errorf("the link's target changed: %q, mode %v", b, st.Mode())
			}
			if st, err := os.Lstat(tc.link); err != nil || st.Mode()&os.ModeSymlink == 0 {
				t.Errorf("the link was replaced")
			}
		})
	}
}
