package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hubprov/hubprov/provision/emulator"
)

// TestTopLevelUsage: 'hubprov' alone is a usage error listing every command;
// 'hubprov --help' the same on stdout, exit 0; both list the exit codes.
func TestTopLevelUsage(t *testing.T) {
	code, out, errs := runCLI(t)
	if code != exitInvalid || out != "" {
		t.Fatalf("no arguments: exit %d, stdout %q", code, out)
	}
	code, help, _ := runCLI(t, "--help")
	if code != exitOK || help != errs {
		t.Fatalf("--help: exit %d, and not the usage of a bare 'hubprov':\n%s\n---\n%s", code, help, errs)
	}
	for _, c := range commands {
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(c.name) + ` +\S`).MatchString(help) {
			t.Errorf("usage does not list %s", c.name)
		}
	}
	for _, code := range []string{"0", "1", "2", "3", "4", "130", "143"} {
		if !regexp.MustCompile(`(?m)^  ` + code + ` +\S`).MatchString(help) {
			t.Errorf("usage does not explain exit code %s", code)
		}
	}
}

// TestCommandHelps: every command's --help lists its flags with two dashes
// (the one-letter -f with one) and ends with the exit codes.
func TestCommandHelps(t *testing.T) {
	oneDash := regexp.MustCompile(`(?m)^  -[a-z]{2,}`)
	for _, c := range commands {
		args := []string{c.name, "--help"}
		if c.name == "report" {
			args = []string{"report", "merge", "--help"}
		}
		code, out, errs := runCLI(t, args...)
		if code != exitOK || errs != "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
			continue
		}
		if oneDash.MatchString(out) {
			t.Errorf("%v lists a flag with one dash:\n%s", args, out)
		}
		if c.name != "version" && c.name != "schema" && c.name != "completion" && !strings.Contains(out, "\n  --") {
			t.Errorf("%v lists no --flag:\n%s", args, out)
		}
		if !strings.Contains(out, "\nExit codes:\n") || !strings.Contains(out, "  143  interrupted by SIGTERM") {
			t.Errorf("%v lists no exit codes:\n%s", args, out)
		}
	}
}

// TestDidYouMean: a mistyped command or flag names the right one; a
// duration without a unit is shown with one.
func TestDidYouMean(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"aply"}, "hint: did you mean 'hubprov apply'?"},
		{[]string{"valdate", "-f", "x"}, "hint: did you mean 'hubprov validate'?"},
		{[]string{"apply", "--paralelism", "4"}, "hubprov apply: unknown flag --paralelism\nhint: did you mean --parallelism?"},
		{[]string{"plan", "--detailed-exit-code"}, "did you mean --detailed-exitcode?"},
		{[]string{"apply", "-f", "m.yaml", "--request-timeout", "5"}, "hint: a duration takes a unit: --request-timeout 5s"},
		{[]string{"apply", "--lock-timeout", "soon"}, "hint: a duration is a number and a unit"},
		{[]string{"completion", "bsh"}, "hint: did you mean bash?"},
	} {
		code, _, errs := runCLI(t, c.args...)
		if code != exitInvalid || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr lacks %q:\n%s", c.args, code, c.want, errs)
		}
	}
}

// TestCompletionScripts: each shell gets a script naming every command; bash
// parses it (bash -n) and completes a command and a flag with it.
func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, out, errs := runCLI(t, "completion", shell)
		if code != exitOK || errs != "" {
			t.Fatalf("completion %s: exit %d\n%s", shell, code, errs)
		}
		for _, c := range commands {
			if !strings.Contains(out, c.name) {
				t.Errorf("completion %s: no %s", shell, c.name)
			}
		}
		if !strings.Contains(out, "parallelism") {
			t.Errorf("completion %s: no flags", shell)
		}
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	_, script, _ := runCLI(t, "completion", "bash")
	path := filepath.Join(t.TempDir(), "hubprov.bash")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bash, "-n", path).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	out, err := exec.Command(bash, "-c", `source "$1"
COMP_WORDS=(hubprov ap); COMP_CWORD=1; _hubprov; echo "${COMPREPLY[*]}"
COMP_WORDS=(hubprov apply --paral); COMP_CWORD=2; _hubprov; echo "${COMPREPLY[*]}"
COMP_WORDS=(hubprov completion ''); COMP_CWORD=2; _hubprov; echo "${COMPREPLY[*]}"`, "bash", path).CombinedOutput()
	if err != nil || string(out) != "apply\n--parallelism\nbash zsh fish\n" {
		t.Fatalf("bash completion: %v\n%q", err, out)
	}
}

// TestQuiet: apply --quiet and destroy --quiet print nothing on stdout, and
// still write the report.
func TestQuiet(t *testing.T) {
	demoCredentials(t)
	ee := newEngineEnv(t, emulator.Options{})
	m := ee.writeManifest(5, nil)
	report := filepath.Join(ee.dir, "r.json")
	for _, cmd := range []string{"apply", "destroy"} {
		code, out, errs := runCLI(t, cmd, "-f", m, "--report", report, "--quiet")
		if code != exitOK || out != "" {
			t.Fatalf("%s --quiet: exit %d, stdout %q\n%s", cmd, code, out, errs)
		}
		if rep := readReport(t, report); rep.Run.Command != cmd || rep.Summary.Total != 5 {
			t.Fatalf("%s --quiet: report %+v", cmd, rep.Summary)
		}
	}
}
