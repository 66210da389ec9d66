package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// badInputs returns the inputs every reader must refuse at once, unread: a
// device that never ends, a FIFO without a writer (opening it for reading
// used to block for good), a folder, and a sparse file over every limit.
func badInputs(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty-folder")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(300 << 20); err != nil { // sparse: no disk, over the 64 MiB and 256 MiB limits
		t.Fatal(err)
	}
	f.Close()
	return map[string]string{"device": "/dev/zero", "fifo": fifo, "folder": empty, "oversized": big}
}

// TestBadInputFilesRefusedAtOnce reproduces 'validate -f /dev/zero' running
// out of memory and a FIFO blocking for good as -f, as a saved plan or as a
// report to merge: every command refuses each of them at once with exit 3,
// naming what is wrong, reading nothing.
func TestBadInputFilesRefusedAtOnce(t *testing.T) {
	demoCredentials(t)
	wants := map[string]string{"device": "character device", "fifo": "a FIFO", "folder": "", "oversized": "larger than"}
	for what, path := range badInputs(t) {
		for _, args := range [][]string{
			{"validate", "-f", path},
			{"plan", "-f", path},
			{"apply", path},
			{"report", "merge", path},
		} {
			t.Run(what+"/"+strings.Join(args[:len(args)-1], " "), func(t *testing.T) {
				code, out, errs := runCLI(t, args...)
				errs = out + errs // validate lists problems on stdout
				if code != exitInvalid {
					t.Fatalf("exit %d, want 3\n%s", code, errs)
				}
				want := wants[what]
				switch {
				case what == "folder" && args[0] != "apply" && args[0] != "report":
					want = "no *.yaml or *.yml file"
				case what == "folder":
					want = "a folder"
				case what == "oversized" && (args[0] == "apply" || args[0] == "report"):
					want = "file too large"
				}
				if !strings.Contains(errs, want) {
					t.Errorf("stderr does not say %q:\n%s", want, errs)
				}
			})
		}
	}
}

// TestSavedPlanNamingADevice reproduces a saved plan naming /dev/zero as its
// manifest crashing apply (out of memory): it is refused, exit 3.
func TestSavedPlanNamingADevice(t *testing.T) {
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.json")
	body := `{"version":1,"kind":"hubprov-plan","set":"s","platform":"cloud-elements","baseURL":"https://x",` +
		`"manifests":[{"path":"/dev/zero","sha256":"00"}],"summary":{},"changes":[]}`
	if err := os.WriteFile(plan, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCLI(t, "apply", plan)
	if code != exitInvalid || !strings.Contains(errs, "/dev/zero") || !strings.Contains(errs, "not a regular file") {
		t.Fatalf("exit %d, want 3 naming /dev/zero as not a regular file\n%s", code, errs)
	}
}

// secretManifest writes, in a folder of its own, a manifest whose apiKey is
// {file: ref}, and returns its path.
func secretManifest(t *testing.T, dir, ref string) string {
	t.Helper()
	text := "version: 1\nset: s\ntarget:\n  platform: cloud-elements\n  baseURL: http://127.0.0.1:1/elements/api-v2\n" +
		"  credentials:\n    user: {env: HUBPROV_TEST_USER}\n    organization: {env: HUBPROV_TEST_ORG}\n" +
		"accounts:\n  - name: a\n    element: hubspot\n    auth: {type: apiKey, apiKey: {file: " + ref + "}}\n"
	m := filepath.Join(dir, "m.yaml")
	if err := os.WriteFile(m, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSecretFilesConfined reproduces a '{file: ../../etc/shadow}' reference
// being read (with a hint to chmod it): a secret file outside the manifest's
// folder, by a relative path, an absolute one or a symbolic link, is refused
// unread (exit 3) by validate --resolve-secrets and plan, with no chmod hint;
// under --secrets-dir it is accepted; the mode rule holds.
func TestSecretFilesConfined(t *testing.T) {
	demoCredentials(t)
	root := t.TempDir()
	outside := filepath.Join(root, "outside")
	repo := filepath.Join(root, "repo", "manifests")
	for _, d := range []string{outside, repo} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(outside, "key")
	if err := os.WriteFile(secret, []byte("Zq9w-outside-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(repo, "link")); err != nil {
		t.Fatal(err)
	}
	for name, ref := range map[string]string{"relative": "../../outside/key", "absolute": secret, "link": "link"} {
		m := secretManifest(t, repo, ref)
		for _, args := range [][]string{{"validate", "--resolve-secrets", "-f", m}, {"plan", "-f", m}} {
			t.Run(name+"/"+args[0], func(t *testing.T) {
				code, out, errs := runCLI(t, args...)
				if code != exitInvalid || !strings.Contains(out+errs, "outside the folders secret files may come from") {
					t.Errorf("exit %d, want 3 refusing the file\n%s%s", code, out, errs)
				}
				if strings.Contains(out+errs, "chmod") {
					t.Errorf("a chmod hint for a file outside the tree:\n%s%s", out, errs)
				}
			})
		}
	}
	// Under --secrets-dir the absolute path is accepted (validate only: plan would send).
	m := secretManifest(t, repo, secret)
	if code, out, errs := runCLI(t, "validate", "--resolve-secrets", "--secrets-dir", outside, "-f", m); code != exitOK {
		t.Errorf("under --secrets-dir: exit %d\n%s%s", code, out, errs)
	}
	// A file inside the tree: 0644 refused (others may read it) with a chmod hint for it.
	inside := filepath.Join(repo, "key")
	if err := os.WriteFile(inside, []byte("v-inside"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(inside, 0o644)
	m = secretManifest(t, repo, "key")
	code, out, errs := runCLI(t, "validate", "--resolve-secrets", "-f", m)
	if code != exitInvalid || !strings.Contains(out, "too open") || !strings.Contains(out, "chmod 600") {
		t.Errorf("0644: exit %d, want 3 with a chmod hint\n%s%s", code, out, errs)
	}
	// Group-readable (0440) is accepted when root owns the file, as in a
	// Kubernetes Secret volume with fsGroup.
	os.Chmod(inside, 0o440)
	code, out, errs = runCLI(t, "validate", "--resolve-secrets", "-f", m)
	if os.Getuid() == 0 {
		if code != exitOK {
			t.Errorf("root-owned 0440: exit %d\n%s%s", code, out, errs)
		}
	} else if code != exitInvalid {
		t.Errorf("0440 not owned by root: exit %d, want 3", code)
	}
}
