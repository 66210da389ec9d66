package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hubprov/hubprov/provision/emulator"
)

// jsonLines checks that every line of stderr is one JSON object and returns them.
func jsonLines(t *testing.T, what, stderr string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
		if line == "" {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Errorf("%s: a stderr line is not JSON: %q", what, line)
			continue
		}
		out = append(out, ev)
	}
	if len(out) == 0 {
		t.Errorf("%s: nothing on stderr", what)
	}
	return out
}

// lastError is the last event with level error: why the command exited.
func lastError(evs []map[string]any) map[string]any {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i]["level"] == "error" {
			return evs[i]
		}
	}
	return nil
}

// TestJSONLogsEveryLine: with --log-format json every stderr line is JSON,
// the final error included, with its exit code and hint as fields.
func TestJSONLogsEveryLine(t *testing.T) {
	demoCredentials(t)
	ee := newEngineEnv(t, emulator.Options{})
	good := ee.writeManifest(4, nil)
	report := filepath.Join(ee.dir, "r.json")
	bad := filepath.Join(ee.dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\nset: acme\ntarget: {platform: nowhere}\naccounts: []\ncolour: blue\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unreachable := filepath.Join(ee.dir, "unreachable.yaml")
	data, _ := os.ReadFile(good)
	if err := os.WriteFile(unreachable, []byte(strings.Replace(string(data), ee.ceURL, "http://127.0.0.1:1/elements/api-v2", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(ee.dir, "plan.json")
	if code, _, errs := runCLI(t, "plan", "-f", good, "--out", plan); code != exitOK {
		t.Fatalf("plan --out: %d %s", code, errs)
	}
	if err := os.WriteFile(good, append(data, "# edited\n"...), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		code int
		hint string
		args []string
		env  []string
	}{
		{"invalid manifest", exitInvalid, "hubprov validate", []string{"apply", "-f", bad, "--report", report}, nil},
		{"validate", exitInvalid, "", []string{"validate", "-f", bad}, nil},
		{"rejected credentials", exitAborted, "HUBPROV_TEST_USER", []string{"apply", "-f", good, "--report", report}, []string{"HUBPROV_TEST_USER", "wrong"}},
		{"unreachable", exitAborted, "target.baseURL", []string{"apply", "-f", unreachable, "--report", report, "--max-attempts", "2"}, nil},
		{"saved plan refused", exitInvalid, "plan again", []string{"apply", plan, "--report", report}, nil},
		{"usage", exitInvalid, "--help", []string{"apply", "--bogus"}, nil},
	} {
		if c.env != nil {
			t.Setenv(c.env[0], c.env[1])
		}
		code, _, errs := runCLI(t, append(c.args, "--log-format", "json")...)
		if c.env != nil {
			demoCredentials(t)
		}
		if code != c.code {
			t.Errorf("%s: exit %d, want %d\n%s", c.name, code, c.code, errs)
		}
		evs := jsonLines(t, c.name, errs)
		if c.hint == "" {
			continue
		}
		last := lastError(evs)
		if last == nil || last["exitCode"] != float64(c.code) || !strings.Contains(last["hint"].(string), c.hint) {
			t.Errorf("%s: last error %v, want exitCode %d and a hint with %q", c.name, last, c.code, c.hint)
		}
	}
}

// TestUnreachablePlatformExit4: connection refused is not "some accounts
// failed": exit 4, a line while retrying, a hint naming target.baseURL and,
// for a loopback host, 'hubprov emulate'.
func TestUnreachablePlatformExit4(t *testing.T) {
	demoCredentials(t)
	ee := &engineEnv{t: t, ceURL: "http://127.0.0.1:1/elements/api-v2", dir: t.TempDir()}
	m := ee.writeManifest(3, nil)
	code, _, errs := runCLI(t, "apply", "-f", m, "--report", filepath.Join(ee.dir, "r.json"), "--max-attempts", "2")
	if code != exitAborted {
		t.Fatalf("exit %d, want 4\n%s", code, errs)
	}
	for _, want := range []string{
		"the platform is unreachable: retrying in",
		"hubprov apply: the platform is unreachable: ",
		"connection refused by 127.0.0.1:1",
		"hint: check target.baseURL in the manifest (http://127.0.0.1:1/elements/api-v2)",
		"'hubprov emulate'",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if strings.Contains(errs, "dial tcp") {
		t.Errorf("a Go error chain on stderr:\n%s", errs)
	}
}

// TestSIGTERMJSONLogs: a binary stopped by SIGTERM under --log-format json
// writes only JSON lines, the last saying it was interrupted, and exits 143.
func TestSIGTERMJSONLogs(t *testing.T) {
	bin := buildBinary(t)
	ee := newEngineEnv(t, emulator.Options{Latency: 10 * time.Millisecond})
	m := ee.writeManifest(300, nil)
	var stderr strings.Builder
	cmd := exec.Command(bin, "apply", "-f", m, "--report", filepath.Join(ee.dir, "r.json"), "--log-format", "json", "--parallelism", "4")
	cmd.Env = append(os.Environ(), "HUBPROV_TEST_USER=demo-user", "HUBPROV_TEST_ORG=demo-org")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for ee.emu.Stats().Creates < 20 {
		time.Sleep(time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitSIGTERM {
		t.Fatalf("after SIGTERM: %v, want exit 143\n%s", err, stderr.String())
	}
	last := lastError(jsonLines(t, "SIGTERM", stderr.String()))
	if last == nil || last["exitCode"] != float64(exitSIGTERM) || !strings.Contains(last["error"].(string), "SIGTERM") {
		t.Errorf("last error %v", last)
	}
}
